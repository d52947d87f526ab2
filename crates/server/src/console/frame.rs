//! The frame every console and portal page is drawn in: the head with the one stylesheet and the
//! one small script (both embedded in the binary), the header with who is signed in, and the
//! navigation.

use jeton_store::teams::Team;
use maud::{DOCTYPE, Markup, html};

use super::words as w;

pub const CSS_PATH: &str = "/assets/console.css";
pub const JS_PATH: &str = "/assets/console.js";
pub const CSS: &str = include_str!("../../assets/console.css");
pub const JS: &str = include_str!("../../assets/console.js");

/// Who a page is drawn for: what the header shows and the sign-out form needs.
pub trait Viewer {
    fn name(&self) -> &str;
    fn csrf(&self) -> &str;
    /// The operator sees the operator's areas in the navigation.
    fn is_operator(&self) -> bool {
        false
    }
}

/// The console's areas, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Teams,
    Tokens,
    Users,
    Defaults,
    Import,
    Reports,
    Plan,
    Settings,
    OpTeams,
    OpProducts,
    OpAdmins,
    OpOutbox,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " — Jeton" }
            link rel="stylesheet" href=(CSS_PATH);
            script src=(JS_PATH) defer {}
        }
    }
}

/// A page without navigation: signing in, choosing a password, errors.
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/" { "Jeton" span { "." } } }
                main.narrow id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// A console page: the header with who is signed in, the navigation of the team (when one is
/// open) and of the operator's areas, and the content.
pub fn console_page(
    staff: &impl Viewer,
    team: Option<&Team>,
    tab: Tab,
    title: &str,
    body: Markup,
) -> Markup {
    let link = |href: String, t: Tab, label: &str| {
        html! { a href=(href) aria-current=[(t == tab).then_some("page")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { (w::SKIP) }
                header.top {
                    a.brand href="/console" { "Jeton" span { "." } }
                    @if let Some(t) = team { span.team { (t.name) } }
                    div.who {
                        span { (staff.name()) }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(staff.csrf());
                            button type="submit" { (w::SIGN_OUT) }
                        }
                    }
                }
                div.frame {
                    nav.side aria-label=(w::NAVIGATION) {
                        (link("/console".into(), Tab::Teams, w::NAV_TEAMS))
                        @if let Some(t) = team {
                            h2 { (t.name) }
                            (link(format!("/console/teams/{}/tokens", t.id), Tab::Tokens, w::NAV_TOKENS))
                            (link(format!("/console/teams/{}/users", t.id), Tab::Users, w::NAV_USERS))
                            (link(format!("/console/teams/{}/defaults", t.id), Tab::Defaults, w::NAV_DEFAULTS))
                            (link(format!("/console/teams/{}/import", t.id), Tab::Import, w::NAV_IMPORT))
                            (link(format!("/console/teams/{}/reports", t.id), Tab::Reports, w::NAV_REPORTS))
                            (link(format!("/console/teams/{}/plan", t.id), Tab::Plan, w::NAV_PLAN))
                            (link(format!("/console/teams/{}/settings", t.id), Tab::Settings, w::NAV_SETTINGS))
                        }
                        @if staff.is_operator() {
                            h2 { (w::NAV_OPERATOR) }
                            (link("/console/operator/teams".into(), Tab::OpTeams, w::NAV_OP_TEAMS))
                            (link("/console/operator/products".into(), Tab::OpProducts, w::NAV_OP_PRODUCTS))
                            (link("/console/operator/admins".into(), Tab::OpAdmins, w::NAV_OP_ADMINS))
                            (link("/console/operator/outbox".into(), Tab::OpOutbox, w::NAV_OP_OUTBOX))
                        }
                    }
                    main id="main" { h1 { (title) } (body) }
                }
            }
        }
    }
}

/// A portal page for a signed-in user.
pub fn portal_page(user: &impl Viewer, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { (w::SKIP) }
                header.top {
                    a.brand href="/portal" { "Jeton" span { "." } }
                    div.who {
                        span { (user.name()) }
                        form method="post" action="/portal/sign-out" {
                            input type="hidden" name="csrf" value=(user.csrf());
                            button type="submit" { (w::SIGN_OUT) }
                        }
                    }
                }
                main.narrow.portal id="main" { h1 { (title) } (body) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every block of the stylesheet is closed where it should be: an unclosed `@media` once
    /// put every later rule inside it, so the operator pages and the API reference were styled
    /// only on narrow screens. Browsers say nothing about that; this does.
    #[test]
    fn the_stylesheet_closes_every_block_at_the_top_level() {
        let mut depth = 0i32;
        let mut in_comment = false;
        let css = super::CSS.as_bytes();
        for (i, pair) in css.windows(2).enumerate() {
            match (in_comment, pair) {
                (false, b"/*") => in_comment = true,
                (true, b"*/") => in_comment = false,
                (false, [b'{', _]) => depth += 1,
                (false, [b'}', _]) => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0, "a `}}` closes nothing at byte {i}");
            // Only @media blocks nest, one level deep.
            assert!(depth <= 2, "blocks nest 3 deep at byte {i}");
            let line_start = i == 0 || css[i - 1] == b'\n';
            if line_start && !in_comment && depth > 0 && pair[0] != b' ' && pair[0] != b'}' {
                panic!(
                    "line {} starts a rule inside an unclosed block",
                    1 + css[..i].iter().filter(|&&c| c == b'\n').count()
                );
            }
        }
        assert_eq!(depth, 0, "the stylesheet ends inside a block");
    }
}

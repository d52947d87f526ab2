//! The operator's areas of the console: every team, the product catalogue, the team admins and
//! the outbox. Each page checks `require_operator` first, so an admin gets the API's 403 as a
//! page. Changes go through the same functions as the JSON API's handlers.

pub mod admins;
pub mod outbox;
pub mod products;
pub mod teams;

use maud::{Markup, html};

use super::words as w;

/// Page `page` of `pages`, with links built by `link`.
fn pager(page: usize, pages: usize, link: impl Fn(usize) -> String) -> Markup {
    html! {
        @if pages > 1 {
            nav.pager aria-label=(w::PAGE) {
                @if page > 1 { a href=(link(page - 1)) rel="prev" { "← " (w::PREVIOUS) } }
                span { (w::PAGE) " " (page) " / " (pages) }
                @if page < pages { a href=(link(page + 1)) rel="next" { (w::NEXT) " →" } }
            }
        }
    }
}

/// The page number asked for, within 1 to `pages`.
fn page_number(raw: Option<&str>, pages: usize) -> usize {
    raw.and_then(|p| p.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages.max(1))
}

/// A secret shown once (an API key, a password link), selectable as a whole.
fn secret_box(id: &str, label: &str, value: &str, hint: &str) -> Markup {
    html! {
        label for=(id) { (label) }
        input.secret id=(id) type="text" readonly value=(value) aria-describedby=(format!("{id}-hint"));
        p.hint id=(format!("{id}-hint")) { (hint) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_stay_within_the_pages() {
        assert_eq!(page_number(None, 3), 1);
        assert_eq!(page_number(Some("2"), 3), 2);
        assert_eq!(page_number(Some("9"), 3), 3);
        assert_eq!(page_number(Some("0"), 3), 1);
        assert_eq!(page_number(Some("x"), 3), 1);
        assert_eq!(page_number(Some("1"), 0), 1);
    }
}

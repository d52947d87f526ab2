//! `jeton users …`: a team's Flex users — assigning and inviting (R-USR-1, R-USR-2), their
//! product access (R-ACC-1, R-ACC-2), unassigning (R-USR-6) — and turning a USER argument (id or
//! email) into a user id.

use anyhow::{Result, bail};
use clap::{ArgGroup, Args, Subcommand};
use jeton_api::{
    AssignRequest, Assignment, AssignmentStatus, BatchAssignRequest, BatchEntry, FlexUser, NewUser,
    ProductSelection, SetProducts, UserAccount,
};
use serde::Serialize;

use super::account::{self, PasswordArgs};
use super::output::{self, table};
use super::teams::{self, Named};
use super::{Ctx, entitlements};

/// Most entries the server takes in one batch; more are sent in several.
const MAX_BATCH_ENTRIES: usize = 500;

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Assign people to Flex on a team: invite new ones, or add existing users
    #[command(
        after_help = "Each ENTRY is `Full Name <email>` to invite a new person (they get an \
        email with a link valid 7 days), or the email or id of an existing user (they get an \
        email naming their products). Several entries may be given as several arguments or in \
        one argument, one per line or comma-separated; each gets its own line of result, and the \
        command exits 1 when any of them failed.\n\nExamples:\n  \
        jeton users assign --team Design \"Jane Doe <jane@example.com>\" --products autocad,revit\n  \
        jeton users assign --team Design \"Jane Doe <jane@example.com>, John Roe <john@example.com>\"\n  \
        jeton users assign --team Design bob@example.com 42 --all"
    )]
    Assign(AssignArgs),
    /// List a team's Flex users with their products
    List {
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
    },
    /// Choose the products a user may open: all, a list, or none
    Products(ProductsArgs),
    /// Create a user account with a password, without an invitation (operator)
    #[command(
        after_help = "The account is on no team yet: assign it with `jeton users assign --team \
        TEAM ID`. The password comes from standard input (--password-stdin) or JETON_PASSWORD, \
        never from the command line. People are normally invited instead (`jeton users assign \
        \"Full Name <email>\"`); direct accounts are for service users and simulations.\n\n\
        Example:\n  printf %s \"$PW\" | jeton users create --email jane@example.com --name \"Jane Doe\" --password-stdin"
    )]
    Create(CreateArgs),
    /// Sign a user out everywhere: every token of theirs stops working now (operator)
    #[command(
        after_help = "They sign in again with their password. `jeton users list --team TEAM` \
        shows user ids.\n\nExamples:\n  jeton users sign-out-everywhere 42\n  \
        jeton users sign-out-everywhere jane@example.com"
    )]
    SignOutEverywhere {
        /// The user's id or email address
        #[arg(value_name = "USER")]
        user: String,
    },
    /// Unassign a user from Flex on a team: new sessions stop at once, the history stays
    Remove {
        /// The user's id or email
        user: String,
        /// The team (id or exact name)
        #[arg(long, value_name = "TEAM")]
        team: String,
    },
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// `Full Name <email>` (invite), or an existing user's email or id
    #[arg(value_name = "ENTRY", required = true)]
    pub entries: Vec<String>,
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    /// The products they may open, e.g. autocad,revit
    #[arg(
        long,
        value_name = "KEYS",
        value_delimiter = ',',
        conflicts_with = "all"
    )]
    pub products: Option<Vec<String>>,
    /// All products, including those added later
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The user's email address (unique across the service)
    #[arg(long)]
    pub email: String,
    /// The user's full name
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("selection").required(true).args(["all", "set", "clear"])))]
pub struct ProductsArgs {
    /// The user's id or email
    pub user: String,
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
    /// All products, including those added later
    #[arg(long)]
    pub all: bool,
    /// Exactly these products, e.g. autocad,revit
    #[arg(long, value_name = "KEYS", value_delimiter = ',')]
    pub set: Option<Vec<String>>,
    /// No products
    #[arg(long)]
    pub clear: bool,
}

pub async fn run(cmd: UsersCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        UsersCmd::Assign(args) => assign(args, ctx).await,
        UsersCmd::List { team } => {
            let team = teams::named(ctx, &team).await?;
            let users = ctx.client.flex_users(team.id).await?;
            ctx.out.print(&users, |list| list_table(&team, list))
        }
        UsersCmd::Products(args) => {
            let team = teams::named(ctx, &args.team).await?;
            let user = resolve(ctx, &team, &args.user).await?;
            let selection = if args.all {
                SetProducts {
                    all: Some(true),
                    products: None,
                }
            } else {
                let keys = output::key_list(&args.set.unwrap_or_default());
                if keys.is_empty() && !args.clear {
                    bail!("--set needs at least one product key; --clear takes all away");
                }
                SetProducts {
                    all: None,
                    products: Some(keys),
                }
            };
            let updated = ctx
                .client
                .set_user_products(team.id, user, &selection)
                .await?;
            ctx.out.print(&updated, |u| products_set(&team, u))
        }
        UsersCmd::Create(args) => {
            let request = NewUser {
                email: args.email.trim().to_string(),
                name: args.name.trim().to_string(),
                password: args.password.read()?,
            };
            let account = ctx.client.create_user(&request).await?;
            ctx.out.print(&account, created)
        }
        UsersCmd::SignOutEverywhere { user } => {
            let user = entitlements::resolve_user(ctx, &user).await?;
            let ended = ctx.client.sign_out_user_everywhere(user).await?;
            ctx.out.print(&ended, account::signed_out_everywhere)
        }
        UsersCmd::Remove { user, team } => {
            let team = teams::named(ctx, &team).await?;
            let user = resolve(ctx, &team, &user).await?;
            ctx.client.unassign(team.id, user).await?;
            let removed = Removed {
                team_id: team.id,
                user_id: user,
                removed: true,
            };
            ctx.out.print(&removed, |r| {
                format!(
                    "Removed user {} from Flex on team {team}: their new sessions are refused \
                     from now on; their history stays.",
                    r.user_id
                )
            })
        }
    }
}

/// What `users remove --json` prints (the server answers 204, no body).
#[derive(Debug, Serialize)]
struct Removed {
    team_id: i64,
    user_id: i64,
    removed: bool,
}

async fn assign(args: AssignArgs, ctx: &Ctx) -> Result<()> {
    let entries = split_entries(&args.entries);
    if entries.is_empty() {
        bail!(
            "no one to assign: give `Full Name <email>` to invite someone, or an existing \
             user's email or id"
        );
    }
    let all = args.all.then_some(true);
    let products = args.products.as_deref().map(output::key_list);
    let team = teams::named(ctx, &args.team).await?;
    if let [entry] = &entries[..] {
        let request = AssignRequest {
            all,
            products,
            ..assign_request(entry)
        };
        let assignment = ctx.client.assign(team.id, &request).await?;
        return ctx.out.print(&assignment, |a| assigned(&team, a));
    }
    let mut results: Vec<BatchEntry> = Vec::with_capacity(entries.len());
    for batch in entries.chunks(MAX_BATCH_ENTRIES) {
        let request = BatchAssignRequest {
            // One per line: the server splits commas only after a closing `>`.
            entries: batch.join("\n"),
            all,
            products: products.clone(),
        };
        results.extend(ctx.client.assign_batch(team.id, &request).await?);
    }
    ctx.out.print(&results, |r| batch_lines(&team, r))?;
    let failed = results.iter().filter(|r| r.assignment.is_none()).count();
    if failed > 0 {
        bail!(
            "{failed} of {} entries could not be assigned (see above)",
            results.len()
        );
    }
    Ok(())
}

/// Splits entries given as several arguments, one per line, or comma-separated. A comma ends an
/// entry after its closing `>`, or after a bare email or user id, so `Doe, Jane <jane@x.com>`
/// stays whole. Empty entries are skipped.
pub fn split_entries(args: &[String]) -> Vec<String> {
    let mut entries = Vec::new();
    for line in args.iter().flat_map(|a| a.lines()) {
        let mut current = String::new();
        for c in line.chars() {
            if c == ',' && ends_an_entry(current.trim()) {
                entries.push(std::mem::take(&mut current));
            } else {
                current.push(c);
            }
        }
        entries.push(current);
    }
    entries
        .into_iter()
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect()
}

/// Whether a comma after `so_far` ends the entry: after `Name <email>`, a bare email or an id.
fn ends_an_entry(so_far: &str) -> bool {
    so_far.is_empty()
        || so_far.ends_with('>')
        || (!so_far.contains(['<', ' '])
            && (so_far.contains('@')
                || (!so_far.is_empty() && so_far.bytes().all(|b| b.is_ascii_digit()))))
}

/// One entry as a request: `Name <email>` invites; a number is a user id; an address names an
/// existing user. Anything else is sent as an invitation, so the server says what the expected
/// form is.
pub fn assign_request(entry: &str) -> AssignRequest {
    let entry = entry.trim();
    let mut request = AssignRequest::default();
    if entry.contains('<') {
        request.invite = Some(entry.to_string());
    } else if let Ok(id) = entry.parse::<i64>() {
        request.user_id = Some(id);
    } else if entry.contains('@') {
        request.email = Some(entry.to_string());
    } else {
        request.invite = Some(entry.to_string());
    }
    request
}

/// A user id from an id or the email of one of the team's Flex users.
pub async fn resolve(ctx: &Ctx, team: &Named, user: &str) -> Result<i64> {
    let user = user.trim();
    if let Ok(id) = user.parse::<i64>() {
        return Ok(id);
    }
    if !user.contains('@') {
        bail!("{user:?} is neither a user id nor an email address: give one of them");
    }
    let users = ctx.client.flex_users(team.id).await?;
    pick_by_email(&users, team, user)
}

fn pick_by_email(users: &[FlexUser], team: &Named, email: &str) -> Result<i64> {
    match users.iter().find(|u| u.email.eq_ignore_ascii_case(email)) {
        Some(u) => Ok(u.user_id),
        None => bail!(
            "no Flex user of team {team} has the email {email:?} \
             (`jeton users list --team {}` shows them)",
            team.arg()
        ),
    }
}

fn created(a: &UserAccount) -> String {
    format!(
        "Created user {}: {}. They sign in with `jeton login --email {}`; give them Flex on a \
         team with `jeton users assign --team TEAM {}`.",
        a.user_id,
        output::person(&a.name, &a.email),
        a.email,
        a.user_id
    )
}

fn assigned(team: &Named, a: &Assignment) -> String {
    let who = output::person(&a.name, &a.email);
    match a.status {
        AssignmentStatus::Invited => format!(
            "Invited {who} to Flex on team {team} (user {}{}). An email with the accept link \
             (valid 7 days) is queued for them.",
            a.user_id,
            a.invitation_id
                .map(|i| format!(", invitation {i}"))
                .unwrap_or_default()
        ),
        AssignmentStatus::Active => format!(
            "Assigned {who} (user {}) to Flex on team {team}; an email naming their products is \
             queued for them.",
            a.user_id
        ),
    }
}

/// One line per entry: `ok` with what happened, or `error` with why.
fn batch_lines(team: &Named, results: &[BatchEntry]) -> String {
    let mut lines: Vec<String> = results
        .iter()
        .map(|r| match (&r.assignment, &r.error) {
            (Some(a), _) => format!(
                "ok     {}: {} (user {}{})",
                r.entry,
                match a.status {
                    AssignmentStatus::Invited => "invited",
                    AssignmentStatus::Active => "assigned, active",
                },
                a.user_id,
                a.invitation_id
                    .map(|i| format!(", invitation {i}"))
                    .unwrap_or_default()
            ),
            (None, Some(e)) => format!("error  {}: {} (code {})", r.entry, e.detail, e.code),
            (None, None) => format!("error  {}: the server gave no result", r.entry),
        })
        .collect();
    let ok = results.iter().filter(|r| r.assignment.is_some()).count();
    lines.push(format!(
        "\n{ok} of {} entries assigned to Flex on team {team}.",
        results.len()
    ));
    lines.join("\n")
}

fn list_table(team: &Named, users: &[FlexUser]) -> String {
    if users.is_empty() {
        return format!(
            "No Flex users on team {team} yet: add some with `jeton users assign` or `jeton import`."
        );
    }
    let mut t = table(
        &[
            "id",
            "name",
            "email",
            "status",
            "products",
            "effective products",
            "invitation expires",
        ],
        &[0],
    );
    for u in users {
        t.add_row(vec![
            u.user_id.to_string(),
            u.name.clone(),
            u.email.clone(),
            output::assignment_status(u.status).to_string(),
            output::selection(&u.products),
            output::keys(&u.effective_products),
            u.invitation_expires_at
                .as_ref()
                .map(output::time)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    t.to_string()
}

fn products_set(team: &Named, u: &FlexUser) -> String {
    let own = match &u.products {
        ProductSelection::All(_) => "all products, including those added later".into(),
        ProductSelection::Some(keys) if keys.is_empty() => "no products".into(),
        ProductSelection::Some(keys) => keys.join(", "),
    };
    let mut text = format!(
        "{} (user {}) on team {team} may open: {own}.",
        output::person(&u.name, &u.email),
        u.user_id
    );
    let same = match &u.products {
        ProductSelection::Some(keys) => {
            let mut keys = keys.clone();
            let mut effective = u.effective_products.clone();
            keys.sort();
            effective.sort();
            keys == effective
        }
        ProductSelection::All(_) => false,
    };
    if !same {
        text.push_str(&format!(
            "\nEffective now: {}{}.",
            output::keys(&u.effective_products),
            if matches!(u.products, ProductSelection::All(_)) {
                ""
            } else {
                " (the team's default assignments apply while they are on)"
            }
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn design() -> Named {
        Named {
            id: 3,
            name: "Design".into(),
        }
    }

    #[test]
    fn r_usr_2_entries_split_on_lines_commas_and_arguments() {
        let args = strings(&[
            "Jane Doe <jane@x.com>, John Roe <john@x.com>\nDoe, Ann <ann@x.com>",
            "bob@x.com, carol@x.com,42",
            " , ",
            "Eve Eff <eve@x.com>",
        ]);
        assert_eq!(
            split_entries(&args),
            strings(&[
                "Jane Doe <jane@x.com>",
                "John Roe <john@x.com>",
                "Doe, Ann <ann@x.com>",
                "bob@x.com",
                "carol@x.com",
                "42",
                "Eve Eff <eve@x.com>",
            ])
        );
        assert!(split_entries(&strings(&["", "\n  \n"])).is_empty());
    }

    #[test]
    fn entries_become_invitations_ids_or_emails() {
        let r = assign_request(" Jane Doe <jane@x.com> ");
        assert_eq!(r.invite.as_deref(), Some("Jane Doe <jane@x.com>"));
        assert_eq!(assign_request("42").user_id, Some(42));
        assert_eq!(
            assign_request("bob@x.com").email.as_deref(),
            Some("bob@x.com")
        );
        assert_eq!(
            assign_request("Jane Doe").invite.as_deref(),
            Some("Jane Doe"),
            "the server explains the expected form"
        );
    }

    fn flex_user(id: i64, email: &str) -> FlexUser {
        FlexUser {
            user_id: id,
            email: email.into(),
            name: "N".into(),
            status: AssignmentStatus::Active,
            products: ProductSelection::Some(vec![]),
            effective_products: vec![],
            invitation_id: None,
            invitation_expires_at: None,
            assigned_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn users_are_found_by_email_whatever_its_case() {
        let users = [flex_user(3, "Jane@Example.com"), flex_user(4, "bob@x.com")];
        let team = Named {
            id: 1,
            name: "Render farm".into(),
        };
        assert_eq!(pick_by_email(&users, &team, "jane@example.com").unwrap(), 3);
        let err = pick_by_email(&users, &team, "nobody@x.com")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no Flex user of team Render farm")
                && err.contains("users list --team 'Render farm'"),
            "{err}"
        );
    }

    #[test]
    fn batch_results_are_one_line_each() {
        let results = vec![
            BatchEntry {
                entry: "Jane Doe <jane@x.com>".into(),
                assignment: Some(Assignment {
                    user_id: 5,
                    email: "jane@x.com".into(),
                    name: "Jane Doe".into(),
                    status: AssignmentStatus::Invited,
                    invitation_id: Some(2),
                }),
                error: None,
            },
            BatchEntry {
                entry: "nobody".into(),
                assignment: None,
                error: Some(jeton_api::EntryError {
                    code: "invalid_invitee".into(),
                    detail: "write each person as Full Name <name@example.com>".into(),
                }),
            },
        ];
        let text = batch_lines(&design(), &results);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ok     Jane Doe <jane@x.com>: invited (user 5, invitation 2)"
        );
        assert!(
            lines[1].starts_with("error  nobody: write each person")
                && lines[1].ends_with("(code invalid_invitee)"),
            "{text}"
        );
        assert!(text.contains("1 of 2 entries assigned"), "{text}");
    }

    #[test]
    fn r_acc_1_a_new_selection_says_what_is_effective_when_that_differs() {
        let mut u = flex_user(5, "jane@x.com");
        u.products = ProductSelection::Some(vec!["revit".into(), "autocad".into()]);
        u.effective_products = vec!["autocad".into(), "revit".into()];
        assert_eq!(
            products_set(&design(), &u),
            "N <jane@x.com> (user 5) on team Design may open: revit, autocad."
        );
        u.effective_products = vec!["maya".into()];
        assert!(
            products_set(&design(), &u).ends_with(
                "\nEffective now: maya (the team's default assignments apply while they are on)."
            ),
            "{}",
            products_set(&design(), &u)
        );
        u.products = ProductSelection::All(jeton_api::AllProducts::All);
        assert!(products_set(&design(), &u).contains("all products, including those added later"));
    }
}

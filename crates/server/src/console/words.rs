//! Every sentence and label the console and portal show, in one place, so that a translation
//! (French first: "Affecter des utilisateurs", "Affectations par défaut", "Enregistrer les
//! modifications", "Tous les produits et services") replaces this file and nothing else.

// Frame and navigation
pub const SKIP: &str = "Skip to the content";
pub const SIGN_OUT: &str = "Sign out";
pub const NAVIGATION: &str = "Console";
pub const NAV_TEAMS: &str = "Teams";
pub const NAV_TOKENS: &str = "Tokens";
pub const NAV_USERS: &str = "Users › Flex";
pub const NAV_DEFAULTS: &str = "Default assignments";
pub const NAV_IMPORT: &str = "Import";
pub const NAV_REPORTS: &str = "Usage reports";
pub const NAV_PLAN: &str = "Plan";
pub const NAV_SETTINGS: &str = "Team settings";
pub const NAV_OPERATOR: &str = "Operator";
pub const NAV_OP_TEAMS: &str = "All teams";
pub const NAV_OP_PRODUCTS: &str = "Products";
pub const NAV_OP_ADMINS: &str = "Admins";
pub const NAV_OP_OUTBOX: &str = "Outbox";

// Errors
pub const CSRF_TITLE: &str = "This form has expired";
pub const CSRF_TEXT: &str = "The form was sent without its security token, or from another \
    page or site. Nothing was changed. Go back, reload the page and try again.";
pub const BAD_FORM_TITLE: &str = "This form could not be read";
pub const NOT_FOUND_TITLE: &str = "Not found";
pub const NOT_FOUND_TEXT: &str = "There is no such page here, or it is not one you may see.";
pub const FORBIDDEN_TITLE: &str = "Not allowed";
pub const FAULT_TITLE: &str = "Something went wrong";
pub const REFUSED_TITLE: &str = "That did not work";
pub const BACK_HOME: &str = "Back to the start page";
pub const FORM_REFUSED: &str = "Nothing was changed. See the message beside the field.";

// Start page and signing in
pub const LANDING_TITLE: &str = "Welcome to Jeton";
pub const LANDING_USERS: &str = "Open my products";
pub const LANDING_USERS_TEXT: &str = "Sign in to see the products you may use and download them.";
pub const LANDING_ADMINS: &str = "Administrator console";
pub const LANDING_ADMINS_TEXT: &str =
    "Manage tokens, Flex users, default assignments and usage reports.";
pub const LANDING_API: &str = "API reference, for product clients and scripts";
pub const CONSOLE_SIGN_IN: &str = "Sign in to the console";
pub const PORTAL_SIGN_IN: &str = "Sign in to your products";
pub const EMAIL: &str = "Email";
pub const PASSWORD: &str = "Password";
pub const SIGN_IN: &str = "Sign in";
pub const OPERATOR_KEY: &str = "Operator key";
pub const OPERATOR_SIGN_IN: &str = "The operator signs in with the operator key";
pub const OPERATOR_KEY_HINT: &str =
    "Printed by jeton serve on its first start and kept in the data directory as operator.key.";
pub const OPERATOR_KEY_WRONG: &str = "This is not the operator key.";
pub const FORGOT: &str = "Forgot your password?";
pub const NO_CONSOLE_PASSWORD: &str = "An admin without a console password gets a link to \
    choose one from the operator (jeton admins password-link).";

// Choosing a password
pub const CHOOSE_PASSWORD: &str = "Choose a password";
pub const NEW_PASSWORD: &str = "New password (at least 8 characters)";
pub const PASSWORD_AGAIN: &str = "The same password again";
pub const PASSWORDS_DIFFER: &str = "The two passwords differ; type them again.";
pub const SAVE_PASSWORD: &str = "Save the password";
pub const PASSWORD_SAVED: &str = "Your password is saved. Sign in with it now.";
pub const LINK_BROKEN_TITLE: &str = "This link does not work";
pub const LINK_UNKNOWN: &str =
    "This link is not one we sent, or it was copied incompletely. Ask for a new one.";
pub const FORGOT_TITLE: &str = "Forgot your password?";
pub const FORGOT_TEXT: &str = "Type the email address of your account. We send a link to \
    choose a new password; it works once, for one hour.";
pub const SEND_LINK: &str = "Send the link";
pub const FORGOT_SENT: &str = "If an account has this address, a link is on its way. \
    It works once, for one hour.";

// Teams
pub const TEAMS_TITLE: &str = "Teams";
pub const NO_TEAMS: &str = "No team yet.";
pub const TEAM: &str = "Team";
pub const AVAILABLE: &str = "Available";

// Tokens
pub const TOKENS_TITLE: &str = "Tokens";
pub const USED: &str = "Used";
pub const TOTAL: &str = "Total";
pub const LOW_BALANCE: &str = "Low balance";
pub const PACKS: &str = "Packs, in the order they will be used";
pub const PACKS_RULE: &str =
    "Tokens are valid one year; the pack that expires first is used first.";
pub const NO_PACKS: &str =
    "No active pack: products cannot be opened with Flex until tokens are bought.";
pub const EXPIRES_SOON: &str = "expires within 90 days";
pub const BOUGHT: &str = "Bought";
pub const EXPIRES: &str = "Expires";
pub const REMAINING: &str = "Remaining";
pub const TOKENS: &str = "Tokens";
pub const RECORD_PACK: &str = "Record a pack";
pub const RECORD_PACK_TEXT: &str =
    "A pack bought for this team: its tokens are available at once, for one year.";
pub const RECORD: &str = "Record the pack";
pub const MOVE_TOKENS: &str = "Move tokens";
pub const MOVE_TEXT: &str = "Moves tokens to another team. They keep their expiry dates.";
pub const TO_TEAM: &str = "To team";
pub const MOVE: &str = "Move";
pub const EVENTS: &str = "Token events";
pub const KIND: &str = "Kind";
pub const ALL_KINDS: &str = "All kinds";
pub const FROM: &str = "From";
pub const TO: &str = "To";
pub const WHEN: &str = "When";
pub const CHANGE: &str = "Change";
pub const DETAIL: &str = "Detail";
pub const FILTER: &str = "Filter";
pub const OLDER: &str = "Older events";
pub const NO_EVENTS: &str = "No event in this period.";
pub const PACK_RECORDED: &str = "The pack is recorded.";
pub const TOKENS_MOVED: &str = "The tokens are moved.";

// Users
pub const USERS_TITLE: &str = "Flex users";
pub const ASSIGN_USERS: &str = "Assign users";
pub const ASSIGN_WHO: &str = "People";
pub const ASSIGN_WHO_HINT: &str = "One per line: \"Full Name <name@example.com>\" for someone \
    new, or the email of someone who already has an account.";
pub const ASSIGN_EMAIL_RULE: &str = "Each person assigned here gets an email: someone new an \
    invitation valid 7 days, someone with an account the list of their products. An import \
    (CSV) sends no email.";
pub const PRODUCTS: &str = "Products";
pub const ALL_PRODUCTS: &str = "All products, including future ones";
pub const DEFAULTS_APPLY: &str = "With none ticked they get no product of their own; while the \
    team's default assignments are on, everyone gets those instead.";
pub const ASSIGN: &str = "Assign";
pub const SEARCH: &str = "Search";
pub const SEARCH_HINT: &str = "Name or email";
pub const NAME: &str = "Name";
pub const STATUS: &str = "Status";
pub const SELECTED: &str = "Selected products";
pub const EFFECTIVE: &str = "Products they may open";
pub const NONE: &str = "none";
pub const NO_USERS: &str = "No Flex user matches.";
pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_INVITED: &str = "invited";
pub const STATUS_EXPIRED: &str = "invitation expired";
pub const RESEND: &str = "Resend";
pub const RESENT: &str = "A new invitation is sent; the old link no longer works.";
pub const ASSIGNED_PARTLY: &str = "The people listed above are assigned; the lines left in the \
    box were not, for the reasons beside it.";
pub const ASSIGNED_ALL: &str =
    "Assigned. Each person gets an email: an invitation, or the list of their products.";
pub const SAVE_CHANGES: &str = "Save changes";
pub const SELECT_ALL_TEXT: &str = "\"All products\" also gives every product added to the \
    catalogue later.";
pub const UNASSIGN: &str = "Unassign";
pub const UNASSIGN_TEXT: &str =
    "They can no longer open products with this team's tokens. Usage history is kept.";
pub const UNASSIGNED: &str = "The person is unassigned.";
pub const SAVED: &str = "Saved.";
pub const PAGE: &str = "Page";
pub const PREVIOUS: &str = "Previous";
pub const NEXT: &str = "Next";

// Default assignments
pub const DEFAULTS_TITLE: &str = "Default assignments";
pub const DEFAULTS_TEXT_1: &str = "While products are chosen here, every Flex user of the team \
    may open exactly these, whatever their own selection.";
pub const DEFAULTS_TEXT_2: &str = "Unselecting every product turns default assignments off.";
pub const DEFAULTS_TEXT_3: &str =
    "Products added to the catalogue later are not added here automatically.";
pub const DEFAULTS_TEXT_4: &str = "No email is sent when default assignments change.";

// Portal
pub const MY_PRODUCTS: &str = "My products";
pub const NO_PRODUCTS: &str = "You may not open any product yet. Your administrator chooses \
    them; you get an email when they do.";
pub const ACCESS_FLEX: &str = "Flex";
pub const ACCESS_SUBSCRIPTION: &str = "Subscription";
pub const ACCESS_TRIAL: &str = "Trial";
pub const DAILY_RATE: &str = "tokens per day of use";
pub const DOWNLOADS: &str = "Downloads";
pub const NO_DOWNLOADS: &str = "No download item yet.";
pub const ON_TEAMS: &str = "On";
pub const NOT_ENOUGH_TOKENS: &str = "A new day of use would be refused now: not enough tokens on";
pub const OTHER_PRODUCTS: &str = "Other products";

// Usage reports, plan and team settings. A module of their own, so that their names cannot
// clash with another area's; the general words above are re-exported in it.
pub mod reports {
    pub use super::*;

    use chrono::NaiveDate;

    use crate::console::format::tokens;

    // Usage reports
    pub const REPORTS_TITLE: &str = "Usage reports";
    pub const RANGE_PICKER: &str = "Range of the report";
    pub const RANGE: &str = "Range";
    pub const RANGE_30_DAYS: &str = "Past 30 days";
    pub const RANGE_3_MONTHS: &str = "Past 3 months";
    pub const RANGE_6_MONTHS: &str = "Past 6 months";
    pub const RANGE_9_MONTHS: &str = "Past 9 months";
    pub const RANGE_12_MONTHS: &str = "Past 12 months";
    pub const RANGE_CUSTOM: &str = "Custom range";
    pub const CUSTOM_FROM: &str = "First day";
    pub const CUSTOM_TO: &str = "Last day";
    pub const RANGE_HINT: &str = "The past 30 days include today; past months are whole \
        calendar months before this one. The two days are for a custom range (both included, \
        at most 366 days).";
    pub const SHOW: &str = "Show";
    pub const REPORT_VIEWS: &str = "Views of the report";
    pub const VIEW_SUMMARY: &str = "Summary";
    pub const VIEW_PRODUCT: &str = "By product";
    pub const VIEW_USER: &str = "By user";
    pub const VIEW_DAY: &str = "By day";
    pub const DOWNLOAD_CSV: &str = "Download CSV";
    pub const CSV_NO_VIEW: &str = "The CSV has one row per use; it has no views.";
    pub const PSEUDONYMS_ON: &str = "Users are shown as pseudonyms, here and in the CSV, as \
        the team's settings ask.";
    pub const TOKENS_USED: &str = "Tokens used";
    pub const PRODUCTS_USED: &str = "Products used";
    pub const USERS: &str = "Users";
    pub const USAGE_DAYS: &str = "Usage days";
    pub const RESULTS: &str = "Results";
    pub const PRODUCT: &str = "Product";
    pub const USER: &str = "User";
    pub const DAY: &str = "Day";
    pub const DAYS_PER_WEEK: &str = "Days used, week by week";
    pub const WEEKS_HINT: &str = "Weeks are ISO weeks (Monday to Sunday); a day with any use \
        counts once.";
    pub const DAYS_WITHOUT_USE: &str = "Days without use are left out.";
    pub const NO_USE: &str = "No use in this period.";
    pub const CHART_PER_DAY: &str = "Tokens per day";
    pub const CHART_PER_PRODUCT: &str = "Tokens per product";
    pub const CHART_NO_USE: &str = "No tokens used in this period.";

    pub fn range_shown(from: NaiveDate, to: NaiveDate, days: i64) -> String {
        format!("{from} to {to} ({})", n_days(days))
    }

    pub fn unknown_view(by: &str) -> String {
        format!("there is no report view {by:?}: summary, product, user or day")
    }

    pub fn not_a_day(s: &str) -> String {
        format!("{s:?} is not a day like 2026-12-31")
    }

    pub fn n_tokens(n: u64) -> String {
        match n {
            1 => "1 token".to_owned(),
            n => format!("{} tokens", tokens(n)),
        }
    }

    pub fn n_days(n: i64) -> String {
        match n {
            1 => "1 day".to_owned(),
            n => format!("{n} days"),
        }
    }

    pub fn chart_day_tokens(day: NaiveDate, n: u64) -> String {
        format!("{day}: {}", n_tokens(n))
    }

    pub fn chart_days_desc(
        total: u64,
        days_used: usize,
        first: NaiveDate,
        last: NaiveDate,
    ) -> String {
        format!(
            "{} from {first} to {last}, on {}.",
            n_tokens(total),
            n_days(days_used as i64)
        )
    }

    // Plan
    pub const PLAN_TITLE: &str = "Plan";
    pub const FORECAST: &str = "Forecast";
    pub const NO_ACTIVE_PACK: &str = "No active pack: there is no balance to forecast.";
    pub const ZERO_ON: &str = "At this pace the balance reaches zero on";
    pub const BY_USE: &str = ", when the last tokens are used.";
    pub const BY_EXPIRY: &str = ", when the last tokens expire.";
    pub const EXPIRE_UNUSED: &str = "will expire unused at this pace.";
    pub const NOTHING_EXPIRES: &str = "At this pace no token expires unused.";
    pub const FORECAST_BY_PACK: &str = "The forecast, pack by pack";
    pub const USED_BEFORE_EXPIRY: &str = "Used before expiry";
    pub const EXPIRING_UNUSED: &str = "Expiring unused";
    pub const CHART_PROJECTION: &str = "Projected balance";
    pub const ESTIMATOR: &str = "Estimate a plan";
    pub const ESTIMATOR_TEXT: &str = "The tokens a plan of use needs: for each product, how many \
        people use it and on how many days a month. Compared with this team's balance and the \
        expiry of its packs. Nothing is changed.";
    pub const PLAN_LINES: &str = "Lines of the plan";
    pub const PLANNED_USERS: &str = "Users";
    pub const DAYS_PER_MONTH: &str = "Days a month";
    pub const PLAN_HINT: &str = "Empty lines are left out.";
    pub const ESTIMATE: &str = "Estimate";
    pub const CHOOSE_PRODUCT: &str = "Choose a product for this line.";
    pub const PLAN_EMPTY: &str =
        "Fill in at least one line: a product, its users and days a month.";
    pub const PLAN_NEEDS: &str = "This plan needs";
    pub const A_YEAR: &str = "a year";
    pub const A_MONTH: &str = "a month";
    pub const A_DAY: &str = "a day";
    pub const AVAILABLE_NOW: &str = "Available now";
    pub const EXPIRE_BEFORE_PLAN: &str = "of them would expire before the plan uses them.";
    pub const BALANCE_COVERS: &str = "The balance covers a year of this plan.";
    pub const TO_BUY: &str = "To cover a year of this plan, buy";
    pub const PLAN_ZERO_ON: &str = "At this plan's pace the balance reaches zero on";
    pub const CHART_ESTIMATE: &str = "A year of this plan, by product";
    pub const ESTIMATE_TABLE: &str = "The estimate, line by line";
    pub const DAILY_RATE_SHORT: &str = "Tokens a day";
    pub const PER_MONTH: &str = "A month";
    pub const PER_YEAR: &str = "A year";

    pub fn pace(daily_burn: f64) -> String {
        if daily_burn > 0.0 {
            format!("In the last 30 days the team used {daily_burn:.1} tokens a day on average.")
        } else {
            "The team used no tokens in the last 30 days.".to_owned()
        }
    }

    pub fn projection_desc(available: u64, zero: NaiveDate) -> String {
        format!("From {} today to none on {zero}.", n_tokens(available))
    }

    pub fn line_label(what: &str, line: usize) -> String {
        format!("{what}, line {line}")
    }

    pub fn not_a_whole_number(s: &str) -> String {
        format!("{s:?} is not a whole number")
    }

    // Team settings
    pub const SETTINGS_TITLE: &str = "Team settings";
    pub const SETTINGS_SAVED: &str = "The settings are saved.";
    pub const THRESHOLD: &str = "Low-balance threshold";
    pub const THRESHOLD_HINT: &str = "1 to 99 % of the active total (20 by default). Under it, \
        the balance shows as low and the team's admins get an email, once each time it falls \
        under.";
    pub const PRIVACY: &str = "Privacy";
    pub const PSEUDONYMS: &str = "Show users as pseudonyms in reports";
    pub const PSEUDONYMS_HINT: &str = "Reports and CSV exports then name each user by a stable \
        pseudonym (person-…) instead of their name and email. Turned off, names show again; \
        turned on again, the same pseudonyms come back.";
}

// ---------------------------------------------------------------- operator areas and import
// Operator › All teams, Products, Admins, Outbox; a team's Import. Sentences that hold values are
// functions, so a translation can put the values where its grammar wants them.

// All teams
pub const OP_TEAMS_TITLE: &str = "All teams";
pub const OP_CREATE_TEAM: &str = "Create a team";
pub const OP_CREATE_TEAM_BUTTON: &str = "Create the team";
pub const OP_TEAM_OPEN: &str = "open";
pub const OP_TEAM_CLOSED: &str = "closed";
pub const OP_MERGED_INTO: &str = "merged into";
pub const OP_CREATED: &str = "Created";
pub const OP_CLOSED: &str = "Closed";
pub const OP_TEAM_ADMINS: &str = "Admins";
pub const OP_OPEN_TEAM: &str = "Open the team's tokens";
pub const OP_TEAM_CREATED: &str = "The team is created. Give it tokens from its Tokens page, \
    and an admin under Operator › Admins.";
pub const OP_TEAM_RENAMED: &str = "The team is renamed.";
pub const OP_TEAM_MERGED: &str = "The team is merged and closed.";
pub const OP_TEAM_CLOSED_TEXT: &str = "This team was merged into another and is closed: it takes \
    no new changes. Its history is part of the team it was merged into.";
pub const OP_RENAME: &str = "Rename";
pub const OP_NEW_NAME: &str = "New name";
pub const OP_RENAME_BUTTON: &str = "Rename the team";
pub const OP_MERGE: &str = "Merge into another team";
pub const OP_MERGE_MOVES: &str = "Its packs, with their expiry dates, move to the other team, \
    and so do its Flex users, their products and the token history: nothing is lost or counted \
    twice.";
pub const OP_MERGE_CLOSES: &str = "This team is then closed: it takes no new changes, and its \
    users open products with the other team's tokens.";
pub const OP_MERGE_FINAL: &str = "A merge cannot be undone.";
pub const OP_MERGE_INTO: &str = "Merge into";
pub const OP_MERGE_NO_TARGET: &str = "There is no other open team to merge into.";
pub const OP_MERGE_CHOOSE: &str = "Choose the team to merge into.";

pub fn op_teams_count(open: usize, closed: usize) -> String {
    format!("{open} open, {closed} closed (merged into another).")
}

pub fn op_merge_text(team: &str) -> String {
    format!("Merging {team} into another team:")
}

pub fn op_merge_button(team: &str) -> String {
    format!("Merge {team} and close it")
}

// Products
pub const OP_PRODUCTS_TITLE: &str = "Products";
pub const OP_NO_PRODUCTS: &str = "The catalogue is empty: add the first product below.";
pub const OP_KEY: &str = "Key";
pub const OP_KEY_HINT: &str = "A stable identifier that products and scripts use, such as \
    autocad: lowercase letters, digits, '-', '_' or '.'. It cannot be changed later.";
pub const OP_DAILY_RATE: &str = "Daily rate (tokens per day of use)";
pub const OP_DAILY_RATE_SHORT: &str = "Daily rate";
pub const OP_DAILY_RATE_HINT: &str = "A whole number; 0 makes the product free to open.";
pub const OP_RESULT_RATES: &str = "Per-result rates";
pub const OP_RESULT_RATES_SHORT: &str = "Result rates";
pub const OP_RESULT_RATES_HINT: &str = "One per line, type=tokens, such as render.cloud=5. \
    Leave empty when results cost nothing.";
pub const OP_RATE_FORM: &str = "write type=tokens, such as render.cloud=5";
pub const OP_IDLE: &str = "Idle awareness";
pub const OP_IDLE_HINT: &str = "The product tells when it is idle: a session idle for 15 \
    minutes pauses, and no new period is charged until it is used again.";
pub const OP_ITEMS: &str = "Download items";
pub const OP_ITEMS_SHORT: &str = "Items";
pub const OP_ITEMS_HINT: &str = "One per line: version | platform | link, such as \
    2027 | windows | https://downloads.example.com/cad-2027.msi";
pub const OP_ITEM_FORM: &str =
    "write version | platform | link, with two | between the three parts";
pub const OP_ADDED: &str = "Added";
pub const OP_UPDATED: &str = "Last changed";
pub const OP_ADD_PRODUCT: &str = "Add a product";
pub const OP_ADD_PRODUCT_TEXT: &str = "Once added, users given all products may open it with \
    Flex at once, and admins can choose it for their users and default assignments.";
pub const OP_ADD_PRODUCT_BUTTON: &str = "Add the product";
pub const OP_PRODUCT_ADDED: &str = "The product is added to the catalogue.";
pub const OP_CHANGE_PRODUCT: &str = "Change the product";
pub const OP_RATES_APPLY: &str = "New rates apply to charges made from now on; nothing already \
    charged changes.";
pub const OP_RATE_HISTORY: &str = "Rate history";
pub const OP_RATE_HISTORY_TEXT: &str = "Each row holds from its time until the row above it.";
pub const OP_FROM_TIME: &str = "From";
pub const OP_BY: &str = "By";

pub fn op_not_a_rate(raw: &str) -> String {
    format!("{raw:?} is not a whole number of tokens")
}

pub fn op_rate_line(line: usize, detail: &str) -> String {
    format!("line {line}: {detail}")
}

pub fn op_repeated_type(kind: &str, first: usize) -> String {
    format!("{kind} is already on line {first}")
}

pub fn op_item_line(line: usize, detail: &str) -> String {
    format!("line {line}: {detail}")
}

// Admins
pub const OP_ADMINS_TITLE: &str = "Admins";
pub const OP_NO_ADMINS: &str = "No team admin yet.";
pub const OP_TEAMS: &str = "Teams";
pub const OP_API_KEY: &str = "API key";
pub const OP_NEW_API_KEY: &str = "New API key";
pub const OP_KEY_ACTIVE: &str = "active";
pub const OP_KEY_REVOKED: &str = "revoked";
pub const OP_SINCE: &str = "since";
pub const OP_REVOKE: &str = "Revoke key";
pub const OP_ROTATE: &str = "New key";
pub const OP_SEND_LINK: &str = "Send a password link";
pub const OP_REVOKE_TEXT: &str = "Revoking a key stops it at once, on every server, and signs \
    its admin out of the console.";
pub const OP_ROTATE_TEXT: &str = "A new key replaces the old one, which stops working; a \
    revoked admin works again with it.";
pub const OP_CREATE_ADMIN: &str = "Create an admin";
pub const OP_CREATE_ADMIN_TEXT: &str = "An admin manages the teams ticked here: their tokens, \
    Flex users and reports, with an API key and in this console.";
pub const OP_TEAMS_MANAGED: &str = "Teams they manage";
pub const OP_CHOOSE_TEAM: &str = "Tick at least one team: an admin manages at least one.";
pub const OP_TEAM_GONE: &str = "A ticked team no longer exists; reload the page and tick again.";
pub const OP_CREATE_ADMIN_BUTTON: &str = "Create the admin";
pub const OP_ADMIN_CREATED: &str = "Admin created";
pub const OP_KEY_ROTATED: &str = "New key";
pub const OP_KEY_ONCE: &str =
    "Shown this once: copy it now and hand it over safely. Only its digest is kept.";
pub const OP_PASSWORD_LINK: &str = "Console password link";
pub const OP_LINK_EXPIRES: &str = "The link works once, until";
pub const OP_EARLIER_LINKS: &str = "Earlier links no longer work.";
pub const OP_BACK_TO_ADMINS: &str = "Back to the admins";

pub fn op_admin_created(name: &str, email: &str) -> String {
    format!("{name} <{email}> is an admin now.")
}

pub fn op_link_emailed(email: &str) -> String {
    format!("With this link they choose their console password. It was also emailed to {email}.")
}

pub fn op_link_title(name: &str) -> String {
    format!("A new password link for {name}")
}

pub fn op_revoked(name: &str) -> String {
    format!("The key of {name} no longer works, and they are signed out of the console.")
}

pub fn op_rotated(name: &str) -> String {
    format!("{name} has a new key; the old one no longer works.")
}

// Outbox
pub const OP_OUTBOX_TITLE: &str = "Outbox";
pub const OP_OUTBOX_TEXT: &str = "Every email, newest first. Links' secrets are hidden here: \
    they are for the addressee alone.";
pub const OP_PENDING: &str = "pending";
pub const OP_SENT: &str = "sent";
pub const OP_FAILED: &str = "failed";
pub const OP_ALL_STATUSES: &str = "All";
pub const OP_STATUS_VALUES: &str = "Choose pending, sent or failed.";
pub const OP_TO_ADDRESS: &str = "To (email)";
pub const OP_LIMIT: &str = "At most";
pub const OP_SUBJECT: &str = "Subject";
pub const OP_NO_MESSAGES: &str = "No email matches.";
pub const OP_RETRY: &str = "Send again";
pub const OP_RETRY_ALL: &str = "Send every failed email again";
pub const OP_RETRY_ALL_TEXT: &str = "Fix the cause first (the relay, an address): they go as \
    they were written, and an expired invitation is better resent from the team's users.";
pub const OP_RETRIED: &str = "The email is queued again.";

pub fn op_limit_range(max: usize) -> String {
    format!("A number from 1 to {max}.")
}

pub fn op_attempts(n: u32) -> String {
    match n {
        1 => "1 attempt".to_owned(),
        n => format!("{n} attempts"),
    }
}

pub fn op_failed_count(n: usize) -> String {
    match n {
        1 => "1 email failed: the sender gave up on it.".to_owned(),
        n => format!("{n} emails failed: the sender gave up on them."),
    }
}

pub fn op_requeued(n: &str) -> String {
    format!("Queued again: {n}.")
}

// Import
pub const IMPORT_TITLE: &str = "Import users";
pub const IMPORT: &str = "Import";
pub const IMPORT_TEXT: &str = "Assign many Flex users at once from a CSV file. Each line is \
    checked on its own: good lines are applied, bad ones are listed with their line number and \
    reason. Importing the same file again changes nothing.";
pub const IMPORT_NO_EMAIL: &str = "An import sends no email. Imported people who have no account \
    yet are invited without one; resend their invitation from Users › Flex when they should get \
    it.";
pub const IMPORT_COLUMNS: &str = "Columns";
pub const IMPORT_COL_NAME: &str = "The person's full name (required).";
pub const IMPORT_COL_EMAIL: &str = "Their email address (required).";
pub const IMPORT_COL_PRODUCTS: &str = "Optional: product keys separated by ; or * for all \
    products. Empty leaves their products as they are (none for someone new).";
pub const IMPORT_HEADER_LINE: &str = "A first line name,email,products is allowed and skipped. \
    Save spreadsheets as CSV UTF-8.";
pub const IMPORT_KEYS: &str = "Product keys:";
pub const IMPORT_UPLOAD: &str = "Upload";
pub const IMPORT_FILE: &str = "CSV file";
pub const IMPORT_OR_PASTE: &str = "Or paste the lines";
pub const IMPORT_BUTTON: &str = "Import";
pub const IMPORT_NOTHING: &str = "Choose a CSV file, or paste its lines below.";
pub const IMPORT_BOTH: &str = "Choose a file or paste lines, not both.";
pub const IMPORT_NOT_TEXT: &str = "This file is not CSV text (UTF-8): save it from your \
    spreadsheet as CSV UTF-8 and try again.";
pub const IMPORT_RECENT: &str = "Recent imports";
pub const IMPORT_NONE: &str = "No import yet.";
pub const IMPORT_LINES: &str = "Lines";
pub const IMPORT_APPLIED: &str = "Applied";
pub const IMPORT_UNCHANGED: &str = "Unchanged";
pub const IMPORT_REFUSED: &str = "Refused";
pub const IMPORT_QUEUED: &str = "queued";
pub const IMPORT_RUNNING: &str = "running";
pub const IMPORT_DONE: &str = "done";
pub const IMPORT_FAILED: &str = "failed";
pub const IMPORT_QUEUED_AT: &str = "Queued";
pub const IMPORT_FINISHED_AT: &str = "Finished";
pub const IMPORT_OUTCOMES: &str = "Lines";
pub const IMPORT_ALL_LINES: &str = "All lines";
pub const IMPORT_NO_LINES: &str = "No line has an outcome here yet.";
pub const IMPORT_LINE: &str = "Line";
pub const IMPORT_OUTCOME: &str = "Outcome";
pub const IMPORT_REASON: &str = "Reason";
pub const IMPORT_FIRST_LINES: &str = "First lines";
pub const IMPORT_NEXT_LINES: &str = "Next lines";
pub const IMPORT_BACK: &str = "Imports";

pub fn import_title(id: jeton_core::ImportId) -> String {
    format!("Import {id}")
}

pub fn import_file_hint(mib: usize) -> String {
    format!(
        "At most {mib} MiB and 100,000 lines; the jeton import command sends larger files in parts."
    )
}

pub fn import_too_large(mib: usize) -> String {
    format!(
        "The file is larger than {mib} MiB, the most one import takes: split it, or use
         the jeton import command, which sends it in parts."
    )
}

pub fn import_empty_file(name: &str) -> String {
    format!("{name} is empty.")
}

pub fn import_progress(done: u64, total: u64) -> String {
    format!("{done} of {total} lines done")
}

pub fn import_percent(share: u64) -> String {
    format!("{share} % done")
}

pub fn import_refreshing(seconds: u32) -> String {
    format!("This page refreshes itself every {seconds} seconds until the import is done.")
}

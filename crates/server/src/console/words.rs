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
pub const CONSOLE_SIGN_IN: &str = "Sign in to the console";
pub const PORTAL_SIGN_IN: &str = "Sign in to your products";
pub const EMAIL: &str = "Email";
pub const PASSWORD: &str = "Password";
pub const SIGN_IN: &str = "Sign in";
pub const OPERATOR_KEY: &str = "Operator key";
pub const OPERATOR_SIGN_IN: &str = "The operator signs in with the operator key";
pub const OPERATOR_KEY_HINT: &str =
    "Printed by `jeton serve` on its first start and kept in the data directory as operator.key.";
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
pub const DEFAULTS_APPLY: &str = "Choose none to give the team's default assignments.";
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
pub const DEFAULTS_TEXT_1: &str = "Every Flex user of the team without a selection of their own \
    may open the products chosen here.";
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

    use crate::console::page::tokens;

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

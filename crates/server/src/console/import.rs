//! Import (R-USR-5) for admins and the operator: a CSV file, uploaded or pasted, queued exactly
//! as `POST /v1/teams/{team}/flex/import` queues it and applied by the same background worker;
//! the import's page follows its progress (refreshing itself while it runs) and lists each
//! line's outcome, paged. An import sends no email (R-USR-4).

use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use jeton_core::limits::MAX_IMPORT_OUTCOMES_PER_PAGE;
use jeton_store::imports::{ImportJob, ImportLine, ImportStatus, LineOutcome};
use jeton_store::teams::Team;
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{
    FieldErrors, PageError, PagePath, PageQuery, PageResult, Tab, console_page, csrf, refusal,
    refused, see_other, time, tokens,
};
use super::session::{Staffer, check_csrf};
use super::teams::open_team;
use super::words as w;
use crate::routes::flex::{MAX_IMPORT_BYTES, queue_csv};
use crate::state::AppState;

/// Largest upload the page reads: the file's limit and room for the form around it, so that a
/// file a little over the limit is read and refused with a message instead of cut off.
pub const MAX_UPLOAD_BYTES: usize = MAX_IMPORT_BYTES + 1024 * 1024;
/// Recent imports listed.
const RECENT_IMPORTS: usize = 20;
/// Line outcomes per page.
const LINES_PER_PAGE: usize = 100;
/// Seconds between refreshes of a running import's page.
const REFRESH_SECONDS: u32 = 2;

const _: () = assert!(LINES_PER_PAGE < MAX_IMPORT_OUTCOMES_PER_PAGE);

/// What was typed in the form, kept when it is refused.
#[derive(Default)]
struct UploadForm {
    text: String,
}

fn status_badge(s: ImportStatus) -> Markup {
    let label = match s {
        ImportStatus::Queued => w::IMPORT_QUEUED,
        ImportStatus::Running => w::IMPORT_RUNNING,
        ImportStatus::Done => w::IMPORT_DONE,
        ImportStatus::Failed => w::IMPORT_FAILED,
    };
    let class = match s {
        ImportStatus::Queued | ImportStatus::Running => "badge invited",
        ImportStatus::Done => "badge active",
        ImportStatus::Failed => "badge expired",
    };
    html! { span class=(class) data-status=(s.as_str()) { (label) } }
}

fn import_href(team: &Team, id: jeton_core::ImportId) -> String {
    format!("/console/teams/{}/import/{id}", team.id)
}

fn render_page(
    staff: &Staffer,
    team: &Team,
    products: &[String],
    jobs: &[ImportJob],
    form: &UploadForm,
    errors: &FieldErrors,
) -> Markup {
    let body = html! {
        p { (w::IMPORT_TEXT) }
        p.notice.warn id="no-email" { (w::IMPORT_NO_EMAIL) }
        div.cards {
            div.card {
                h2 { (w::IMPORT_UPLOAD) }
                (errors.summary())
                form method="post" action=(format!("/console/teams/{}/import", team.id)) enctype="multipart/form-data" {
                    // First, so that it is read before the file.
                    (csrf(&staff.csrf))
                    label for="file" { (w::IMPORT_FILE) }
                    input id="file" type="file" name="file" accept=".csv,text/csv,text/plain"
                        aria-invalid=[errors.invalid("file")] aria-describedby="file-hint file-error";
                    p.hint id="file-hint" { (w::import_file_hint(MAX_IMPORT_BYTES / (1024 * 1024))) }
                    (errors.show("file"))
                    label for="text" { (w::IMPORT_OR_PASTE) }
                    textarea.wide id="text" name="text" rows="5" spellcheck="false" placeholder="Jane Doe,jane@example.com,cad"
                        aria-invalid=[errors.invalid("text")] aria-describedby="text-error" { (form.text) }
                    (errors.show("text"))
                    div.actions { button type="submit" { (w::IMPORT_BUTTON) } }
                }
            }
            div.card {
                h2 { (w::IMPORT_COLUMNS) }
                dl.facts.columns {
                    dt { code { "name" } } dd { (w::IMPORT_COL_NAME) }
                    dt { code { "email" } } dd { (w::IMPORT_COL_EMAIL) }
                    dt { code { "products" } } dd { (w::IMPORT_COL_PRODUCTS) }
                }
                p.hint { (w::IMPORT_HEADER_LINE) }
                pre.sample { "name,email,products\nJane Doe,jane@example.com,cad;cam\nJohn Roe,john@example.com,*\nAnn Lee,ann@example.com," }
                @if !products.is_empty() {
                    p.hint { (w::IMPORT_KEYS) " " @for (i, k) in products.iter().enumerate() { @if i > 0 { ", " } code { (k) } } }
                }
            }
        }
        h2 { (w::IMPORT_RECENT) }
        @if jobs.is_empty() {
            p.muted { (w::IMPORT_NONE) }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { "#" } th { (w::WHEN) } th { (w::STATUS) } th.num { (w::IMPORT_LINES) }
                    th.num { (w::IMPORT_APPLIED) } th.num { (w::IMPORT_UNCHANGED) } th.num { (w::IMPORT_REFUSED) }
                } }
                tbody {
                    @for j in jobs {
                        tr data-import=(j.id) {
                            td { a href=(import_href(team, j.id)) { (w::IMPORT) " " (j.id) } }
                            td { (time(j.created_at)) }
                            td { (status_badge(j.status)) }
                            td.num { (tokens(j.done)) " / " (tokens(j.total)) }
                            td.num { (tokens(j.applied)) }
                            td.num { (tokens(j.unchanged)) }
                            td.num { (tokens(j.refused)) }
                        }
                    }
                }
            } }
        }
    };
    console_page(staff, Some(team), Tab::Import, w::IMPORT_TITLE, body)
}

async fn show(
    state: &AppState,
    staff: &Staffer,
    team: &Team,
    form: &UploadForm,
    errors: &FieldErrors,
) -> PageResult<Markup> {
    let jobs = state.store.import_jobs(team.id, RECENT_IMPORTS).await?;
    let products: Vec<String> = state
        .store
        .list_products()
        .await?
        .iter()
        .map(|p| p.key.to_string())
        .collect();
    Ok(render_page(staff, team, &products, &jobs, form, errors))
}

pub async fn page(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let markup = show(
        &state,
        &staff,
        &team,
        &UploadForm::default(),
        &FieldErrors::default(),
    )
    .await?;
    Ok(markup.into_response())
}

/// The parts of the upload form.
#[derive(Default)]
struct Upload {
    csrf: Option<String>,
    file: Option<(String, axum::body::Bytes)>,
    text: String,
}

fn too_large() -> String {
    w::import_too_large(MAX_IMPORT_BYTES / (1024 * 1024))
}

/// Reads the form's parts. A body over the limit stops the reading; what was read so far (the
/// CSRF token comes first) is still checked before the refusal is shown.
async fn read_upload(multipart: &mut Multipart) -> (Upload, Option<MultipartError>) {
    let mut upload = Upload::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return (upload, None),
            Err(e) => return (upload, Some(e)),
        };
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().unwrap_or("").to_owned();
        let read = field.bytes().await;
        let bytes = match read {
            Ok(b) => b,
            Err(e) => return (upload, Some(e)),
        };
        match name.as_str() {
            "csrf" => upload.csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "file" => upload.file = Some((file_name, bytes)),
            "text" => upload.text = String::from_utf8_lossy(&bytes).into_owned(),
            _ => {}
        }
    }
}

/// Whether `data` can be a CSV file: text (UTF-8), not a spreadsheet or an image.
fn looks_like_text(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok() && !data.contains(&0)
}

/// R-USR-5: queues the file (or the pasted lines) as `POST /v1/teams/{team}/flex/import` does,
/// then opens the import's page.
pub async fn upload(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
    multipart: Result<Multipart, MultipartRejection>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let mut multipart = multipart.map_err(|e| PageError::BadForm(e.body_text()))?;
    let (upload, failure) = read_upload(&mut multipart).await;
    check_csrf(upload.csrf.as_deref(), &staff.csrf)?;
    let form = UploadForm {
        text: upload.text.clone(),
    };
    let file = upload
        .file
        .as_ref()
        .map(|(_, b)| b.clone())
        .filter(|b| !b.is_empty());
    let text = Some(upload.text.as_str()).filter(|t| !t.trim().is_empty());
    let errors = match (failure, file, text) {
        (Some(e), _, _) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            FieldErrors::one("file", too_large())
        }
        (Some(e), _, _) => return Err(PageError::BadForm(e.body_text())),
        (None, None, None) => match &upload.file {
            Some((name, _)) if !name.is_empty() => {
                FieldErrors::one("file", w::import_empty_file(name))
            }
            _ => FieldErrors::one("file", w::IMPORT_NOTHING),
        },
        (None, Some(_), Some(_)) => FieldErrors::one("file", w::IMPORT_BOTH),
        (None, Some(data), None) if data.len() > MAX_IMPORT_BYTES => {
            FieldErrors::one("file", too_large())
        }
        (None, Some(data), None) if !looks_like_text(&data) => {
            FieldErrors::one("file", w::IMPORT_NOT_TEXT)
        }
        (None, None, Some(t)) if t.len() > MAX_IMPORT_BYTES => {
            FieldErrors::one("text", too_large())
        }
        (None, file, text) => {
            let (field, data) = match (&file, text) {
                (Some(d), _) => ("file", d.to_vec()),
                (None, t) => ("text", t.unwrap_or("").as_bytes().to_vec()),
            };
            match queue_csv(&state, team.id, &data, 1).await {
                Ok(job) => return Ok(see_other(&import_href(&team, job.id))),
                Err(e) => refusal(field, e)?,
            }
        }
    };
    let markup = show(&state, &staff, &team, &form, &errors).await?;
    Ok(refused(markup))
}

#[derive(Deserialize, Default)]
pub struct ImportQuery {
    after: Option<String>,
    outcome: Option<String>,
}

fn outcome_badge(o: LineOutcome) -> Markup {
    match o {
        LineOutcome::Applied => html! { span.badge.active { (w::IMPORT_APPLIED) } },
        LineOutcome::Unchanged => html! { span.badge { (w::IMPORT_UNCHANGED) } },
        LineOutcome::Refused => html! { span.badge.expired { (w::IMPORT_REFUSED) } },
    }
}

fn parse_outcome(s: Option<&str>) -> Option<LineOutcome> {
    match s {
        Some("applied") => Some(LineOutcome::Applied),
        Some("unchanged") => Some(LineOutcome::Unchanged),
        Some("refused") => Some(LineOutcome::Refused),
        _ => None,
    }
}

/// The share of the lines done, as a whole percentage.
fn percent(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(100)
}

fn render_import(
    staff: &Staffer,
    team: &Team,
    job: &ImportJob,
    lines: &[ImportLine],
    after: u64,
    next_after: Option<u64>,
    only: Option<LineOutcome>,
) -> Markup {
    let base = import_href(team, job.id);
    let link = |after: u64, only: Option<LineOutcome>| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if after > 0 {
            pairs.push(("after", after.to_string()));
        }
        if let Some(o) = only {
            pairs.push(("outcome", o.as_str().to_owned()));
        }
        if pairs.is_empty() {
            format!("{base}#lines")
        } else {
            format!(
                "{base}?{}#lines",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        }
    };
    let share = percent(job.done, job.total);
    let body = html! {
        @if job.status.is_open() {
            // A refresh, not a script: the page follows the import with JavaScript off too.
            meta http-equiv="refresh" content=(REFRESH_SECONDS);
        }
        div.card {
            p { (status_badge(job.status)) " " (w::import_progress(job.done, job.total)) }
            progress id="progress" value=(job.done) max=(job.total.max(1)) aria-label=(w::import_percent(share)) { (share) " %" }
            @if job.status.is_open() {
                p.muted role="status" { (w::import_refreshing(REFRESH_SECONDS)) }
            }
            dl.facts {
                dt { (w::IMPORT_APPLIED) } dd id="applied" { (tokens(job.applied)) }
                dt { (w::IMPORT_UNCHANGED) } dd id="unchanged" { (tokens(job.unchanged)) }
                dt { (w::IMPORT_REFUSED) } dd id="refused" { (tokens(job.refused)) }
                dt { (w::IMPORT_QUEUED_AT) } dd { (time(job.created_at)) }
                @if let Some(t) = job.finished_at { dt { (w::IMPORT_FINISHED_AT) } dd { (time(t)) } }
            }
            @if let Some((code, detail)) = &job.error {
                p.notice.bad role="alert" { (detail) " (" (code) ")" }
            }
            p.hint { (w::IMPORT_NO_EMAIL) }
        }
        h2 id="lines" { (w::IMPORT_OUTCOMES) }
        nav.filters aria-label=(w::IMPORT_OUTCOMES) {
            @for (o, label) in [(None, w::IMPORT_ALL_LINES), (Some(LineOutcome::Applied), w::IMPORT_APPLIED),
                                (Some(LineOutcome::Unchanged), w::IMPORT_UNCHANGED), (Some(LineOutcome::Refused), w::IMPORT_REFUSED)] {
                a href=(link(0, o)) aria-current=[(o == only).then_some("page")] { (label) }
            }
        }
        @if lines.is_empty() {
            p.muted { (w::IMPORT_NO_LINES) }
        } @else {
            div.table-wrap { table {
                thead { tr { th.num { (w::IMPORT_LINE) } th { (w::IMPORT_OUTCOME) } th { (w::IMPORT_REASON) } } }
                tbody {
                    @for l in lines {
                        tr data-line=(l.line) data-outcome=(l.outcome.as_str()) {
                            td.num { (l.line) }
                            td { (outcome_badge(l.outcome)) }
                            td { @if let Some(r) = &l.reason { (r) } }
                        }
                    }
                }
            } }
        }
        nav.pager aria-label=(w::PAGE) {
            @if after > 0 { a href=(link(0, only)) { "← " (w::IMPORT_FIRST_LINES) } }
            @if let Some(n) = next_after { a href=(link(n, only)) rel="next" { (w::IMPORT_NEXT_LINES) " →" } }
        }
        p { a href=(format!("/console/teams/{}/import", team.id)) { "← " (w::IMPORT_BACK) } }
    };
    console_page(
        staff,
        Some(team),
        Tab::Import,
        &w::import_title(job.id),
        body,
    )
}

pub async fn detail(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath((team, id)): PagePath<(i64, jeton_core::ImportId)>,
    PageQuery(query): PageQuery<ImportQuery>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let after = query
        .after
        .as_deref()
        .and_then(|a| a.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let only = parse_outcome(query.outcome.as_deref());
    // One more than a page tells whether another follows.
    let (job, mut lines) = state
        .store
        .import_with_outcomes(team.id, id, after, LINES_PER_PAGE + 1, only)
        .await?;
    let next_after = if lines.len() > LINES_PER_PAGE {
        lines.truncate(LINES_PER_PAGE);
        lines.last().map(|l| l.line)
    } else {
        None
    };
    Ok(render_import(&staff, &team, &job, &lines, after, next_after, only).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_a_whole_percentage() {
        assert_eq!(percent(0, 0), 100);
        assert_eq!(percent(0, 3), 0);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(3, 3), 100);
        assert_eq!(percent(5, 3), 100);
    }

    #[test]
    fn only_text_can_be_a_csv_file() {
        assert!(looks_like_text(b"Jane,jane@example.com\n"));
        assert!(looks_like_text("Zoë,zoe@example.com".as_bytes()));
        assert!(!looks_like_text(b"PK\x03\x04\x00\x00"));
        assert!(!looks_like_text(&[0xff, 0xfe, b'a']));
    }

    #[test]
    fn outcome_filters_are_the_three_outcomes() {
        assert_eq!(parse_outcome(Some("refused")), Some(LineOutcome::Refused));
        assert_eq!(parse_outcome(Some("bogus")), None);
        assert_eq!(parse_outcome(None), None);
    }
}

//! The API's documents: `GET /v1/openapi.json` is a valid OpenAPI 3.1 document whose every
//! operation a reader can use (a unique operationId, a one-line summary, an example, a
//! description of every answer and of who may call), and `GET /docs` shows it as a page.
//!
//! The validity check runs `openapi-spec-validator` (PyPI), and the examples are checked against
//! their schemas with the `openapi-schema-validator` it installs (`openapi_examples.py`). When
//! the module is missing these checks print that they were skipped, unless
//! `JETON_TEST_OPENAPI=required` (CI installs it and sets it), when they fail instead. The rules
//! on the operations are checked here in Rust, with or without Python.
//!
//! The document does not depend on the database, so these tests run on SQLite alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Http, app};
use jeton_store::testing::TestDb;
use serde_json::Value;

/// Set to `required` to make the validator's checks fail rather than skip when it is missing.
const REQUIRED_VAR: &str = "JETON_TEST_OPENAPI";

/// The roles an operation's security requirement may name (see `crate::openapi`).
const ROLES: [&str; 3] = ["operator", "team_admin", "user"];

async fn document() -> Value {
    let app = app(TestDb::sqlite().await).await;
    let doc = Http::with_key(&app, None).get("/v1/openapi.json").await;
    let doc = doc.ok(200).clone();
    app.shutdown().await;
    doc
}

/// Every operation of the document: (`METHOD /path`, operation).
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            all.push((format!("{} {path}", method.to_uppercase()), op));
        }
    }
    all
}

/// Whether a request body or answer shows an example of its content.
fn has_example(content: &Value) -> bool {
    content.as_object().is_some_and(|types| {
        types.values().any(|media| {
            media.get("example").is_some()
                || media["examples"].as_object().is_some_and(|e| !e.is_empty())
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_says_what_it_does_with_an_example() {
    let doc = document().await;
    let declared_tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    let ops = operations(&doc);
    for (name, op) in &ops {
        match op["operationId"].as_str() {
            Some(id) if !id.is_empty() => ids.entry(id.to_owned()).or_default().push(name.clone()),
            _ => wrong.push(format!("{name}: no operationId")),
        }
        // utoipa takes the doc comment's first paragraph as the summary: a handler whose first
        // paragraph runs on makes a summary nobody can scan.
        match op["summary"].as_str() {
            Some(s) if !s.trim().is_empty() && !s.contains('\n') && s.len() <= 120 => {}
            s => wrong.push(format!(
                "{name}: the summary must be one line of at most 120 characters (the doc \
                 comment's first paragraph), got {s:?}"
            )),
        }
        let tags = op["tags"].as_array().cloned().unwrap_or_default();
        if tags.is_empty() {
            wrong.push(format!("{name}: no tag"));
        }
        for tag in &tags {
            if !declared_tags.contains(tag.as_str().unwrap_or_default()) {
                wrong.push(format!(
                    "{name}: tag {tag} is not declared in ApiDoc's tags"
                ));
            }
        }
        for requirement in op["security"].as_array().into_iter().flatten() {
            for roles in requirement.as_object().unwrap().values() {
                let roles = roles.as_array().unwrap();
                if roles.is_empty() {
                    wrong.push(format!(
                        "{name}: the security requirement names no role ({ROLES:?})"
                    ));
                }
                for role in roles {
                    if !ROLES.contains(&role.as_str().unwrap_or_default()) {
                        wrong.push(format!("{name}: unknown role {role}, not one of {ROLES:?}"));
                    }
                }
            }
        }
        let mut example = has_example(&op["requestBody"]["content"]);
        for (status, response) in op["responses"].as_object().unwrap() {
            if response["description"]
                .as_str()
                .is_none_or(|d| d.trim().is_empty())
            {
                wrong.push(format!("{name} {status}: no description"));
            }
            example |= has_example(&response["content"]);
        }
        if !example {
            wrong.push(format!(
                "{name}: no example, of the request body or of an answer"
            ));
        }
    }
    for (id, names) in &ids {
        if names.len() > 1 {
            wrong.push(format!(
                "operationId {id} is used {} times: {names:?}",
                names.len()
            ));
        }
    }
    assert!(ops.len() > 50, "{} operations", ops.len());
    assert!(
        wrong.is_empty(),
        "{} things to fix in the OpenAPI annotations:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Whether Python can import `module`.
fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A file that is removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `python3 args…` and fails the test with its output unless it succeeds (the output is
/// printed either way, for `--nocapture`).
fn run_python(what: &str, args: &[&std::ffi::OsStr]) {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 runs");
    print!("{what}: {}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{what} refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_passes_openapi_spec_validator_and_its_examples_fit() {
    if !python_has("openapi_spec_validator") {
        if std::env::var(REQUIRED_VAR).is_ok_and(|v| v == "required") {
            panic!(
                "openapi-spec-validator is missing and {REQUIRED_VAR}=required: \
                 python3 -m pip install openapi-spec-validator"
            );
        }
        eprintln!(
            "skipped: checking the OpenAPI document needs openapi-spec-validator \
             (python3 -m pip install openapi-spec-validator)"
        );
        return;
    }
    let doc = document().await;
    let file =
        TempFile(std::env::temp_dir().join(format!("jeton-openapi-{}.json", std::process::id())));
    std::fs::write(&file.0, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    run_python(
        "openapi-spec-validator",
        &[
            "-m".as_ref(),
            "openapi_spec_validator".as_ref(),
            "--validation-errors".as_ref(),
            "all".as_ref(),
            file.0.as_os_str(),
        ],
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi_examples.py");
    run_python(
        "openapi_examples.py",
        &[script.as_os_str(), file.0.as_os_str()],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_page_shows_the_document() {
    let app = app(TestDb::sqlite().await).await;
    let anon = Http::with_key(&app, None);
    let page = anon.get("/docs").await;
    assert_eq!(page.status.as_u16(), 200, "{page:?}");
    assert!(page.content_type.starts_with("text/html"), "{page:?}");
    let html = page.body.as_str().unwrap();
    for text in [
        // The link to the document it is made from.
        "href=\"/v1/openapi.json\"",
        // An operation: its method, path, summary, parameters, body, answers and callers.
        "POST",
        "/v1/teams/{team}/packs",
        "Record a purchase of tokens (operator): a new pack valid one calendar year.",
        "Idempotency-Key",
        "NewPack",
        "&quot;tokens&quot;: 1000",
        "201",
        "The new pack",
        "operator",
        // The sign-in, which needs no key.
        "/v1/auth/token",
        "Sign a user in with email and password: a user token, valid 30 days.",
        // A tag's description heads its group.
        "Products and their rates",
    ] {
        assert!(html.contains(text), "/docs lacks {text:?}");
    }
    let doc = anon.get("/v1/openapi.json").await;
    for (name, op) in operations(doc.ok(200)) {
        let summary = op["summary"].as_str().unwrap();
        assert!(
            html.contains(&maud::html! { (summary) }.into_string()),
            "/docs lacks {name}: {summary:?}"
        );
    }
    app.shutdown().await;
}

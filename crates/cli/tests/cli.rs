//! End-to-end: the real `jeton` binary against a real server on a fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::path::Path;
use std::process::Output;

use jeton_server::testing::{TEST_START, TestApp, spawn_app, spawn_without_test_clock, test_db};
use jeton_store::Backend;
use serde_json::Value;
use tempfile::TempDir;

/// What one run of `jeton` did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts the exit code `code` (an answer printed, then a non-zero status) and returns
    /// stdout.
    fn printed(&self, code: i32) -> &str {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        &self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    fn json(&self) -> Value {
        let out = self.ok();
        serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }

    /// Asserts failure with `code` and a one-line `error: …` on stderr; returns stderr.
    fn fails(&self, code: i32) -> &str {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.starts_with("error: "),
            "stderr should start with `error: `:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        &self.stderr
    }
}

/// Runs `jeton` in `cwd` with nothing from the caller's environment that it reads.
async fn jeton_in(cwd: &Path, args: &[&str]) -> Run {
    jeton_with(cwd, args, &[], None).await
}

/// Like [`jeton_in`], with `env` set and `stdin` written to its standard input.
async fn jeton_with(cwd: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_jeton"));
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("JETON_SERVER")
        .env_remove("JETON_KEY")
        .env_remove("JETON_DATA_DIR")
        .env_remove("JETON_PASSWORD")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run the jeton binary");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = child.wait_with_output().await.expect("jeton ends");
    Run::from(output)
}

/// A server and a scratch directory to run `jeton` in.
struct Env {
    app: TestApp,
    dir: TempDir,
}

impl Env {
    async fn start(backend: Backend) -> Option<Env> {
        Some(Env {
            app: spawn_app(backend).await?,
            dir: tempfile::tempdir().expect("temporary directory"),
        })
    }

    async fn sqlite() -> Env {
        Env::start(Backend::Sqlite)
            .await
            .expect("SQLite is always available")
    }

    /// `jeton ARGS --server URL --key OPERATOR_KEY`.
    async fn run(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend([
            "--server",
            &self.app.base_url,
            "--key",
            &self.app.operator_key,
        ]);
        jeton_in(self.dir.path(), &all).await
    }

    /// `jeton ARGS --server URL --key KEY` with `env` set and `stdin` given.
    async fn run_as(
        &self,
        key: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Run {
        let mut all = args.to_vec();
        all.extend(["--server", &self.app.base_url, "--key", key]);
        jeton_with(self.dir.path(), &all, env, stdin).await
    }

    /// `jeton ARGS --server URL` with no key given.
    async fn run_without_key(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--server", &self.app.base_url]);
        jeton_in(self.dir.path(), &all).await
    }
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

async fn walkthrough(env: Env) {
    // Catalogue.
    let out = env
        .run(&[
            "products",
            "add",
            "autocad",
            "--name",
            "AutoCAD",
            "--daily-rate",
            "7",
            "--result-rate",
            "render.cloud=5",
            "--idle-aware",
            "--item",
            "2027,windows,https://downloads.example.com/autocad-2027.exe",
        ])
        .await;
    let text = out.ok();
    assert!(
        text.contains("Added product autocad") && text.contains("render.cloud=5"),
        "{text}"
    );
    let out = env.run(&["products", "list"]).await;
    let text = out.ok();
    assert!(
        text.contains("autocad") && text.contains("AutoCAD"),
        "{text}"
    );
    let products = env.run(&["products", "list", "--json"]).await.json();
    assert_eq!(products[0]["key"], "autocad");
    assert_eq!(products[0]["daily_rate"], 7);
    assert_eq!(products[0]["result_rates"]["render.cloud"], 5);
    assert_eq!(products[0]["items"][0]["platform"], "windows");
    let out = env
        .run(&["products", "update", "autocad", "--daily-rate", "9"])
        .await;
    assert!(
        out.ok().contains("Updated product autocad"),
        "{}",
        out.stdout
    );
    let detail = env
        .run(&["products", "show", "autocad", "--json"])
        .await
        .json();
    assert_eq!(detail["daily_rate"], 9);
    let rates: Vec<i64> = detail["rate_history"]
        .as_array()
        .expect("rate history")
        .iter()
        .map(|r| r["daily_rate"].as_i64().unwrap())
        .collect();
    assert!(
        rates.contains(&7) && rates.contains(&9),
        "history keeps both rates: {detail}"
    );
    let out = env.run(&["products", "show", "autocad"]).await;
    assert!(out.ok().contains("Rate history"), "{}", out.stdout);

    // Teams, by id and by name.
    let design = id(&env
        .run(&["teams", "create", "Design", "--json"])
        .await
        .json());
    let out = env.run(&["teams", "create", "Ops"]).await;
    assert!(out.ok().starts_with("Created team "), "{}", out.stdout);
    let out = env.run(&["teams", "list"]).await;
    let text = out.ok();
    assert!(text.contains("Design") && text.contains("Ops"), "{text}");
    let ops = id(&env
        .run(&["teams", "show", "--team", "Ops", "--json"])
        .await
        .json());
    assert_ne!(design, ops);

    // A team takes a new name; a blank one is refused with the reason.
    let out = env
        .run(&["teams", "rename", "--team", "Ops", "Operations"])
        .await;
    assert_eq!(
        out.ok().trim(),
        format!("Renamed team Ops to Operations (id {ops})."),
        "{}",
        out.stdout
    );
    let renamed = env
        .run(&["teams", "show", "--team", "Operations", "--json"])
        .await;
    assert_eq!(id(&renamed.json()), ops);
    let out = env
        .run(&["teams", "rename", "--team", "Operations", " "])
        .await;
    assert!(
        out.fails(1).contains("team name is empty"),
        "{}",
        out.stderr
    );
    let ops_id = ops.to_string();
    env.run(&["teams", "rename", "--team", &ops_id, "Ops"])
        .await
        .ok();

    // A purchase repeated with the same idempotency key is one pack.
    let design_id = design.to_string();
    let buy = [
        "packs",
        "buy",
        "--team",
        &design_id,
        "1000",
        "--idempotency-key",
        "order-1",
        "--json",
    ];
    let first = env.run(&buy).await.json();
    let again = env.run(&buy).await.json();
    assert_eq!(id(&first), id(&again), "the same key buys one pack");
    assert_eq!(first["tokens"], 1000);
    assert_eq!(
        (&first["replayed"], &again["replayed"]),
        (&Value::Bool(false), &Value::Bool(true))
    );
    // Said in words too: the repeat is not a second purchase.
    let out = env.run(&buy[..buy.len() - 1]).await;
    let text = out.ok();
    assert!(
        text.starts_with(&format!(
            "Already recorded: pack {} for team Design was bought with this idempotency key \
             before; nothing was bought now.",
            id(&first)
        )),
        "{text}"
    );
    let balance = balance_json(&env, "Design").await;
    assert_eq!(balance["available"], 1000, "three runs, one pack");

    let out = env.run(&["packs", "buy", "--team", "Design", "50"]).await;
    assert!(
        out.ok().starts_with("Pack ") && !out.stdout.contains("Already"),
        "{}",
        out.stdout
    );

    let balance = balance_json(&env, "Design").await;
    assert_eq!(balance["available"], 1050);
    assert_eq!(balance["packs"].as_array().unwrap().len(), 2, "{balance}");
    let out = env.run(&["balance", "--team", &design_id]).await;
    let text = out.ok();
    assert!(
        text.starts_with("Design: 1050 tokens of 1050 available"),
        "a team given by id is shown by name: {text}"
    );
    assert!(
        text.contains("days left") && text.contains("2027-01-05"),
        "{text}"
    );

    // Moves keep expiry; the ledger shows both sides.
    let out = env
        .run(&["move", "300", "--team", "Design", "--to-team", "Ops"])
        .await;
    let text = out.ok();
    assert!(
        text.starts_with("Moved 300 tokens from Design to Ops (move "),
        "{text}"
    );
    let ops_balance = balance_json(&env, "Ops").await;
    assert_eq!(ops_balance["available"], 300);

    let events = env
        .run(&["events", "--team", "Design", "--json"])
        .await
        .json();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"purchased") && kinds.contains(&"moved_out"),
        "{events}"
    );
    let sum: i64 = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 750, "the events add up to the balance");
    let out = env
        .run(&[
            "events",
            "--team",
            "Design",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-05",
        ])
        .await;
    let text = out.ok();
    assert!(
        text.contains("purchased") && text.contains("+1000"),
        "{text}"
    );
    assert!(text.contains("-") && text.contains("moved_out"), "{text}");
    let out = env
        .run(&["events", "--team", "Design", "--to", "2025-12-31"])
        .await;
    assert!(out.ok().contains("No events"), "{}", out.stdout);

    let out = env.run(&["audit", "--team", "Design"]).await;
    assert!(
        out.ok().starts_with("Design: the ledger adds up"),
        "{}",
        out.stdout
    );

    // Merge Ops back into Design.
    let out = env
        .run(&["teams", "merge", "--team", "Ops", "--into-team", "Design"])
        .await;
    assert!(
        out.ok().starts_with(
            "Merged team Ops into team Design: 300 tokens moved in 2 pack(s); team Ops is closed."
        ),
        "{}",
        out.stdout
    );
    let out = env.run(&["teams", "show", "--team", &ops_id]).await;
    assert!(
        out.ok()
            .contains(&format!("closed (merged into Design, id {design})")),
        "{}",
        out.stdout
    );
    let balance = balance_json(&env, "Design").await;
    assert_eq!(balance["available"], 1050, "nothing lost in the merge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_sqlite() {
    walkthrough(Env::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_postgres() {
    if let Some(env) = Env::start(Backend::Postgres).await {
        walkthrough(env).await;
    }
}

/// The Flex user of `users` whose email is `email`.
fn user_by_email<'a>(users: &'a Value, email: &str) -> &'a Value {
    users
        .as_array()
        .expect("a list of users")
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("no {email} in {users}"))
}

async fn users_flow(env: Env) {
    for (key, name) in [("autocad", "AutoCAD"), ("revit", "Revit")] {
        env.run(&[
            "products",
            "add",
            key,
            "--name",
            name,
            "--daily-rate",
            "7",
            "--item",
            &format!("2027,windows,https://downloads.example.com/{key}.exe"),
        ])
        .await
        .ok();
    }
    let team = id(&env
        .run(&["teams", "create", "Design", "--json"])
        .await
        .json());

    // R-USR-2: one invitation.
    let out = env
        .run(&[
            "users",
            "assign",
            "Jane Doe <jane@example.com>",
            "--team",
            "Design",
            "--products",
            "autocad",
        ])
        .await;
    let text = out.ok();
    assert!(
        text.contains("Invited Jane Doe <jane@example.com>") && text.contains("7 days"),
        "{text}"
    );
    let out = env.run(&["users", "list", "--team", "Design"]).await;
    let text = out.ok();
    assert!(
        text.contains("jane@example.com") && text.contains("invited") && text.contains("autocad"),
        "{text}"
    );
    assert!(text.contains("2026-01-12"), "the invitation expiry: {text}");
    let users = env
        .run(&["users", "list", "--team", "Design", "--json"])
        .await
        .json();
    let jane = user_by_email(&users, "jane@example.com");
    assert_eq!(jane["status"], "invited");
    assert_eq!(jane["products"], serde_json::json!(["autocad"]));
    let jane_id = id(&serde_json::json!({ "id": jane["user_id"] }));

    // Several entries at once: one line each, and exit 1 when one failed.
    let out = env
        .run(&[
            "users",
            "assign",
            "--team",
            "Design",
            "John Roe <john@example.com>, Nobody Here\njane@example.com",
        ])
        .await;
    let err = out.fails(1);
    assert!(
        err.contains("2 of 3 entries could not be assigned"),
        "{err}"
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ok     John Roe <john@example.com>: invited (user "),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with("error  Nobody Here: ") && lines[1].contains("invalid_invitee"),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with("error  jane@example.com: ") && lines[2].contains("already_"),
        "{}",
        out.stdout
    );

    // R-ACC-3: default assignments replace selections while on.
    let out = env
        .run(&["defaults", "set", "autocad,revit", "--team", "Design"])
        .await;
    assert!(
        out.ok().contains("on for team") && out.stdout.contains("autocad, revit"),
        "{}",
        out.stdout
    );
    let users = env
        .run(&["users", "list", "--team", "Design", "--json"])
        .await
        .json();
    assert_eq!(
        user_by_email(&users, "jane@example.com")["effective_products"],
        serde_json::json!(["autocad", "revit"])
    );
    let defaults = env
        .run(&["defaults", "show", "--team", "Design", "--json"])
        .await
        .json();
    assert_eq!(defaults["enabled"], true);
    let out = env.run(&["defaults", "clear", "--team", "Design"]).await;
    assert!(out.ok().contains("off for team"), "{}", out.stdout);
    let users = env
        .run(&["users", "list", "--team", "Design", "--json"])
        .await
        .json();
    assert_eq!(
        user_by_email(&users, "jane@example.com")["effective_products"],
        serde_json::json!(["autocad"]),
        "the user's own selection applies again"
    );

    // R-USR-5: an import in parts, with the file's line numbers.
    let csv = "name,email,products\n\
               Ann Bee,ann@example.com,autocad\n\
               Bob Cee,bob@example.com,*\n\
               Carl Dee,not-an-email\n\
               ,nobody@example.com\n\
               Dan Eff,dan@example.com,autocad;revit\n\
               Eve Gee,eve@example.com\n";
    std::fs::write(env.dir.path().join("people.csv"), csv).unwrap();
    let import = [
        "import",
        "people.csv",
        "--team",
        "Design",
        "--chunk-lines",
        "2",
    ];
    // Refused lines: the outcomes, then a last line saying how many, and exit status 3.
    let out = env.run(&import).await;
    let text = out.printed(3);
    assert!(
        text.contains("4 applied, 0 unchanged, 2 lines rejected"),
        "{text}"
    );
    assert!(
        text.contains("  line 4: ") && text.contains("  line 5: "),
        "{text}"
    );
    assert_eq!(
        out.stderr.trim_end(),
        "error: 2 lines were refused (listed above); the other 4 lines were applied. Fix the \
         refused lines and import the file again: applied lines come back as unchanged.",
        "no progress bar off a terminal, and the count last"
    );
    let again = env.run(&[&import[..], &["--json"]].concat()).await;
    let again: Value = serde_json::from_str(again.printed(3)).unwrap();
    assert_eq!(again["applied"], 0, "{again}");
    assert_eq!(
        again["unchanged"], 4,
        "re-importing changes nothing: {again}"
    );
    let lines: Vec<u64> = again["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![4, 5]);
    // A file without refused lines exits 0.
    std::fs::write(
        env.dir.path().join("good.csv"),
        "Ann Bee,ann@example.com,autocad\n",
    )
    .unwrap();
    let out = env.run(&["import", "good.csv", "--team", "Design"]).await;
    assert!(
        out.ok()
            .contains("0 applied, 1 unchanged, no line rejected"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    // Each part was an import of its own, all done; the parts of lines 3-4 and 5-6 each hold
    // one refused line, which their status shows.
    let imports = env
        .run(&["import", "list", "--team", "Design", "--json"])
        .await
        .json();
    let imports = imports.as_array().unwrap();
    assert_eq!(
        imports.len(),
        9,
        "two imports of four parts, and one of a single line: {imports:?}"
    );
    assert!(imports.iter().all(|i| i["status"] == "done"), "{imports:?}");
    let text = env.run(&["import", "list", "--team", "Design"]).await;
    assert!(text.ok().contains("done"), "{}", text.stdout);
    let mut statuses = String::new();
    for part in imports.iter().skip(1).take(4).filter(|i| i["refused"] == 1) {
        let part = id(part).to_string();
        let out = env
            .run(&["import", "status", &part, "--team", "Design"])
            .await;
        let text = out.ok();
        assert!(text.contains("done: every line has its outcome"), "{text}");
        assert!(text.contains("2/2 lines (100%)"), "{text}");
        statuses.push_str(text);
    }
    assert!(
        statuses.contains("  line 4: refused (") && statuses.contains("  line 5: refused ("),
        "{statuses}"
    );
    // Without waiting: the ids, and where to follow them; the status tells the rest.
    let out = env
        .run(&["import", "people.csv", "--team", "Design", "--no-wait"])
        .await;
    let text = out.ok();
    assert!(
        text.contains("the server applies it in the background")
            && text.contains("Follow it with: jeton import status"),
        "{text}"
    );
    let queued = env
        .run(&[
            "import",
            "people.csv",
            "--team",
            "Design",
            "--no-wait",
            "--json",
        ])
        .await
        .json();
    let queued_id = id(&queued["imports"][0]).to_string();
    assert_eq!(queued["imports"][0]["total"], 6, "{queued}");
    env.app.run_imports().await;
    let status = env
        .run(&[
            "import",
            "status",
            &queued_id,
            "--team",
            "Design",
            "--all-lines",
            "--json",
        ])
        .await
        .json();
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["unchanged"], 4, "{status}");
    let outcomes: Vec<(u64, &str)> = status["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["line"].as_u64().unwrap(), o["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (2, "unchanged"),
            (3, "unchanged"),
            (4, "refused"),
            (5, "refused"),
            (6, "unchanged"),
            (7, "unchanged")
        ]
    );
    let out = env
        .run(&["import", "status", "999999", "--team", "Design"])
        .await;
    assert!(
        out.fails(1).contains("import 999999 not found"),
        "{}",
        out.stderr
    );
    let out = env
        .run(&["import", "missing.csv", "--team", "Design"])
        .await;
    assert!(
        out.fails(1).contains("cannot read missing.csv"),
        "{}",
        out.stderr
    );

    // Invitations: emailed for an assignment, not for an import.
    let out = env.run(&["invitations", "list", "--team", "Design"]).await;
    let text = out.ok();
    assert!(
        text.contains("jane@example.com") && text.contains("no (import)"),
        "{text}"
    );
    let invitations = env
        .run(&["invitations", "list", "--team", "Design", "--json"])
        .await
        .json();
    let ann = invitations
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "ann@example.com")
        .unwrap_or_else(|| panic!("ann is invited: {invitations}"));
    assert_eq!(ann["emailed"], false);
    let out = env
        .run(&[
            "invitations",
            "resend",
            &id(ann).to_string(),
            "--team",
            "Design",
        ])
        .await;
    assert!(out.ok().contains("Resent invitation"), "{}", out.stdout);

    // The invitation email waits in the outbox (no SMTP here); its link accepts.
    let outbox = env
        .run(&["outbox", "--recipient", "jane@example.com", "--json"])
        .await
        .json();
    let email = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "invitation")
        .unwrap_or_else(|| panic!("an invitation to jane: {outbox}"));
    assert_eq!(email["status"], "pending");
    assert!(
        email["body"]
            .as_str()
            .unwrap()
            .contains("accept?secret=(hidden)"),
        "the outbox never shows a link's secret: {email}"
    );
    let secret = env.app.invitation_secret("jane@example.com").await;
    let out = env.run(&["outbox", "--status", "pending"]).await;
    assert!(out.ok().contains("jane@example.com"), "{}", out.stdout);
    // Only a message the sender gave up on can be sent again; the CLI says which ones can.
    let out = env
        .run(&["outbox", "retry", &email["id"].to_string()])
        .await;
    let err = out.fails(1);
    assert!(
        err.contains("only failed messages") && err.contains("jeton outbox --status failed"),
        "{err}"
    );
    let err = env
        .run(&["outbox", "retry", "999999"])
        .await
        .fails(1)
        .to_owned();
    assert!(err.contains("not found"), "{err}");
    let out = env.run(&["outbox", "retry", "--all-failed"]).await;
    assert!(out.ok().contains("No failed messages"), "{}", out.stdout);

    let password = "correct horse battery";
    let out = env
        .run_as(
            "",
            &["invitations", "accept", &secret, "--password", password],
            &[],
            None,
        )
        .await;
    let err = out.fails(1);
    assert!(
        err.contains("visible to other users") && !err.contains(password),
        "{err}"
    );
    let accepted = env
        .run_as(
            "",
            &["invitations", "accept", &secret, "--json"],
            &[("JETON_PASSWORD", password)],
            None,
        )
        .await
        .json();
    assert_eq!(accepted["user_id"].as_i64(), Some(jane_id));
    assert_eq!(accepted["team_id"].as_i64(), Some(team));
    let out = env
        .run_as(
            "",
            &[
                "invitations",
                "accept",
                &format!("http://jeton.test/invitations/accept?secret={secret}"),
            ],
            &[("JETON_PASSWORD", password)],
            None,
        )
        .await;
    assert!(
        out.fails(1).contains("HTTP 409"),
        "accepted once: {}",
        out.stderr
    );

    // Signing in gives a user token; the downloads view uses it.
    let out = env
        .run_as(
            "",
            &["login", "--email", "jane@example.com", "--password-stdin"],
            &[],
            Some(&format!("{password}\n")),
        )
        .await;
    let token = out.ok().trim().to_string();
    assert!(
        !token.is_empty() && !token.contains(' '),
        "only the token: {token}"
    );
    assert!(out.stderr.contains("Signed in as user"), "{}", out.stderr);
    let out = env
        .run_as(
            "",
            &["login", "--email", "jane@example.com", "--password-stdin"],
            &[],
            Some("wrong password\n"),
        )
        .await;
    assert!(
        out.fails(1).contains("invalid_credentials"),
        "{}",
        out.stderr
    );

    let me = env
        .run_as(&token, &["me", "show", "--json"], &[], None)
        .await
        .json();
    assert_eq!(me["email"], "jane@example.com");
    let out = env.run_as(&token, &["me", "products"], &[], None).await;
    let text = out.ok();
    assert!(
        text.contains("autocad") && text.contains("flex") && text.contains("autocad.exe"),
        "{text}"
    );
    assert!(!text.contains("revit"), "only what she may open: {text}");
    let out = env.run(&["me", "products"]).await;
    assert!(
        out.fails(1).contains("jeton login"),
        "an operator key is no user token: {}",
        out.stderr
    );

    // R-ACC-1/2 and R-USR-6, naming the user by email.
    let out = env
        .run(&[
            "users",
            "products",
            "jane@example.com",
            "--team",
            "Design",
            "--all",
        ])
        .await;
    assert!(out.ok().contains("all products"), "{}", out.stdout);
    let products = env
        .run_as(&token, &["me", "products", "--json"], &[], None)
        .await
        .json();
    assert_eq!(products.as_array().unwrap().len(), 2, "{products}");
    let out = env
        .run(&[
            "users",
            "products",
            "jane@example.com",
            "--team",
            "Design",
            "--clear",
        ])
        .await;
    assert!(out.ok().contains("no products"), "{}", out.stdout);
    let out = env
        .run(&["users", "remove", "jane@example.com", "--team", "Design"])
        .await;
    assert!(out.ok().contains("Removed user"), "{}", out.stdout);
    let out = env
        .run(&["users", "remove", "jane@example.com", "--team", "Design"])
        .await;
    assert!(out.fails(1).contains("no Flex user"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_flow_sqlite() {
    users_flow(Env::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_flow_postgres() {
    if let Some(env) = Env::start(Backend::Postgres).await {
        users_flow(env).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_refusals_exit_1_with_the_problem_on_stderr() {
    let env = Env::sqlite().await;
    let team = id(&env
        .run(&["teams", "create", "Design", "--json"])
        .await
        .json());
    let team = team.to_string();

    let out = env.run(&["balance", "--team", "999999"]).await;
    let err = out.fails(1);
    assert!(
        err.contains("code not_found") && err.contains("HTTP 404"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);

    let out = env.run(&["balance", "--team", "Nobody"]).await;
    let err = out.fails(1);
    assert!(err.contains("no team is named \"Nobody\""), "{err}");

    for tokens in ["0", "-5"] {
        let out = env.run(&["packs", "buy", "--team", &team, tokens]).await;
        let err = out.fails(1);
        assert!(
            err.contains("code invalid_tokens") && err.contains("HTTP 400"),
            "{err}"
        );
    }
    let out = env
        .run(&["products", "add", "p", "--name", "P", "--daily-rate", "-3"])
        .await;
    assert!(
        out.fails(1).contains("HTTP 4"),
        "the server says why: {}",
        out.stderr
    );

    let out = env
        .run(&["move", "999999", "--team", &team, "--to-team", &team])
        .await;
    out.fails(1);

    let out = jeton_in(
        env.dir.path(),
        &[
            "teams",
            "list",
            "--server",
            &env.app.base_url,
            "--key",
            "jk_wrong",
        ],
    )
    .await;
    let err = out.fails(1);
    assert!(err.contains("HTTP 401") && err.contains("hint:"), "{err}");

    let out = env.run_without_key(&["teams", "list"]).await;
    let err = out.fails(1);
    assert!(
        err.contains("HTTP 401") && err.contains("no API key was given"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_named_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let out = jeton_in(dir.path(), &["teams", "list", "--server", &server]).await;
    let err = out.fails(1);
    assert!(
        err.contains(&format!("cannot reach the Jeton server at {server}")),
        "{err}"
    );
    assert!(
        err.contains("connection refused") && err.contains("jeton serve"),
        "{err}"
    );

    let out = jeton_in(dir.path(), &["health", "--server", "localhost:8080"]).await;
    let err = out.fails(1);
    assert!(err.contains("http://HOST:PORT"), "{err}");

    // An import that cannot send its first part imports nothing, and says so.
    std::fs::write(dir.path().join("people.csv"), "Ann Bee,ann@example.com\n").unwrap();
    let out = jeton_in(
        dir.path(),
        &["import", "people.csv", "--team", "1", "--server", &server],
    )
    .await;
    let err = out.fails(1);
    assert!(
        err.contains("nothing was imported from people.csv") && err.contains("cannot reach"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_local_input_says_the_expected_form() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "products",
                "add",
                "x",
                "--name",
                "X",
                "--daily-rate",
                "1",
                "--result-rate",
                "foo",
            ],
            "TYPE=N",
        ),
        (
            &[
                "products",
                "add",
                "x",
                "--name",
                "X",
                "--daily-rate",
                "1",
                "--item",
                "a,b",
            ],
            "VERSION,PLATFORM,URL",
        ),
        (
            &["events", "--team", "1", "--from", "yesterday"],
            "expected a date as YYYY-MM-DD, got yesterday",
        ),
        (
            &["events", "--team", "1", "--to", "2026-03-01T09:00:00Z"],
            "expected a date as YYYY-MM-DD, got 2026-03-01T09:00:00Z",
        ),
        (
            &["report", "usage", "--team", "1", "--from", "2026-13-01"],
            "expected a date as YYYY-MM-DD, got 2026-13-01",
        ),
        (
            &[
                "subscriptions",
                "add",
                "1",
                "--product",
                "autocad",
                "--from",
                "2026-13-01",
                "--to",
                "2026-12-31",
            ],
            "'--from <DATE>': expected a date as YYYY-MM-DD, got 2026-13-01",
        ),
        (
            &[
                "trials",
                "add",
                "1",
                "--product",
                "autocad",
                "--from",
                "2026-02-01",
                "--to",
                "2026-02-30",
            ],
            "'--to <DATE>': expected a date as YYYY-MM-DD, got 2026-02-30",
        ),
        // The old vocabulary is gone: --from and --to are dates, teams are --…team.
        (
            &["move", "250", "--from", "Design", "--to-team", "Ops"],
            "unexpected argument '--from'",
        ),
        (
            &["teams", "merge", "--team", "Old", "--into", "New"],
            "unexpected argument '--into'",
        ),
        (&["teams", "settings", "Design"], "unexpected argument"),
        (&["clock", "advance", "5w"], "90s, 15m, 25h, 7d"),
        (&["packs", "buy", "--team", "1", "many"], "invalid digit"),
        (
            &["import", "people.csv", "--team", "1", "--chunk-lines", "0"],
            "1..=100000",
        ),
        (&["import", "people.csv"], "--team"),
        (&["import", "--team", "1"], "FILE.csv"),
        (&["import", "status", "x", "--team", "1"], "invalid digit"),
        (&["import", "status", "3"], "--team"),
        (
            &["import", "list", "--team", "1", "--no-wait"],
            "unexpected argument",
        ),
        (&["users", "products", "5", "--team", "1"], "--all"),
        (
            &["users", "products", "5", "--team", "1", "--all", "--clear"],
            "cannot be used with",
        ),
        (&["outbox", "--status", "lost"], "pending"),
        (&["outbox", "retry", "x"], "invalid digit"),
        (&["outbox", "retry"], "required"),
        (
            &["outbox", "retry", "1", "--all-failed"],
            "cannot be used with",
        ),
        (
            &["outbox", "retry", "1", "--status", "sent"],
            "unexpected argument",
        ),
    ];
    for (args, expected) in cases {
        let out = jeton_in(dir.path(), args).await;
        assert_eq!(
            out.code,
            Some(2),
            "{args:?} is a usage error:\n{}",
            out.stderr
        );
        assert!(out.stderr.contains(expected), "{args:?}:\n{}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert!(
            !out.stderr.contains("RFC 3339"),
            "a date is not a time: {}",
            out.stderr
        );
    }

    // Checked here, before any request: no server is needed.
    let out = jeton_in(
        dir.path(),
        &["products", "update", "x", "--server", "http://127.0.0.1:9"],
    )
    .await;
    assert!(out.fails(1).contains("nothing to change"), "{}", out.stderr);
    let out = jeton_in(
        dir.path(),
        &[
            "events",
            "--team",
            "1",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-01",
        ],
    )
    .await;
    assert!(out.fails(1).contains("is after --to"), "{}", out.stderr);
    let no_server = ["--server", "http://127.0.0.1:9"];
    let out = jeton_in(
        dir.path(),
        &[&["login", "--email", "jane@example.com"][..], &no_server].concat(),
    )
    .await;
    let err = out.fails(1);
    assert!(
        err.contains("standard input is not a terminal")
            && err.contains("--password-stdin, or set JETON_PASSWORD"),
        "without a terminal, login says how else to give the password: {err}"
    );
    let out = jeton_in(
        dir.path(),
        &[&["import", "empty.csv", "--team", "1"][..], &no_server].concat(),
    )
    .await;
    assert!(
        out.fails(1).contains("cannot read empty.csv"),
        "{}",
        out.stderr
    );
    std::fs::write(dir.path().join("empty.csv"), "").unwrap();
    let out = jeton_in(
        dir.path(),
        &[&["import", "empty.csv", "--team", "1"][..], &no_server].concat(),
    )
    .await;
    assert!(
        out.fails(1).contains("empty.csv is empty"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_key_is_read_from_the_data_dir_when_no_key_is_given() {
    let env = Env::sqlite().await;
    std::fs::create_dir_all(env.dir.path().join("jeton-data")).unwrap();
    std::fs::write(
        env.dir.path().join("jeton-data/operator.key"),
        format!("{}\n", env.app.operator_key),
    )
    .unwrap();
    let out = env.run_without_key(&["teams", "create", "Design"]).await;
    out.ok();

    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("operator.key"), &env.app.operator_key).unwrap();
    let data_dir = elsewhere.to_str().unwrap();
    let out = env
        .run_without_key(&["teams", "list", "--data-dir", data_dir])
        .await;
    assert!(out.ok().contains("Design"), "{}", out.stdout);

    let out = env
        .run_without_key(&["teams", "list", "--data-dir", "nowhere"])
        .await;
    assert!(
        out.fails(1).contains("no API key was given"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_get_a_key_that_sees_only_their_teams() {
    let env = Env::sqlite().await;
    let design = id(&env
        .run(&["teams", "create", "Design", "--json"])
        .await
        .json());
    let other = id(&env
        .run(&["teams", "create", "Other", "--json"])
        .await
        .json());
    let out = env
        .run(&[
            "admins",
            "create",
            "--email",
            "ann@example.com",
            "--name",
            "Ann Admin",
            "--team",
            "Design",
        ])
        .await;
    let text = out.ok();
    assert!(text.contains("shown only this once"), "{text}");
    let created = env
        .run(&[
            "admins",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
            "--team",
            &design.to_string(),
            "--json",
        ])
        .await
        .json();
    let key = created["api_key"].as_str().expect("api key").to_string();
    assert!(text.contains("ann@example.com"), "{text}");

    let as_admin = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &env.app.base_url, "--key", &key]);
        let all: Vec<String> = all.into_iter().map(String::from).collect();
        let dir = env.dir.path().to_path_buf();
        async move {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            jeton_in(&dir, &args).await
        }
    };
    let balance = as_admin(&["balance", "--team", &design.to_string(), "--json"])
        .await
        .json();
    assert_eq!(balance["available"], 0);
    let out = as_admin(&["balance", "--team", &other.to_string()]).await;
    assert!(
        out.fails(1).contains("HTTP 404"),
        "other teams look absent: {}",
        out.stderr
    );
}

/// `jeton admins list|revoke|rotate` (R-AUTH-1): the operator sees every admin's key state, never
/// a key; a revoked key is refused; a rotated key replaces the old one.
async fn admin_keys(env: Env) {
    env.run(&["teams", "create", "Design"]).await.ok();
    env.run(&["teams", "create", "Ops"]).await.ok();
    let create = |email: &'static str, team: &'static str| {
        let env = &env;
        async move {
            let created = env
                .run(&[
                    "admins", "create", "--email", email, "--name", "An Admin", "--team", team,
                    "--json",
                ])
                .await
                .json();
            (
                id(&created),
                created["api_key"].as_str().unwrap().to_string(),
            )
        }
    };
    let (ann, ann_key) = create("ann@example.com", "Design").await;
    let (_, bob_key) = create("bob@example.com", "Ops").await;

    // The console password: a link printed at creation (and emailed), a new one on demand.
    let text = env
        .run(&[
            "admins",
            "create",
            "--email",
            "cy@example.com",
            "--name",
            "Cy",
            "--team",
            "Ops",
        ])
        .await
        .ok()
        .to_string();
    assert!(
        text.contains("Console password: a link was emailed to cy@example.com")
            && text.contains("/password?secret="),
        "{text}"
    );
    let first = text
        .split("/password?secret=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let text = env
        .run(&["admins", "password-link", "cy@example.com"])
        .await
        .ok()
        .to_string();
    assert!(
        text.contains("works once, until 2026-01-12 08:00 UTC"),
        "{text}"
    );
    let second = text
        .split("/password?secret=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(first, second, "a new link each time");
    let out = env
        .run(&["admins", "password-link", "nobody@example.com"])
        .await;
    assert!(out.fails(1).contains("no admin has the email"));

    let out = env.run(&["admins", "list"]).await;
    let text = out.ok();
    assert!(
        text.contains("ann@example.com") && text.contains("bob@example.com"),
        "{text}"
    );
    assert!(
        text.contains("active since 2026-01-05 08:00:00 UTC"),
        "{text}"
    );
    let list = env.run(&["admins", "list", "--json"]).await;
    assert!(!list.stdout.contains(&ann_key), "{}", list.stdout);
    let list = list.json();
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    assert_eq!(list[0]["key_status"], "active");
    assert!(list[0].get("api_key").is_none(), "{list}");

    // Revoked, by email: the key is refused, with a hint that says what happened.
    let out = env.run(&["admins", "revoke", "ann@example.com"]).await;
    let text = out.ok();
    assert!(
        text.contains(&format!("admin {ann}")) && text.contains("refused from now on"),
        "{text}"
    );
    let out = env
        .run_as(&ann_key, &["balance", "--team", "Design"], &[], None)
        .await;
    let err = out.fails(1);
    assert!(
        err.contains("HTTP 401")
            && err.contains("key_revoked")
            && err.contains("jeton admins rotate"),
        "{err}"
    );
    let list = env.run(&["admins", "list", "--json"]).await.json();
    assert_eq!(list[0]["key_status"], "revoked");
    assert_eq!(list[0]["key_revoked_at"], "2026-01-05T08:00:00Z");
    assert_eq!(list[1]["key_status"], "active", "bob keeps his key");
    let text = env.run(&["admins", "list"]).await.ok().to_string();
    assert!(text.contains("revoked 2026-01-05 08:00:00 UTC"), "{text}");

    // Rotated, by id: a new key, printed once; the old key stays refused.
    let out = env.run(&["admins", "rotate", &ann.to_string()]).await;
    let text = out.ok();
    assert!(text.contains("shown only this once"), "{text}");
    let new_key = text
        .split_whitespace()
        .find(|w| w.starts_with("jeton_adm_"))
        .expect("the new key")
        .to_string();
    assert_ne!(new_key, ann_key);
    let balance = env
        .run_as(
            &new_key,
            &["balance", "--team", "Design", "--json"],
            &[],
            None,
        )
        .await
        .json();
    assert_eq!(balance["available"], 0);
    env.run_as(&ann_key, &["balance", "--team", "Design"], &[], None)
        .await
        .fails(1);
    let rotated = env
        .run(&["admins", "rotate", &ann.to_string(), "--json"])
        .await
        .json();
    assert_eq!(rotated["admin"]["key_status"], "active");
    let newest = rotated["api_key"].as_str().unwrap();
    assert_ne!(newest, new_key);
    let out = env
        .run_as(&new_key, &["balance", "--team", "Design"], &[], None)
        .await;
    assert!(out.fails(1).contains("HTTP 401"), "{}", out.stderr);

    // Only the operator.
    for args in [
        &["admins", "list"][..],
        &["admins", "revoke", &ann.to_string()][..],
        &["admins", "rotate", &ann.to_string()][..],
    ] {
        let out = env.run_as(&bob_key, args, &[], None).await;
        assert!(
            out.fails(1).contains("HTTP 403"),
            "{args:?}: {}",
            out.stderr
        );
    }
    env.run_as(newest, &["balance", "--team", "Design"], &[], None)
        .await
        .ok();
    // Unknown admins, and arguments that name none.
    let out = env.run(&["admins", "revoke", "987654"]).await;
    assert!(out.fails(1).contains("HTTP 404"), "{}", out.stderr);
    let out = env.run(&["admins", "rotate", "nobody@example.com"]).await;
    assert!(
        out.fails(1)
            .contains("no admin has the email nobody@example.com"),
        "{}",
        out.stderr
    );
    let out = env.run(&["admins", "revoke", "Ann"]).await;
    assert!(
        out.fails(1).contains("neither an admin id nor an email"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_1_admin_keys_from_the_command_line_sqlite() {
    admin_keys(Env::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_1_admin_keys_from_the_command_line_postgres() {
    if let Some(env) = Env::start(Backend::Postgres).await {
        admin_keys(env).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_clock_moves_and_health_answers() {
    let env = Env::sqlite().await;
    let now = env.run(&["clock", "advance", "25h", "--json"]).await.json();
    let start: chrono::DateTime<chrono::Utc> = TEST_START.parse().unwrap();
    let expected = start + chrono::Duration::hours(25);
    let now: chrono::DateTime<chrono::Utc> = now["now"].as_str().unwrap().parse().unwrap();
    assert_eq!(now, expected);
    let out = env.run(&["clock", "advance", "90"]).await;
    let text = out.ok();
    assert!(
        text.contains("by 90 s") && text.contains("2026-01-06 09:01:30 UTC"),
        "{text}"
    );

    let health = env.run(&["health", "--json"]).await.json();
    assert!(health["status"].is_string(), "{health}");
    let out = env.run_without_key(&["health"]).await;
    assert!(out.ok().contains(&env.app.base_url), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advancing_a_server_without_test_clock_says_how_to_get_one() {
    let db = test_db(Backend::Sqlite).await.expect("SQLite");
    let env = Env {
        app: spawn_without_test_clock(db, TEST_START.parse().unwrap()).await,
        dir: tempfile::tempdir().unwrap(),
    };
    let out = env.run(&["clock", "advance", "1d"]).await;
    let err = out.fails(1);
    assert!(
        err.contains("HTTP 404") && err.contains("jeton serve --test-clock"),
        "{err}"
    );
}

// ------------------------------------------------------------------ sessions (R-SES, R-PRI)

const PASSWORD: &str = "correct horse battery";

/// `users create` an account with [`PASSWORD`] and returns its id.
async fn create_user(env: &Env, email: &str, name: &str) -> i64 {
    let created = env
        .run_as(
            &env.app.operator_key,
            &[
                "users", "create", "--email", email, "--name", name, "--json",
            ],
            &[("JETON_PASSWORD", PASSWORD)],
            None,
        )
        .await
        .json();
    assert_eq!(created["email"], email, "{created}");
    created["user_id"].as_i64().expect("user_id")
}

/// `login` as `email` and returns the user token.
async fn login(env: &Env, email: &str) -> String {
    let out = env
        .run_as(
            "",
            &["login", "--email", email, "--password-stdin"],
            &[],
            Some(PASSWORD),
        )
        .await;
    out.ok().trim().to_string()
}

/// `jeton logout` ends the token given with --key; `--everywhere` every token of the user; the
/// operator's `jeton users sign-out-everywhere` does the same for anyone (R-AUTH-1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_1_logout_here_and_everywhere_from_the_command_line() {
    let env = Env::sqlite().await;
    let jane = create_user(&env, "jane@example.com", "Jane Doe").await;
    create_user(&env, "bob@example.com", "Bob Bee").await;
    let first = login(&env, "jane@example.com").await;
    let second = login(&env, "jane@example.com").await;
    let third = login(&env, "jane@example.com").await;
    let bob = login(&env, "bob@example.com").await;
    let me = |token: String| {
        let env = &env;
        async move { env.run_as(&token, &["me", "show"], &[], None).await }
    };

    let out = env.run_as(&first, &["logout"], &[], None).await;
    assert!(out.ok().contains("Signed out"), "{}", out.stdout);
    let out = me(first.clone()).await;
    assert!(out.fails(1).contains("HTTP 401"), "{}", out.stderr);
    assert!(me(second.clone()).await.ok().contains("jane@example.com"));

    let ended = env
        .run_as(&second, &["logout", "--everywhere", "--json"], &[], None)
        .await
        .json();
    assert_eq!(ended["user_id"], jane);
    assert_eq!(ended["ended"], 2, "the second and third tokens");
    for token in [&first, &second, &third] {
        let out = me(token.clone()).await;
        assert!(out.fails(1).contains("HTTP 401"), "{}", out.stderr);
    }
    assert!(me(bob.clone()).await.ok().contains("bob@example.com"));

    // The operator, for a user; an operator key is not a user's to log out.
    let fourth = login(&env, "jane@example.com").await;
    let out = env
        .run(&["users", "sign-out-everywhere", &jane.to_string()])
        .await;
    assert!(out.ok().contains("1 token ended"), "{}", out.stdout);
    assert!(me(fourth).await.fails(1).contains("HTTP 401"));
    assert!(me(bob).await.ok().contains("bob@example.com"));
    let out = env.run(&["logout"]).await;
    assert!(
        out.fails(1).contains("HTTP 403") && out.stderr.contains("user token"),
        "{}",
        out.stderr
    );
    let out = env.run(&["users", "sign-out-everywhere", "987654"]).await;
    assert!(out.fails(1).contains("HTTP 404"), "{}", out.stderr);
}

/// The sum of `kind` events' amounts, as a positive number.
fn ledger_sum(events: &Value, kind: &str) -> u64 {
    events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["amount"].as_i64().unwrap().unsigned_abs())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ses_a_product_session_from_the_command_line() {
    let env = Env::sqlite().await;
    env.run(&[
        "products",
        "add",
        "autocad",
        "--name",
        "AutoCAD",
        "--daily-rate",
        "7",
        "--result-rate",
        "render.cloud=5",
    ])
    .await
    .ok();
    let team = id(&env
        .run(&["teams", "create", "Design", "--json"])
        .await
        .json());
    let team_arg = team.to_string();
    env.run(&["packs", "buy", "--team", "Design", "100"])
        .await
        .ok();

    // An account without invitation, then Flex for it.
    let out = env
        .run_as(
            &env.app.operator_key,
            &[
                "users",
                "create",
                "--email",
                "jane@example.com",
                "--name",
                "Jane Doe",
            ],
            &[("JETON_PASSWORD", PASSWORD)],
            None,
        )
        .await;
    let text = out.ok();
    assert!(
        text.starts_with("Created user ") && text.contains("Jane Doe <jane@example.com>"),
        "{text}"
    );
    let out = env
        .run(&[
            "users",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
        ])
        .await;
    assert!(out.fails(1).contains("no password"), "{}", out.stderr);
    let jane = env
        .run(&["users", "list", "--team", "Design", "--json"])
        .await
        .json();
    assert_eq!(jane, serde_json::json!([]), "not on the team yet");
    env.run(&[
        "users",
        "assign",
        "--team",
        "Design",
        "jane@example.com",
        "--all",
    ])
    .await
    .ok();
    let token = login(&env, "jane@example.com").await;

    // Sign in: the human form names everything and ends with the lease.
    let out = env
        .run_as(
            &token,
            &[
                "client",
                "sign-in",
                "--team",
                &team_arg,
                "--product",
                "autocad",
                "--version",
                "2027.1",
                "--machine",
                "WS-1",
            ],
            &[],
            None,
        )
        .await;
    let text = out.ok();
    for part in [
        "Signed in to autocad on team",
        "session:",
        "access:",
        "flex",
        "tokens charged:    7",
        "period ends:",
        "2026-01-06 08:00:00 UTC",
        "lease valid until:",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    let lease = text.lines().last().unwrap().to_string();
    assert!(lease.contains('.') && !lease.contains(' '), "{lease}");

    // Again, as JSON, on the same period: no charge.
    let started = sign_in_json(&env, &token, &team_arg, "autocad").await;
    assert_eq!(started["tokens_charged"], 0, "{started}");
    assert_eq!(started["access"], "flex");
    let session = id(&started);
    let session_arg = session.to_string();
    let lease2 = started["lease"].as_str().unwrap().to_string();

    // The lease verifies offline (key from the server, or given), at the server's time.
    let checked = env
        .run_without_key(&[
            "client",
            "verify-lease",
            &lease2,
            "--at",
            TEST_START,
            "--json",
        ])
        .await
        .json();
    assert_eq!(checked["valid"], true);
    assert_eq!(checked["lease"]["session"].as_i64(), Some(session));
    assert_eq!(checked["lease"]["team"].as_i64(), Some(team));
    let key = published_lease_key(&env.app.base_url).await;
    let public_key = key["public_key"].as_str().unwrap();
    let out = env
        .run_as(
            "",
            &[
                "client",
                "verify-lease",
                "-",
                "--public-key",
                public_key,
                "--at",
                "2026-01-06T07:59:59Z",
            ],
            &[],
            Some(&lease2),
        )
        .await;
    let text = out.ok();
    assert!(
        text.starts_with("The lease is valid") && text.contains("valid until:"),
        "{text}"
    );
    let out = env
        .run_without_key(&[
            "client",
            "verify-lease",
            &lease2,
            "--at",
            "2026-01-06T08:00:00Z",
        ])
        .await;
    assert!(
        out.fails(1).contains("does not verify: the lease expired"),
        "{}",
        out.stderr
    );
    let mut tampered = lease2.clone();
    tampered.insert(5, 'x');
    let out = env
        .run_without_key(&["client", "verify-lease", &tampered, "--at", TEST_START])
        .await;
    assert!(out.fails(1).contains("does not verify"), "{}", out.stderr);

    // Heartbeat, result, sign-out.
    let out = env
        .run_as(&token, &["client", "heartbeat", &session_arg], &[], None)
        .await;
    let text = out.ok();
    assert!(
        text.contains(&format!("Heartbeat for session {session}: no charge."))
            && text.contains("lease valid until:"),
        "{text}"
    );
    let beat = env
        .run_as(
            &token,
            &["client", "heartbeat", &session_arg, "--idle", "--json"],
            &[],
            None,
        )
        .await
        .json();
    assert_eq!(beat["tokens_charged"], 0);
    assert!(beat["lease"].is_string());
    let out = env
        .run_as(
            &token,
            &[
                "client",
                "result",
                &session_arg,
                "--type",
                "render.cloud",
                "--quantity",
                "2",
                "--id",
                "job-1",
            ],
            &[],
            None,
        )
        .await;
    assert!(
        out.ok().contains("Result job-1 (2 × render.cloud)")
            && out.stdout.contains("10 tokens charged"),
        "{}",
        out.stdout
    );

    let open = env
        .run(&["sessions", "--team", "Design", "--json"])
        .await
        .json();
    assert_eq!(open.as_array().unwrap().len(), 2, "{open}");
    let out = env.run(&["sessions", "--team", "Design"]).await;
    let text = out.ok();
    assert!(
        text.contains("WS-1") && text.contains("2027.1") && text.contains("2 open session(s)"),
        "{text}"
    );

    let out = env
        .run_as(&token, &["client", "sign-out", &session_arg], &[], None)
        .await;
    assert!(
        out.ok()
            .starts_with(&format!("Signed out of session {session}")),
        "{}",
        out.stdout
    );
    let out = env
        .run_as(&token, &["client", "heartbeat", &session_arg], &[], None)
        .await;
    let err = out.fails(1);
    assert!(
        err.contains("sign in again") || err.contains("HTTP 410"),
        "{err}"
    );
    let all = env
        .run(&["sessions", "--team", "Design", "--all", "--json"])
        .await
        .json();
    let ended = all
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_i64() == Some(session))
        .expect("the ended session is listed");
    assert_eq!(ended["end_reason"], "signed_out");
    let out = env.run(&["sessions", "--team", "Design", "--all"]).await;
    assert!(out.ok().contains("signed_out"), "{}", out.stdout);

    // The ledger: 7 for the period, 10 for the renders.
    let events = env
        .run(&["events", "--team", "Design", "--json"])
        .await
        .json();
    assert_eq!(ledger_sum(&events, "charged"), 17, "{events}");

    // Refusals carry the rule's code and a hint; an operator key is no user token.
    let out = env
        .run(&[
            "client",
            "sign-in",
            "--team",
            &team_arg,
            "--product",
            "autocad",
        ])
        .await;
    let err = out.fails(1);
    assert!(err.contains("user token"), "{err}");
    create_user(&env, "bob@example.com", "Bob Roe").await;
    let bob = login(&env, "bob@example.com").await;
    let out = env
        .run_as(
            &bob,
            &[
                "client",
                "sign-in",
                "--team",
                &team_arg,
                "--product",
                "autocad",
            ],
            &[],
            None,
        )
        .await;
    let err = out.fails(1);
    assert!(
        err.contains("not_assigned") && err.contains("jeton users assign"),
        "{err}"
    );
}

/// `GET /v1/lease-key`, through the SDK.
async fn published_lease_key(base_url: &str) -> Value {
    let client = jeton_client::Client::new(base_url, None);
    serde_json::to_value(client.lease_key().await.unwrap()).unwrap()
}

/// `jeton balance --team TEAM --json`.
async fn balance_json(env: &Env, team: &str) -> Value {
    env.run(&["balance", "--team", team, "--json"]).await.json()
}

/// `jeton KIND add USER --product autocad --from FROM --to TO EXTRA…`: a subscription or trial.
async fn add_window(
    env: &Env,
    kind: &str,
    user: &str,
    from: &str,
    to: &str,
    extra: &[&str],
) -> Run {
    let mut args = vec![
        kind,
        "add",
        user,
        "--product",
        "autocad",
        "--from",
        from,
        "--to",
        to,
    ];
    args.extend(extra);
    env.run(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_pri_subscriptions_and_trials_from_the_command_line() {
    let env = Env::sqlite().await;
    env.run(&[
        "products",
        "add",
        "autocad",
        "--name",
        "AutoCAD",
        "--daily-rate",
        "7",
    ])
    .await
    .ok();
    let team = id(&env
        .run(&["teams", "create", "Design", "--json"])
        .await
        .json());
    env.run(&["packs", "buy", "--team", "Design", "100"])
        .await
        .ok();
    let jane = create_user(&env, "jane@example.com", "Jane Doe").await;
    let jane_arg = jane.to_string();

    let out = env.run(&["entitlements", &jane_arg]).await;
    assert!(
        out.ok().contains("no subscriptions or trials"),
        "{}",
        out.stdout
    );
    let out = add_window(
        &env,
        "subscriptions",
        &jane_arg,
        "2026-01-01",
        "2026-01-31",
        &[],
    )
    .await;
    let text = out.ok();
    assert!(
        text.starts_with("Subscription ") && text.contains("cost no tokens"),
        "{text}"
    );
    assert!(
        text.contains("2026-02-01 00:00:00 UTC"),
        "--to DATE includes the day: {text}"
    );
    let trial = add_window(
        &env,
        "trials",
        &jane_arg,
        "2026-02-01",
        "2026-02-14",
        &["--json"],
    )
    .await
    .json();
    assert_eq!(trial["kind"], "trial");
    assert_eq!(trial["user_id"].as_i64(), Some(jane));
    let list = env.run(&["entitlements", &jane_arg, "--json"]).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let out = env.run(&["entitlements", &jane_arg]).await;
    let text = out.ok();
    assert!(
        text.contains("subscription") && text.contains("trial"),
        "{text}"
    );

    // Bad input is refused before anything is sent.
    let out = add_window(
        &env,
        "subscriptions",
        "jane",
        "2026-01-01",
        "2026-01-31",
        &[],
    )
    .await;
    assert!(
        out.fails(1)
            .contains("neither a user id nor an email address"),
        "{}",
        out.stderr
    );
    let out = add_window(
        &env,
        "trials",
        "nobody@example.com",
        "2026-01-01",
        "2026-01-31",
        &[],
    )
    .await;
    assert!(
        out.fails(1)
            .contains("no account has the email address nobody@example.com"),
        "{}",
        out.stderr
    );
    let out = add_window(&env, "trials", &jane_arg, "2026-03-01", "2026-02-01", &[]).await;
    assert!(out.fails(1).contains("is after --to"), "{}", out.stderr);
    let out = add_window(
        &env,
        "subscriptions",
        "999",
        "2026-01-01",
        "2026-01-31",
        &[],
    )
    .await;
    assert!(out.fails(1).contains("HTTP 404"), "{}", out.stderr);

    // R-PRI-1: the subscription pays, the team's tokens stay.
    env.run(&["users", "assign", "--team", "Design", &jane_arg, "--all"])
        .await
        .ok();
    let token = login(&env, "jane@example.com").await;
    let started = sign_in_json(&env, &token, &team.to_string(), "autocad").await;
    assert_eq!(started["access"], "subscription", "{started}");
    assert_eq!(started["tokens_charged"], 0);
    let balance = balance_json(&env, "Design").await;
    assert_eq!(balance["available"], 100);

    // A sign-in repeated with its idempotency key says it is the first one's answer.
    let team_arg = team.to_string();
    let keyed = [
        "client",
        "sign-in",
        "--team",
        &team_arg,
        "--product",
        "autocad",
        "--idempotency-key",
        "launch-1",
    ];
    let first = env.run_as(&token, &keyed, &[], None).await;
    assert!(
        first.ok().starts_with("Signed in to autocad on team "),
        "{}",
        first.stdout
    );
    let again = env.run_as(&token, &keyed, &[], None).await;
    let text = again.ok();
    assert!(
        text.starts_with("Already recorded: this idempotency key signed in before"),
        "{text}"
    );
    let session = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("session:"))
            .map(|v| v.trim().to_string())
    };
    assert_eq!(session(first.ok()), session(text), "the same session");

    // Listed and removed, by the user's email; each kind on its own.
    let subscriptions = env
        .run(&["subscriptions", "list", "jane@example.com", "--json"])
        .await
        .json();
    let subscriptions = subscriptions.as_array().unwrap();
    assert_eq!(subscriptions.len(), 1, "{subscriptions:?}");
    let subscription = id(&subscriptions[0]);
    let trials = env
        .run(&["trials", "list", &jane_arg, "--json"])
        .await
        .json();
    assert_eq!(trials.as_array().unwrap().len(), 1, "{trials}");
    let trial_id = id(&trials[0]).to_string();
    let out = env
        .run(&["subscriptions", "list", "jane@example.com"])
        .await;
    let text = out.ok();
    assert!(
        text.contains(&subscription.to_string()) && !text.contains("trial"),
        "{text}"
    );
    let out = env
        .run(&["subscriptions", "remove", "jane@example.com"])
        .await;
    assert!(out.fails(2).contains("--id"), "{}", out.stderr);
    let out = env
        .run(&[
            "subscriptions",
            "remove",
            "jane@example.com",
            "--product",
            "revit",
        ])
        .await;
    assert!(
        out.fails(1)
            .contains("jane@example.com has no subscription of revit"),
        "{}",
        out.stderr
    );
    let out = env
        .run(&["subscriptions", "remove", &jane_arg, "--id", &trial_id])
        .await;
    let err = out.fails(1);
    assert!(
        err.contains("not_found") && err.contains("HTTP 404"),
        "{err}"
    );
    let out = env
        .run(&["trials", "remove", "999", "--id", &trial_id])
        .await;
    assert!(out.fails(1).contains("HTTP 404"), "{}", out.stderr);
    let before = balance_json(&env, "Design").await;
    let out = env
        .run(&[
            "subscriptions",
            "remove",
            "jane@example.com",
            "--product",
            "autocad",
        ])
        .await;
    let text = out.ok();
    assert!(
        text.starts_with(&format!("Removed subscription {subscription} of autocad")),
        "{text}"
    );
    let out = env
        .run(&["subscriptions", "list", "jane@example.com"])
        .await;
    assert!(out.ok().contains("has no subscriptions"), "{}", out.stdout);
    let after = balance_json(&env, "Design").await;
    assert_eq!(
        after["available"], before["available"],
        "no retroactive charge"
    );
    // A sign-in after the removal pays (a minute later: one period starts at one instant).
    env.run(&["clock", "advance", "60"]).await.ok();
    let started = sign_in_json(&env, &token, &team_arg, "autocad").await;
    assert_eq!(started["access"], "flex", "{started}");
    assert_eq!(started["tokens_charged"], 7);
    let paid = balance_json(&env, "Design").await;
    assert_eq!(
        paid["available"].as_i64().unwrap(),
        before["available"].as_i64().unwrap() - 7
    );
    let out = env
        .run(&["trials", "remove", "jane@example.com", "--id", &trial_id])
        .await;
    assert!(
        out.ok()
            .starts_with(&format!("Removed trial {trial_id} of autocad")),
        "{}",
        out.stdout
    );
    let out = env.run(&["entitlements", "jane@example.com"]).await;
    assert!(
        out.ok().contains("no subscriptions or trials"),
        "{}",
        out.stdout
    );
}

/// `simulate --days … --json` on `env`; returns the report.
async fn simulate_days(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["simulate", "--json"];
    all.extend(args);
    env.run(&all).await.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_days_add_up_and_the_ledger_agrees() {
    let env = Env::sqlite().await;
    let run = ["--days", "2", "--users", "5", "--seed", "7", "--weekends"];
    let report = simulate_days(&env, &run).await;
    assert_eq!(report["mode"], "days");
    let days = report["days"].as_array().expect("days");
    assert_eq!(days.len(), 2, "{report}");
    assert_eq!(
        days[0]["date"], "2026-01-06",
        "the first midnight after the server's time"
    );
    assert_eq!(days[1]["date"], "2026-01-07");
    let totals = &report["totals"];
    for field in [
        "sign_ins",
        "heartbeats",
        "sign_outs",
        "periods_opened",
        "tokens_charged",
        "tokens_refunded",
        "answered_charged",
    ] {
        let sum: u64 = days.iter().map(|d| d[field].as_u64().unwrap()).sum();
        assert_eq!(totals[field].as_u64(), Some(sum), "{field}: {report}");
    }
    let charged = totals["tokens_charged"].as_u64().unwrap();
    assert!(totals["sign_ins"].as_u64().unwrap() > 0, "{report}");
    assert!(
        charged > 0 && totals["periods_opened"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(
        totals["answered_charged"].as_u64().unwrap() <= charged,
        "answers never show more than the ledger"
    );
    assert_eq!(
        totals["sign_ins"], totals["sign_outs"],
        "every session ends"
    );

    // The server's ledger agrees, and so does the balance.
    let team = report["team_id"].as_i64().unwrap().to_string();
    let events = env
        .run(&["events", "--team", &team, "--from", "2026-01-01", "--json"])
        .await
        .json();
    assert_eq!(ledger_sum(&events, "charged"), charged, "{events}");
    assert_eq!(
        ledger_sum(&events, "refunded"),
        totals["tokens_refunded"].as_u64().unwrap()
    );
    let balance = balance_json(&env, &team).await;
    let expected = 1_000_000 - charged + totals["tokens_refunded"].as_u64().unwrap();
    assert_eq!(balance["available"].as_u64(), Some(expected), "{balance}");
    assert_eq!(report["balance"].as_u64(), Some(expected));
    assert_eq!(
        days[1]["balance"].as_u64(),
        Some(expected),
        "the last day ends with the final balance"
    );
    let audit = env.run(&["audit", "--team", &team]).await;
    audit.ok();

    // The same seed plays the same days (--weekends: whatever the dates, every day is a
    // working day).
    let again = simulate_days(&env, &run).await;
    let tallies = |r: &Value| -> Vec<Value> {
        r["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let mut d = d.clone();
                for moving in ["day", "date", "weekday"] {
                    d.as_object_mut().unwrap().remove(moving);
                }
                d
            })
            .collect()
    };
    assert_eq!(tallies(&report), tallies(&again), "{report}\n{again}");
    assert_ne!(
        report["team_id"], again["team_id"],
        "each run has its own team"
    );

    // The human summary.
    let out = env
        .run(&["simulate", "--days", "1", "--users", "3", "--tokens", "5"])
        .await;
    let text = out.ok();
    for part in [
        "Simulated 1 day(s)",
        "sign-ins",
        "periods",
        "charged",
        "total",
        "Tokens charged:",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ses_1_a_simulation_short_of_tokens_counts_its_refusals() {
    let env = Env::sqlite().await;
    // 10 tokens: one period of the 7-token product, then refusals.
    let report = simulate_days(
        &env,
        &[
            "--days",
            "1",
            "--users",
            "6",
            "--products",
            "1",
            "--tokens",
            "10",
            "--presence",
            "1",
        ],
    )
    .await;
    let day = &report["days"][0];
    assert_eq!(day["users_present"], 6);
    assert_eq!(day["sign_ins"], 1, "{report}");
    assert_eq!(day["refusals"]["insufficient_tokens"], 5, "{report}");
    assert_eq!(day["tokens_charged"], 7);
    assert_eq!(day["balance"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_load_reports_rates_and_latencies() {
    let env = Env::sqlite().await;
    let report = env
        .run(&[
            "simulate",
            "--load",
            "--users",
            "3",
            "--concurrency",
            "2",
            "--duration",
            "1",
            "--json",
        ])
        .await
        .json();
    assert_eq!(report["mode"], "load");
    let sign_ins = report["sign_ins"].as_u64().unwrap();
    assert!(sign_ins > 0, "{report}");
    let ops = &report["operations"];
    assert_eq!(ops["sign_in"]["count"].as_u64(), Some(sign_ins));
    // Every session that opened got one heartbeat and one sign-out, answered or failed.
    for op in ["heartbeat", "sign_out"] {
        let tried = ops[op]["count"].as_u64().unwrap() + ops[op]["errors"].as_u64().unwrap();
        assert_eq!(tried, sign_ins, "{op}: {report}");
    }
    let errors: u64 = report["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let failed: u64 = ["sign_in", "heartbeat", "sign_out"]
        .iter()
        .map(|op| ops[*op]["errors"].as_u64().unwrap())
        .sum();
    assert_eq!(errors, failed, "{report}");
    // The test server runs on a frozen clock: every request lands at the same instant, which
    // once made a sign-in right after a grace refund collide with the refunded period.
    assert_eq!(errors, 0, "{report}");
    let p50 = ops["sign_in"]["p50_ms"].as_f64().unwrap();
    let p99 = ops["sign_in"]["p99_ms"].as_f64().unwrap();
    assert!(0.0 < p50 && p50 <= p99, "{report}");
    assert!(report["sign_ins_per_second"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_load_sends_no_more_than_its_schedule() {
    let env = Env::sqlite().await;
    let report = env
        .run(&[
            "simulate",
            "--load",
            "--users",
            "3",
            "--concurrency",
            "4",
            "--duration",
            "1",
            "--rate",
            "20",
            "--json",
        ])
        .await
        .json();
    assert_eq!(report["paced_rate"], 20.0, "{report}");
    // 20 a second for one second: 20 loops are due (at 0, 50, …, 950 ms), whatever the server's
    // speed, and the workers start none beyond them.
    let sign_ins = report["sign_ins"].as_u64().unwrap();
    assert!(0 < sign_ins && sign_ins <= 20, "{report}");
    assert!(report["errors"].as_object().unwrap().is_empty(), "{report}");
    for bad in ["0", "-5", "fast", "NaN"] {
        let out = env
            .run(&["simulate", "--load", &format!("--rate={bad}")])
            .await;
        let err = out.fails(2);
        assert!(err.contains("requests per second"), "{bad}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_heartbeats_keep_sessions_on_several_machines_open() {
    let env = Env::sqlite().await;
    let report = env
        .run(&[
            "simulate",
            "--load",
            "--phase",
            "heartbeat",
            "--users",
            "2",
            "--products",
            "2",
            "--machines",
            "3",
            "--concurrency",
            "2",
            "--duration",
            "1",
            "--json",
        ])
        .await
        .json();
    // Each user on each product on each machine.
    assert_eq!(report["machines"], 3, "{report}");
    assert_eq!(report["opened_sessions"], 2 * 2 * 3, "{report}");
    assert_eq!(report["rate_of"], "heartbeat", "{report}");
    assert!(report["operations"]["heartbeat"]["count"].as_u64().unwrap() > 0);
    assert!(report["errors"].as_object().unwrap().is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_days_need_a_test_clock_and_create_nothing_without_one() {
    let db = test_db(Backend::Sqlite).await.expect("SQLite");
    let env = Env {
        app: spawn_without_test_clock(db, TEST_START.parse().unwrap()).await,
        dir: tempfile::tempdir().unwrap(),
    };
    let out = env.run(&["simulate", "--days", "1"]).await;
    let err = out.fails(1);
    assert!(err.contains("jeton serve --test-clock"), "{err}");
    let teams = env.run(&["teams", "list", "--json"]).await.json();
    assert_eq!(teams, serde_json::json!([]), "nothing was created");
    let out = env.run(&["simulate"]).await;
    assert!(
        out.fails(2).contains("--load"),
        "a mode is required: {}",
        out.stderr
    );
    let out = env.run(&["simulate", "--load", "--days", "2"]).await;
    out.fails(2);
}

// ------------------------------------------------------------------ reports (R-REP, R-NOT-1)

/// `client sign-in` as the holder of `token`; returns the session id and the tokens charged.
/// `jeton client sign-in --json` as the user with `token`: the session's answer.
async fn sign_in_json(env: &Env, token: &str, team: &str, product: &str) -> Value {
    env.run_as(
        token,
        &[
            "client",
            "sign-in",
            "--team",
            team,
            "--product",
            product,
            "--json",
        ],
        &[],
        None,
    )
    .await
    .json()
}

async fn sign_in(env: &Env, token: &str, team: &str, product: &str) -> (String, i64) {
    let started = sign_in_json(env, token, team, product).await;
    (
        id(&started).to_string(),
        started["tokens_charged"].as_i64().expect("tokens_charged"),
    )
}

async fn sign_out(env: &Env, token: &str, session: &str) {
    env.run_as(token, &["client", "sign-out", session], &[], None)
        .await
        .ok();
}

/// The CSV at `path`: its header and its rows, as the `csv` crate reads them.
fn read_csv(text: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .expect("a header line")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("not CSV ({e}):\n{text}"));
    (header, rows)
}

/// The sum of the `column` of `rows` under `header`.
fn column_sum(header: &[String], rows: &[csv::StringRecord], column: &str) -> i64 {
    let i = header
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no {column} column in {header:?}"));
    rows.iter()
        .map(|r| r[i].parse::<i64>().expect("a whole number"))
        .sum()
}

/// Two users use two products over two days: 27 tokens charged, 7 refunded by the grace rule.
/// Returns the team id.
async fn usage_over_two_days(env: &Env) -> String {
    env.run(&[
        "products",
        "add",
        "autocad",
        "--name",
        "AutoCAD",
        "--daily-rate",
        "7",
        "--result-rate",
        "render.cloud=5",
    ])
    .await
    .ok();
    env.run(&[
        "products",
        "add",
        "revit",
        "--name",
        "Revit",
        "--daily-rate",
        "3",
    ])
    .await
    .ok();
    let team = id(&env
        .run(&["teams", "create", "Design", "--json"])
        .await
        .json())
    .to_string();
    env.run(&["packs", "buy", "--team", "Design", "1000"])
        .await
        .ok();
    for (email, name) in [
        ("jane@example.com", "Jane Doe"),
        ("bob@example.com", "Bob Roe"),
    ] {
        create_user(env, email, name).await;
        env.run(&["users", "assign", "--team", "Design", email, "--all"])
            .await
            .ok();
    }
    let jane = login(env, "jane@example.com").await;
    let bob = login(env, "bob@example.com").await;

    // Monday: Jane renders twice (10) and signs out at once (her 7 come back: grace); Bob
    // uses Revit for 10 minutes (3).
    let (s1, charged) = sign_in(env, &jane, &team, "autocad").await;
    assert_eq!(charged, 7);
    env.run_as(
        &jane,
        &[
            "client",
            "result",
            &s1,
            "--type",
            "render.cloud",
            "--quantity",
            "2",
            "--id",
            "job-1",
        ],
        &[],
        None,
    )
    .await
    .ok();
    sign_out(env, &jane, &s1).await;
    let (s2, charged) = sign_in(env, &bob, &team, "revit").await;
    assert_eq!(charged, 3);
    env.run(&["clock", "advance", "10m"]).await.ok();
    sign_out(env, &bob, &s2).await;

    // Tuesday: Jane again, for 10 minutes (7).
    env.run(&["clock", "advance", "1d"]).await.ok();
    let (s3, charged) = sign_in(env, &jane, &team, "autocad").await;
    assert_eq!(charged, 7);
    env.run(&["clock", "advance", "10m"]).await.ok();
    sign_out(env, &jane, &s3).await;
    team
}

async fn reports_flow(env: Env) {
    let team = usage_over_two_days(&env).await;
    let dir = env.dir.path();

    // The ledger: 27 charged, 7 refunded, over the default 90 days.
    let events = env
        .run(&["report", "events", "--team", "Design", "--json"])
        .await
        .json();
    let charged = ledger_sum(&events, "charged");
    let refunded = ledger_sum(&events, "refunded");
    assert_eq!((charged, refunded), (27, 7), "{events}");
    let used = (charged - refunded) as i64;
    let out = env.run(&["report", "events", "--team", "Design"]).await;
    let text = out.ok();
    assert!(
        text.contains("the last 90 days")
            && text.contains("charged -27")
            && text.contains("refunded +7"),
        "{text}"
    );
    // Days become RFC 3339 bounds: Tuesday alone holds one charge.
    let tuesday = env
        .run(&[
            "report",
            "events",
            "--team",
            "Design",
            "--from",
            "2026-01-06",
            "--to",
            "2026-01-06",
            "--json",
        ])
        .await
        .json();
    assert_eq!(tuesday.as_array().unwrap().len(), 1, "{tuesday}");
    assert_eq!(tuesday[0]["amount"], -7);
    let monday = env
        .run(&[
            "report",
            "events",
            "--team",
            "Design",
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-05",
            "--json",
        ])
        .await
        .json();
    assert_eq!(ledger_sum(&monday, "purchased"), 1000, "{monday}");
    assert_eq!(ledger_sum(&monday, "charged"), 20, "{monday}");
    // A named range is resolved on the server's calendar; --csv writes the events too.
    let out = env
        .run(&[
            "report",
            "events",
            "--team",
            "Design",
            "--range",
            "30d",
            "--csv",
            "events.csv",
        ])
        .await;
    assert!(
        out.ok().contains("Wrote 6 rows to events.csv"),
        "{}",
        out.stdout
    );
    let (header, rows) = read_csv(&std::fs::read_to_string(dir.join("events.csv")).unwrap());
    assert_eq!(
        header,
        ["id", "at", "kind", "amount", "pack", "cause", "actor"]
    );
    assert_eq!(rows.len(), 6);
    assert_eq!(column_sum(&header, &rows, "amount"), 1000 - used);

    // By product: the refunded period counts as a usage day with 0 tokens.
    let report = env
        .run(&[
            "report", "usage", "--team", "Design", "--by", "product", "--json",
        ])
        .await
        .json();
    assert_eq!(report["range"]["name"], "past_30_days");
    assert_eq!(report["range"]["from"], "2025-12-08");
    assert_eq!(report["range"]["to"], "2026-01-06");
    assert_eq!(report["summary"]["tokens"], used);
    assert_eq!(report["summary"]["products"], 2);
    assert_eq!(report["summary"]["users"], 2);
    assert_eq!(report["summary"]["periods"], 3);
    assert_eq!(report["summary"]["results"], 1);
    let products = report["by_product"].as_array().expect("by_product");
    let product = |key: &str| {
        products
            .iter()
            .find(|p| p["product"] == key)
            .unwrap_or_else(|| panic!("{key} in {report}"))
    };
    let autocad = product("autocad");
    assert_eq!(
        (
            &autocad["tokens"],
            &autocad["users"],
            &autocad["days"],
            &autocad["results"]
        ),
        (
            &Value::from(17),
            &Value::from(1),
            &Value::from(2),
            &Value::from(1)
        ),
        "{report}"
    );
    let revit = product("revit");
    assert_eq!(
        (
            &revit["tokens"],
            &revit["users"],
            &revit["days"],
            &revit["results"]
        ),
        (
            &Value::from(3),
            &Value::from(1),
            &Value::from(1),
            &Value::from(0)
        ),
        "{report}"
    );
    let out = env
        .run(&[
            "report",
            "usage",
            "--team",
            "Design",
            "--by",
            "product",
            "--csv",
            "products.csv",
        ])
        .await;
    let text = out.ok();
    for part in [
        "Usage of team Design",
        "2025-12-08 to 2026-01-06 (past 30 days, today included, 30 days).",
        "tokens used: 20",
        "AutoCAD",
        "Wrote 2 rows to products.csv.",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    let (header, rows) = read_csv(&std::fs::read_to_string(dir.join("products.csv")).unwrap());
    assert_eq!(
        header,
        ["product", "name", "tokens", "users", "days", "results"]
    );
    assert_eq!(column_sum(&header, &rows, "tokens"), used);

    // By user and by day, readable.
    let out = env
        .run(&["report", "usage", "--team", "Design", "--by", "user"])
        .await;
    let text = out.ok();
    assert!(
        text.contains("Jane Doe") && text.contains("jane@example.com") && text.contains("W02:2"),
        "{text}"
    );
    let out = env
        .run(&[
            "report",
            "usage",
            "--team",
            "Design",
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-06",
            "--by",
            "day",
        ])
        .await;
    let text = out.ok();
    assert!(
        text.contains("2026-01-05 to 2026-01-06 (custom range, 2 days).")
            && text.contains("2026-01-06")
            && text.contains('█'),
        "{text}"
    );
    let days = env
        .run(&[
            "report",
            "usage",
            "--team",
            "Design",
            "--range",
            "custom",
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-06",
            "--by",
            "day",
            "--json",
        ])
        .await
        .json();
    let days = days["by_day"].as_array().expect("by_day");
    let tokens_on = |day: &str| {
        days.iter()
            .filter(|d| d["date"] == day)
            .map(|d| d["tokens"].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!((tokens_on("2026-01-05"), tokens_on("2026-01-06")), (13, 7));
    // Named months before this one hold nothing yet; a bad range is the server's 400.
    let empty = env
        .run(&[
            "report", "usage", "--team", "Design", "--range", "3m", "--json",
        ])
        .await
        .json();
    assert_eq!(empty["range"]["from"], "2025-10-01");
    assert_eq!(empty["range"]["to"], "2025-12-31");
    assert_eq!(empty["summary"]["tokens"], 0);
    assert!(empty.get("hint").is_none(), "--json is the server's answer");
    // In words: the exact days, what the range means, and where this month's use is.
    let out = env
        .run(&["report", "usage", "--team", "Design", "--range", "3m"])
        .await;
    let text = out.ok();
    for part in [
        "Usage of team Design, 2025-10-01 to 2025-12-31 (past 3 whole months, 92 days; this \
         month is not included).",
        "tokens used: 0",
        "This month (January 2026) has use: 20 tokens so far. Whole-month ranges leave it out \
         until it is over; --range past_30_days includes it (or --from 2026-01-01 --to \
         2026-01-31).",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    // A range with use needs no hint.
    let out = env.run(&["report", "usage", "--team", "Design"]).await;
    assert!(!out.ok().contains("This month"), "{}", out.stdout);
    let out = env
        .run(&[
            "report",
            "usage",
            "--team",
            "Design",
            "--from",
            "2024-01-01",
            "--to",
            "2026-01-06",
        ])
        .await;
    assert!(out.fails(1).contains("invalid_range"), "{}", out.stderr);

    // The export: one row per period or result; its tokens add up to the ledger.
    let out = env
        .run(&["report", "export", "--team", "Design", "--json"])
        .await
        .json();
    let name = format!("usage-{team}-2025-12-08-2026-01-06.csv");
    assert_eq!(out["file"], name.as_str(), "{out}");
    assert_eq!(out["rows"], 4, "{out}");
    let text = std::fs::read_to_string(dir.join(&name)).unwrap();
    let (header, rows) = read_csv(&text);
    assert_eq!(
        header,
        [
            "date",
            "user",
            "email",
            "product",
            "tokens",
            "access",
            "team",
            "entry",
            "result_type",
            "quantity"
        ]
    );
    assert_eq!(rows.len(), 4, "{text}");
    assert_eq!(column_sum(&header, &rows, "tokens"), used, "{text}");
    assert!(
        rows.iter()
            .any(|r| &r[7] == "result" && &r[8] == "render.cloud" && &r[9] == "2" && &r[4] == "10"),
        "{text}"
    );
    assert!(text.contains("jane@example.com"), "{text}");
    let out = env
        .run(&[
            "report",
            "export",
            "--team",
            "Design",
            "--from",
            "2026-01-06",
            "--to",
            "2026-01-06",
            "--output",
            "-",
        ])
        .await;
    let (header, rows) = read_csv(out.ok());
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert_eq!(column_sum(&header, &rows, "tokens"), 7);
    let out = env
        .run(&[
            "report",
            "export",
            "--team",
            "Design",
            "--range",
            "past_30_days",
            "--output",
            "mine.csv",
        ])
        .await;
    assert!(
        out.ok().contains("Wrote 4 usage rows of team Design")
            && out
                .stdout
                .contains("(2025-12-08 to 2026-01-06) to mine.csv"),
        "{}",
        out.stdout
    );

    // R-REP-5: users × days × rate, per month and × 12 a year.
    let estimate = env
        .run(&[
            "estimate",
            "--plan",
            "autocad:5:8",
            "--plan",
            "revit:2:10",
            "--json",
        ])
        .await
        .json();
    assert_eq!(estimate["lines"][0]["daily_rate"], 7);
    assert_eq!(estimate["lines"][0]["tokens_per_month"], 5 * 8 * 7);
    assert_eq!(estimate["lines"][0]["tokens_per_year"], 5 * 8 * 7 * 12);
    assert_eq!(estimate["lines"][1]["tokens_per_year"], 2 * 10 * 3 * 12);
    assert_eq!(estimate["tokens_per_month"], 280 + 60);
    assert_eq!(estimate["tokens_per_year"], (280 + 60) * 12);
    assert!(estimate.get("team").is_none(), "{estimate}");
    let estimate = env
        .run(&[
            "estimate",
            "--team",
            "Design",
            "--plan",
            "autocad:5:8",
            "--plan",
            "revit:2:10",
            "--json",
        ])
        .await
        .json();
    let against = &estimate["team"];
    assert_eq!(against["team_id"].as_i64().unwrap().to_string(), team);
    assert_eq!(against["available"], 1000 - used);
    assert_eq!(
        against["expiring_before_use"], 0,
        "the plan uses the balance long before it expires"
    );
    assert_eq!(against["shortfall"], 4080 - (1000 - used));
    assert!(against["balance_zero_at"].is_string(), "{estimate}");
    let out = env
        .run(&["estimate", "--team", "Design", "--plan", "autocad:5:8"])
        .await;
    let text = out.ok();
    for part in [
        "The plan needs 280 tokens a month, 3360 tokens a year.",
        "Against team",
        "980 tokens",
        "2380 tokens",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    let out = env.run(&["estimate", "--plan", "maya:1:1"]).await;
    assert!(out.fails(1).contains("unknown_product"), "{}", out.stderr);

    // The forecast: 20 tokens in the last 30 days is too slow to use the pack before it expires.
    let forecast = env
        .run(&["forecast", "--team", "Design", "--json"])
        .await
        .json();
    assert_eq!(forecast["team_id"].as_i64().unwrap().to_string(), team);
    assert_eq!(forecast["available"], 1000 - used);
    let burn = forecast["daily_burn"].as_f64().unwrap();
    assert!((burn - used as f64 / 30.0).abs() < 1e-9, "{forecast}");
    assert_eq!(forecast["runs_out_by_use"], false);
    let packs = forecast["packs"].as_array().expect("packs");
    assert_eq!(packs.len(), 1, "{forecast}");
    assert_eq!(packs[0]["remaining"], 1000 - used);
    assert_eq!(
        packs[0]["used"].as_u64().unwrap() + packs[0]["expiring"].as_u64().unwrap(),
        (1000 - used) as u64
    );
    assert_eq!(forecast["expiring_unused"], packs[0]["expiring"]);
    assert_eq!(forecast["balance_zero_at"], packs[0]["expires_at"]);
    assert_eq!(packs[0]["expires_at"], "2027-01-05T08:00:00Z");
    let out = env.run(&["forecast", "--team", "Design"]).await;
    let text = out.ok();
    assert!(
        text.contains("burn rate 0.67 tokens a day")
            && text.contains("reaches zero on 2027-01-05, when the last tokens expire")
            && text.contains("expire unused"),
        "{text}"
    );

    // Settings: the defaults, a change, and the same when read back.
    let settings = env
        .run(&["teams", "settings", "--team", "Design", "--json"])
        .await
        .json();
    assert_eq!(
        settings,
        serde_json::json!({"low_balance_percent": 20, "pseudonyms": false})
    );
    let changed = env
        .run(&[
            "teams",
            "settings",
            "--team",
            "Design",
            "--low-balance-percent",
            "30",
            "--pseudonyms",
            "on",
            "--json",
        ])
        .await
        .json();
    assert_eq!(
        changed,
        serde_json::json!({"low_balance_percent": 30, "pseudonyms": true})
    );
    // The balance is judged by the team's own threshold, and says which.
    let balance = balance_json(&env, "Design").await;
    assert_eq!(balance["low_percent"], 30, "{balance}");
    let (available, total) = (
        balance["available"].as_u64().unwrap(),
        balance["total"].as_u64().unwrap(),
    );
    assert_eq!(balance["low"], available * 100 < total * 30, "{balance}");
    if balance["low"] == true {
        let text = env
            .run(&["balance", "--team", "Design"])
            .await
            .ok()
            .to_string();
        assert!(text.contains("LOW: less than 30 % is left"), "{text}");
    }
    // The LOW line follows the team's own threshold: 980 of 1000 is not low at 30 %, is at 99 %.
    assert_eq!((available, total), (980, 1000), "{balance}");
    let text = env.run(&["balance", "--team", "Design"]).await;
    assert!(!text.ok().contains("LOW"), "{}", text.stdout);
    let set = |percent: &'static str| {
        let env = &env;
        async move {
            env.run(&[
                "teams",
                "settings",
                "--team",
                "Design",
                "--low-balance-percent",
                percent,
            ])
            .await
            .ok()
            .to_string()
        }
    };
    set("99").await;
    let text = env.run(&["balance", "--team", "Design"]).await;
    assert!(
        text.ok()
            .contains("LOW: less than 99 % is left (the team's threshold)."),
        "{}",
        text.stdout
    );
    set("30").await;
    let out = env.run(&["teams", "settings", "--team", "Design"]).await;
    let text = out.ok();
    assert!(
        text.starts_with("Settings of team Design:")
            && text.contains("below 30 %")
            && text.contains("on: "),
        "{text}"
    );
    let out = env
        .run(&[
            "teams",
            "settings",
            "--team",
            "Design",
            "--pseudonyms",
            "off",
        ])
        .await;
    let text = out.ok();
    assert!(
        text.starts_with("Updated the settings of team Design:") && text.contains("below 30 %"),
        "only what was given changes: {text}"
    );
    env.run(&[
        "teams",
        "settings",
        "--team",
        "Design",
        "--pseudonyms",
        "on",
    ])
    .await
    .ok();

    // Pseudonyms hide names and emails in reports and the export; the figures stay.
    let report = env
        .run(&[
            "report", "usage", "--team", "Design", "--by", "user", "--json",
        ])
        .await
        .json();
    assert_eq!(report["pseudonyms"], true);
    let users = report["by_user"].as_array().expect("by_user");
    assert_eq!(users.len(), 2, "{report}");
    for u in users {
        assert!(u["user"].as_str().unwrap().starts_with("person-"), "{u}");
        assert!(
            u.get("email").is_none() && u.get("user_id").is_none(),
            "{u}"
        );
    }
    let tokens: Vec<i64> = users
        .iter()
        .map(|u| u["tokens"].as_i64().unwrap())
        .collect();
    assert_eq!(tokens.iter().sum::<i64>(), used);
    let raw = report.to_string();
    assert!(
        !raw.contains("Jane") && !raw.contains("example.com"),
        "{raw}"
    );
    let out = env
        .run(&["report", "usage", "--team", "Design", "--by", "user"])
        .await;
    let text = out.ok();
    assert!(
        text.contains("pseudonyms") && !text.contains("Jane"),
        "{text}"
    );
    let out = env
        .run(&["report", "export", "--team", "Design", "--output", "-"])
        .await;
    let text = out.ok();
    assert!(
        !text.contains("Jane") && !text.contains("Bob") && !text.contains("example.com"),
        "{text}"
    );
    let (header, rows) = read_csv(text);
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .all(|r| r[1].starts_with("person-") && r[2].is_empty()),
        "{text}"
    );
    assert_eq!(column_sum(&header, &rows, "tokens"), used);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_rep_reports_from_the_command_line_sqlite() {
    reports_flow(Env::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_rep_reports_from_the_command_line_postgres() {
    if let Some(env) = Env::start(Backend::Postgres).await {
        reports_flow(env).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_report_input_says_the_expected_form() {
    let dir = tempfile::tempdir().unwrap();
    // Usage errors (exit 2), from the argument parser.
    let cases: &[(&[&str], &str)] = &[
        (
            &["report", "usage", "--team", "1", "--from", "2026-02-30"],
            "YYYY-MM-DD",
        ),
        (
            &["report", "events", "--team", "1", "--to", "01/03/2026"],
            "YYYY-MM-DD",
        ),
        (
            &["report", "usage", "--team", "1", "--range", "yesterday"],
            "past_30_days",
        ),
        (
            &["report", "usage", "--team", "1", "--by", "week"],
            "product",
        ),
        (
            &["estimate", "--plan", "autocad:5"],
            "PRODUCT:USERS:DAYS_PER_MONTH",
        ),
        (&["estimate", "--plan", "autocad:5:32"], "days 1 to 31"),
        (&["estimate"], "--plan"),
        (
            &[
                "teams",
                "settings",
                "--team",
                "1",
                "--low-balance-percent",
                "150",
            ],
            "1..=99",
        ),
        (
            &["teams", "settings", "--team", "1", "--pseudonyms", "maybe"],
            "expected on or off",
        ),
    ];
    for (args, expected) in cases {
        let out = jeton_in(dir.path(), args).await;
        assert_eq!(
            out.code,
            Some(2),
            "{args:?} is a usage error:\n{}",
            out.stderr
        );
        assert!(out.stderr.contains(expected), "{args:?}:\n{}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    // Checked before any request (exit 1): no server is needed.
    let no_server = ["--server", "http://127.0.0.1:9"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["report", "usage", "--team", "1", "--from", "2026-01-01"],
            "both --from and --to",
        ),
        (
            &[
                "report",
                "export",
                "--team",
                "1",
                "--from",
                "2026-02-01",
                "--to",
                "2026-01-01",
            ],
            "is after --to",
        ),
        (
            &[
                "report",
                "usage",
                "--team",
                "1",
                "--range",
                "3m",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-31",
            ],
            "not with --range past_3_months",
        ),
        (
            &["report", "events", "--team", "1", "--range", "custom"],
            "--range custom needs --from and --to",
        ),
    ];
    for (args, expected) in cases {
        let out = jeton_in(dir.path(), &[args, &no_server[..]].concat()).await;
        assert!(out.fails(1).contains(expected), "{args:?}:\n{}", out.stderr);
    }
}

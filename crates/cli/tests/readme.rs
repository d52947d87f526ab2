//! The README's walkthrough, run as a newcomer runs it: every ```sh block of README.md, in order,
//! in one shell, in a fresh directory, against the servers its `sh server` blocks start. A
//! command that fails, or whose output lacks what a `#> …` line under it shows, fails the test.
//!
//! What the blocks may say, beyond plain shell:
//! - ```` ```sh server ````: lines `cargo run --release -- serve ARGS` start a server in the
//!   background (the release binary is `target/release/jeton`, here the binary under test) and
//!   wait until it answers. The README's ports 8080 and 8081 become free ports; the first server
//!   gets this test's database (SQLite in `./jeton-data`, or a fresh PostgreSQL database).
//! - ```` ```sh skip ````: not run (the README's two commands: this test is part of the second).
//! - `#> text` under a command: its output (stdout and stderr) has a line containing `text`, where
//!   `…` stands for anything; `#> (exit N)`: the command exits with N instead of 0.
//! - Other fences (```toml, ```text, …) are not shell and are not run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use jeton_store::Backend;
use jeton_store::both_backends;
use jeton_store::testing::TestDb;

both_backends! {
    the_readme_walkthrough_runs_top_to_bottom => walkthrough,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fenced block of the README: its info string, first line number and lines.
#[derive(Debug)]
struct Block {
    info: String,
    line: usize,
    lines: Vec<String>,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match (&mut open, fence) {
            (None, true) => {
                open = Some(Block {
                    info: line.trim_start().trim_start_matches('`').trim().to_owned(),
                    line: i + 2,
                    lines: Vec::new(),
                });
            }
            (Some(_), true) => out.extend(open.take()),
            (Some(b), false) => b.lines.push(line.to_owned()),
            (None, false) => {}
        }
    }
    assert!(open.is_none(), "README.md ends inside a code block");
    out
}

/// Text between single quotes for bash.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A `#>` line as a bash pattern: the text literal, `…` any characters, anywhere in a line.
fn pattern(expected: &str) -> String {
    let parts: Vec<String> = expected.split('…').map(quoted).collect();
    format!("*{}*", parts.join("*"))
}

/// One logical command (continued lines joined), where it starts, and what its output shows.
struct Unit {
    line: usize,
    text: String,
    expect: Vec<String>,
    exit: i32,
}

fn units(block: &Block) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    let mut continued = false;
    for (i, raw) in block.lines.iter().enumerate() {
        let line = block.line + i;
        let trimmed = raw.trim();
        if let Some(expected) = trimmed.strip_prefix("#>") {
            let unit = units
                .last_mut()
                .unwrap_or_else(|| panic!("README.md line {line}: `#>` with no command above"));
            let expected = expected.trim();
            if let Some(code) = expected
                .strip_prefix("(exit ")
                .and_then(|c| c.strip_suffix(')'))
            {
                unit.exit = code
                    .parse()
                    .unwrap_or_else(|_| panic!("README.md line {line}: bad exit code"));
            } else {
                unit.expect.push(expected.to_owned());
            }
            continue;
        }
        if continued {
            let unit = units.last_mut().expect("a continued command");
            unit.text.push('\n');
            unit.text.push_str(raw);
        } else if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        } else {
            units.push(Unit {
                line,
                text: raw.clone(),
                expect: Vec::new(),
                exit: 0,
            });
        }
        continued = raw.ends_with('\\');
    }
    units
}

const PRELUDE: &str = r#"set -uo pipefail
__line=0
trap 'echo "README.md line $__line: the command failed (exit $?)" >&2; exit 1' ERR
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null' EXIT
__wait_for() {
  for _ in $(seq 1 600); do
    curl -sf "$1/healthz" > /dev/null && return 0
    sleep 0.1
  done
  echo "README.md line $__line: the server at $1 did not answer within 60 s" >&2
  cat server-*.log >&2
  exit 1
}
shopt -s expand_aliases
"#;

/// The whole walkthrough as one bash script.
fn script(readme: &str, ports: &[(&str, u16)], first_server_env: &str) -> String {
    let mut out = String::from(PRELUDE);
    let mut servers = 0;
    for block in blocks(readme) {
        let mut words = block.info.split_whitespace();
        if words.next() != Some("sh") {
            continue;
        }
        let role = words.next();
        if role == Some("skip") {
            continue;
        }
        for unit in units(&block) {
            let mut text = unit.text.clone();
            for (from, to) in ports {
                text = text.replace(from, &to.to_string());
            }
            out.push_str(&format!(
                "__line={}\nprintf '\\n$ %s\\n' {}\n",
                unit.line,
                quoted(&text)
            ));
            if role == Some("server") {
                let args = text
                    .strip_prefix("cargo run --release -- serve")
                    .unwrap_or_else(|| {
                        panic!(
                            "README.md line {}: a `sh server` block holds only \
                             `cargo run --release -- serve …` lines",
                            unit.line
                        )
                    });
                let env = if servers == 0 { first_server_env } else { "" };
                let port = args
                    .split_whitespace()
                    .skip_while(|a| *a != "--listen")
                    .nth(1)
                    .map_or(ports[0].1.to_string(), |a| {
                        a.rsplit(':').next().unwrap_or_default().to_owned()
                    });
                out.push_str(&format!(
                    "{env} target/release/jeton serve{args} > server-{servers}.log 2>&1 &\n\
                     __wait_for http://127.0.0.1:{port}\n"
                ));
                servers += 1;
                continue;
            }
            if unit.expect.is_empty() && unit.exit == 0 {
                out.push_str(&text);
                out.push('\n');
                continue;
            }
            // Run it in a subshell to see its output and exit code; its variables stay there,
            // so a README command that sets a variable shows no output.
            out.push_str(&format!(
                "__out=$( {{ {text}\n}} 2>&1 ) && __rc=0 || __rc=$?\nprintf '%s\\n' \"$__out\"\n"
            ));
            out.push_str(&format!(
                "[ \"$__rc\" = {} ] || {{ echo \"README.md line {}: exit $__rc, the README shows {}\" >&2; exit 1; }}\n",
                unit.exit, unit.line, unit.exit
            ));
            for expected in &unit.expect {
                out.push_str(&format!(
                    "__found=0; while IFS= read -r __l; do [[ $__l == {} ]] && __found=1; done <<< \"$__out\"\n\
                     [ $__found = 1 ] || {{ echo \"README.md line {}: the output has no line with: \"{} >&2; exit 1; }}\n",
                    pattern(expected),
                    unit.line,
                    quoted(expected)
                ));
            }
        }
    }
    assert!(
        servers > 0,
        "the README starts no server in a `sh server` block"
    );
    out.push_str("echo '== the walkthrough ran to the end'\n");
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The walkthrough's blocks use curl and jq, as the README says. Without them the test says it
/// was skipped, unless `JETON_TEST_README=required` (CI), where that is a failure.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["curl", "jq", "bash"]
        .into_iter()
        .filter(|tool| {
            std::process::Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let required = std::env::var("JETON_TEST_README").is_ok_and(|v| v == "required");
    assert!(
        !required,
        "JETON_TEST_README=required but {missing:?} cannot be run: install them"
    );
    eprintln!("skipped: the README walkthrough needs {missing:?}");
    false
}

async fn walkthrough(db: TestDb) {
    if !tools_present() {
        return;
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let dir = tempfile::tempdir().expect("a directory to follow the README in");
    let cwd = dir.path();
    // The README runs from a checkout after `cargo run --release`: the binary under test stands in
    // for the release build, and the repository's sample files are beside it.
    std::fs::create_dir_all(cwd.join("target/release")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_jeton"),
        cwd.join("target/release/jeton"),
    )
    .unwrap();
    std::os::unix::fs::symlink(repo().join("examples"), cwd.join("examples")).unwrap();
    let ports = [("8080", free_port()), ("8081", free_port())];
    let first_server_env = match db.backend {
        Backend::Sqlite => format!("JETON_LISTEN=127.0.0.1:{}", ports[0].1),
        Backend::Postgres => format!(
            "JETON_LISTEN=127.0.0.1:{} JETON_DATABASE_URL={}",
            ports[0].1, db.url
        ),
    };
    let script = script(&readme, &ports, &first_server_env);
    std::fs::write(cwd.join("walkthrough.sh"), &script).unwrap();

    let mut command = tokio::process::Command::new("bash");
    command
        .arg("walkthrough.sh")
        .current_dir(cwd)
        // A newcomer's shell: nothing of Jeton's configured, the CLI's defaults pointed at the
        // first server (the README's localhost:8080).
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("RUST_LOG", "warn")
        .env("JETON_SERVER", format!("http://127.0.0.1:{}", ports[0].1))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .expect("the walkthrough ends within 10 minutes")
        .expect("bash runs");
    let transcript = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the README walkthrough failed ({}):\n{transcript}",
        output.status
    );
    assert!(
        transcript.contains("== the walkthrough ran to the end"),
        "{transcript}"
    );
}

#[test]
fn expectations_are_literal_text_with_ellipses() {
    assert_eq!(pattern(r#"{"id":3,…}"#), r#"*'{"id":3,'*'}'*"#);
    let block = Block {
        info: "sh".into(),
        line: 10,
        lines: vec![
            "jeton a \\".into(),
            "  --b   # a comment".into(),
            "#> out…put".into(),
            "# a comment".into(),
            "jeton c 0".into(),
            "#> (exit 1)".into(),
        ],
    };
    let units = units(&block);
    assert_eq!(units.len(), 2);
    assert_eq!(units[0].text, "jeton a \\\n  --b   # a comment");
    assert_eq!(units[0].expect, vec!["out…put".to_owned()]);
    assert_eq!((units[1].line, units[1].exit), (14, 1));
}

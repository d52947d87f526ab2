//! The commands that need no server, through the real binary: `--version`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::process::{Command, Output};

/// Runs `jeton` with `args`; asserts success and returns stdout.
fn jeton(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_jeton"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run the jeton binary");
    ok(&format!("jeton {}", args.join(" ")), output)
}

fn ok(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`{what}` failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn version_names_the_package_version_and_the_revision() {
    let out = jeton(&["--version"]);
    let line = out.trim_end();
    let prefix = format!("jeton {} (", env!("CARGO_PKG_VERSION"));
    let revision = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("expected `{prefix}REVISION)`, got {line:?}"));
    assert!(!revision.trim().is_empty(), "{line:?}");

    // Built from a git checkout (and not told otherwise), it is that checkout's HEAD.
    if std::env::var_os("JETON_GIT_REV").is_some() {
        return;
    }
    let head = Command::new("git")
        .args(["log", "-1", "--format=%h %cd", "--date=short"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Some(head) = head.ok().filter(|o| o.status.success()) {
        let head = String::from_utf8_lossy(&head.stdout);
        assert_eq!(revision, head.trim(), "{line:?}");
        let (hash, date) = revision.split_once(' ').unwrap();
        assert!(
            hash.len() >= 7 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "{hash}"
        );
        assert_eq!(date.len(), "2026-12-06".len(), "{date}");
    }
}

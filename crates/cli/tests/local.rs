//! The commands that need no server, through the real binary: `--version`, `completions`, `man`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::path::Path;
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

/// Whether `program` can be run here (`program --version` succeeds).
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
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

#[test]
fn bash_completion_is_valid_bash_and_completes_subcommands() {
    let script = jeton(&["completions", "bash"]);
    assert!(script.contains("teams") && script.contains("invitations"));
    if !installed("bash") {
        eprintln!("skipped running the script: bash is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jeton.bash");
    std::fs::write(&file, &script).unwrap();
    let checked = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    ok("bash -n", checked);

    // What a user gets from `jeton te<TAB>` and `jeton teams cr<TAB>`.
    let complete = |words: &str, current: usize| {
        let run = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD={current}; \
             COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             _jeton jeton \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        ok(
            &format!("completing {words}"),
            Command::new("bash").args(["-c", &run]).output().unwrap(),
        )
    };
    assert_eq!(complete("jeton te", 1).trim(), "teams");
    assert_eq!(complete("jeton teams cr", 2).trim(), "create");
}

#[test]
fn zsh_and_fish_completions_name_the_subcommands() {
    for (shell, program) in [("zsh", "zsh"), ("fish", "fish")] {
        let script = jeton(&["completions", shell]);
        assert!(
            script.contains("teams") && script.contains("create"),
            "{shell}:\n{script}"
        );
        // Each shell checks its own syntax where it is installed.
        if installed(program) {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join(format!("jeton.{shell}"));
            std::fs::write(&file, &script).unwrap();
            ok(
                &format!("{program} -n"),
                Command::new(program).arg("-n").arg(&file).output().unwrap(),
            );
        }
    }
}

#[test]
fn man_prints_the_main_page_as_roff() {
    let page = jeton(&["man"]);
    assert_title(&page, "jeton");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS", ".SH VERSION"] {
        assert!(page.contains(section), "no {section}:\n{page}");
    }
    assert!(
        page.contains("jeton\\-teams(1)"),
        "links to the subcommands' pages"
    );
    assert!(
        !page.contains("jeton\\-help"),
        "no page for the help pseudo-command"
    );
}

#[test]
fn man_out_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let said = jeton(&["man", "--out", out.to_str().unwrap()]);

    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    assert_eq!(
        said.trim(),
        format!("wrote {} man pages to {}", pages.len(), out.display())
    );
    for page in [
        "jeton.1",
        "jeton-serve.1",
        "jeton-teams.1",
        "jeton-teams-create.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "no {page} in {pages:?}");
    }
    assert!(
        !pages.iter().any(|p| p.contains("-help")),
        "pages for the help pseudo-command: {pages:?}"
    );
    for page in &pages {
        let text = std::fs::read_to_string(out.join(page)).unwrap();
        assert_title(&text, page.trim_end_matches(".1"));
    }
    let create = std::fs::read_to_string(out.join("jeton-teams-create.1")).unwrap();
    assert!(
        create.contains("\\-\\-server"),
        "the connection options are documented"
    );

    render_with_man(&out.join("jeton-teams-create.1"));
    render_with_man(&out.join("jeton.1"));
}

/// Renders a page as `man` would show it, when `man` is installed: no error, no warning, and
/// the page's name in its text.
fn render_with_man(page: &Path) {
    if !installed("man") {
        eprintln!("skipped rendering {}: man is not installed", page.display());
        return;
    }
    let output = Command::new("man")
        .arg("--warnings")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = ok(&format!("man -l {}", page.display()), output);
    assert!(stderr.trim().is_empty(), "man warned:\n{stderr}");
    assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
}

/// A man page: a title line (after roff's string definitions) with the page's name, section,
/// a date and the version (`.TH jeton-teams 1 2026-12-06 "jeton 0.1.0 (3288c49 2026-12-06)"`),
/// then a NAME section.
fn assert_title(page: &str, name: &str) {
    let title = page
        .lines()
        .find(|l| l.starts_with(".TH "))
        .unwrap_or_else(|| panic!("no .TH line in {name}:\n{page}"));
    let rest = title
        .strip_prefix(&format!(".TH {name} 1 "))
        .unwrap_or_else(|| panic!("{title}"));
    let (date, source) = rest.split_once(' ').unwrap_or_else(|| panic!("{title}"));
    assert!(
        !date.is_empty() && !date.starts_with('"'),
        "a date: {title}"
    );
    let version = format!("\"jeton {} (", env!("CARGO_PKG_VERSION"));
    assert!(source.starts_with(&version), "{title}");
    let (before, after) = page.split_once(title).unwrap();
    assert!(
        before
            .lines()
            .all(|l| l.starts_with(".ie ") || l.starts_with(".el ")),
        "only definitions before the title:\n{before}"
    );
    assert!(after.contains("\n.SH NAME\n"), "{name}: no NAME section");
}

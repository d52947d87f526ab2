//! Puts the git revision the binary was built from into `jeton --version`, as the
//! `JETON_REVISION` compile-time variable: `3288c49 2026-12-06` (short hash, commit date), and
//! the date alone as `JETON_COMMIT_DATE` (empty when unknown).
//!
//! Where there is no git repository (a source tarball, a container build without `.git`) the
//! builder may give it as `JETON_GIT_REV` (and `JETON_GIT_DATE`); otherwise it is `unknown`, so
//! a build never fails for want of git.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=JETON_GIT_REV");
    println!("cargo:rerun-if-env-changed=JETON_GIT_DATE");

    let given = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (hash, date) = match given("JETON_GIT_REV") {
        Some(rev) => (rev, given("JETON_GIT_DATE")),
        None => match from_git() {
            Some((hash, date)) => (hash, Some(date)),
            None => ("unknown".to_string(), None),
        },
    };
    let revision = match &date {
        Some(date) => format!("{hash} {date}"),
        None => hash,
    };
    println!("cargo:rustc-env=JETON_REVISION={revision}");
    // The man pages' date.
    println!(
        "cargo:rustc-env=JETON_COMMIT_DATE={}",
        date.unwrap_or_default()
    );
}

/// The short hash and commit date of HEAD, when git and a repository are there.
fn from_git() -> Option<(String, String)> {
    let line = git(&["log", "-1", "--format=%h %cd", "--date=short"])?;
    let (hash, date) = line.split_once(' ')?;
    watch_head();
    Some((hash.to_string(), date.to_string()))
}

/// Makes cargo run this script again when HEAD moves (a commit, a checkout), and only then:
/// HEAD itself names the branch, the branch's ref file (or packed-refs) names the commit. In a
/// worktree HEAD is in its own git dir and the refs in the common one, hence the two.
fn watch_head() {
    let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) else {
        return;
    };
    let common_dir = git(&["rev-parse", "--git-common-dir"])
        .map(PathBuf::from)
        .unwrap_or_else(|| git_dir.clone());
    let mut watched = vec![git_dir.join("HEAD"), common_dir.join("packed-refs")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]).map(|b| common_dir.join(b)) {
        // A branch only in packed-refs (just cloned) gets its own file on the next commit:
        // the folder it will appear in is watched until then.
        match branch.parent().filter(|_| !branch.exists()) {
            Some(folder) => watched.push(folder.to_path_buf()),
            None => watched.push(branch),
        }
    }
    // A path that does not exist would make cargo run the script on every build.
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", absolute(path).display());
    }
}

/// `git` paths are relative to the directory it ran in, which is this crate's.
fn absolute(path: &Path) -> PathBuf {
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) if path.is_relative() => PathBuf::from(dir).join(path),
        _ => path.to_path_buf(),
    }
}

/// One line of `git`'s output, or nothing when git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let line = text.trim();
    (!line.is_empty()).then(|| line.to_string())
}

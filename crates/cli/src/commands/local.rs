//! Commands that need no server: shell completion scripts and man pages, made from the same
//! command-line definition the binary parses, so they cannot drift from `--help`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

use crate::cli::Cli;

#[derive(Debug, Args)]
#[command(after_help = "Install, e.g.:\n  \
    jeton completions bash > ~/.local/share/bash-completion/completions/jeton\n  \
    jeton completions zsh > ~/.zfunc/_jeton      # with fpath+=~/.zfunc in ~/.zshrc\n  \
    jeton completions fish > ~/.config/fish/completions/jeton.fish")]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

#[derive(Debug, Args)]
#[command(after_help = "Install, e.g.:\n  \
    sudo jeton man --out /usr/local/share/man/man1 && man jeton-teams-create")]
pub struct ManArgs {
    /// Write jeton.1 and one page per subcommand (jeton-teams-create.1, …) into this directory,
    /// creating it; without it, print jeton.1 to stdout
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `jeton completions SHELL`: the script on stdout.
pub fn completions(args: CompletionsArgs) -> Result<()> {
    // Made in memory first: clap_complete panics when a write fails (say, a closed pipe), an
    // error here is reported instead.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "jeton", &mut script);
    write_stdout(&script)
}

/// `jeton man [--out DIR]`.
pub fn man(args: ManArgs) -> Result<()> {
    let Some(dir) = args.out else {
        let mut page = Vec::new();
        page_of(command())
            .render(&mut page)
            .context("cannot render the man page")?;
        return write_stdout(&page);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // As clap_mangen::generate_to, which does not say what it wrote.
    let mut cli = command();
    cli.build();
    let mut written = Vec::new();
    write_pages(cli, &dir, &mut written)?;
    println!("wrote {} man pages to {}", written.len(), dir.display());
    Ok(())
}

/// The command line as the man pages show it: without the `help` pseudo-command, whose pages
/// would only repeat the others (and which the pages' lists of subcommands would name).
fn command() -> clap::Command {
    Cli::command().disable_help_subcommand(true)
}

/// Writes `cmd`'s page, named from its full path (`jeton-teams-create.1`), and its
/// subcommands' pages.
fn write_pages(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, written)?;
    }
    let man = page_of(cmd);
    let path = man
        .generate_to(dir)
        .with_context(|| format!("cannot write {}", dir.join(man.get_filename()).display()))?;
    written.push(path);
    Ok(())
}

/// A page, its footer naming the program, version and date. Both are set: clap_mangen would
/// name the subcommand alone on every page but the first, and leave the date empty, which roff
/// reads as no argument at all, taking the next one for the date.
fn page_of(cmd: clap::Command) -> clap_mangen::Man {
    let date = match env!("JETON_COMMIT_DATE") {
        "" => "undated",
        date => date,
    };
    clap_mangen::Man::new(cmd)
        .date(date)
        .source(format!("jeton {}", crate::cli::VERSION))
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        // A reader that stopped early (`jeton man | head`) has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to stdout"),
    }
}

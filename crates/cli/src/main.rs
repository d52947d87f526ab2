//! `jeton`: runs the Jeton server (`jeton serve`) and manages it from the command line.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

// mimalloc instead of glibc's malloc: under the charging benchmark a tenth of the server's CPU
// was glibc's allocator (malloc, free and their consolidation), see docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            match error.downcast_ref::<commands::Exit>() {
                Some(exit) => ExitCode::from(exit.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}

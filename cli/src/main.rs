//! `pyk`: a thin command-line frontend over the `pykernel` library.
//!
//! All session logic lives in the library; this crate parses arguments, shows outputs
//! and maps endings to exit codes (see [`exit::Exit`]).

mod args;
mod cell;
mod doctor;
mod editor;
mod exec;
mod exit;
mod images;
mod input;
mod json;
mod mcp;
mod multiline;
mod notebook;
mod output;
mod repl;
mod serve;
mod signals;

use std::{
    error::Error,
    fmt::Write as _,
    io::{self, IsTerminal},
    process::ExitCode,
    time::Duration,
};

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::{
    args::{Cli, Command},
    exit::Exit,
    signals::{Interrupts, Stops},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("pyk: cannot start the async runtime: {err}");
            return Exit::Unusable.into();
        }
    };
    let exit = runtime.block_on(run(&cli));
    // A thread may still wait on stdin for an `input()` that will never be answered;
    // it must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(100));
    exit.into()
}

async fn run(cli: &Cli) -> Exit {
    let mut interrupts = match Interrupts::new() {
        Ok(interrupts) => interrupts,
        Err(err) => {
            eprintln!("pyk: cannot catch Ctrl-C: {err}");
            return Exit::Unusable;
        }
    };
    let mut stops = match Stops::new() {
        Ok(stops) => stops,
        Err(err) => {
            eprintln!("pyk: cannot catch SIGTERM and SIGHUP: {err}");
            return Exit::Unusable;
        }
    };
    let command = async {
        match &cli.command {
            Command::Exec(args) => exec::exec(args, &mut interrupts).await,
            Command::Repl(args) => repl::repl(args, &mut interrupts).await,
            Command::Doctor(args) => doctor::doctor(args, &mut interrupts).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::Mcp(args) => mcp::mcp(args).await,
            Command::Notebook(args) => notebook::notebook(args, &mut interrupts).await,
        }
    };
    tokio::select! {
        exit = command => exit,
        stop = stops.recv() => {
            // The command is dropped mid-way; its kernels still get the whole ladder, so
            // what their cells started is gone before pyk exits.
            signals::shut_down_watched().await;
            Exit::Stopped(stop)
        }
    }
}

/// Logs go to stderr: warnings by default (the runner's own stderr among them), more
/// with `-v`; `RUST_LOG` overrides both.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(verbose >= 2)
        .without_time()
        .init();
}

/// An error and its sources, joined by `: `.
pub(crate) fn error_chain(error: &dyn Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Each error's message leaves its cause out, so each cause is printed once.
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    message
}

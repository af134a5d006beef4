//! Project automation: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks (fmt, clippy, all tests with real Python, the runner's
//!   Python tests, a fuzz build and smoke run).
//! - `test-python`: bootstraps the test virtualenv under `target/`, then runs the runner's
//!   pytest suite and the real-Python Rust tests.
//! - `fuzz [TARGET] [--seconds N]`: runs the cargo-fuzz targets.
//! - `bench`: pykernel against jupyter_client + ipykernel, side by side.

mod ci;
mod python;
mod shell;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci | test-python | fuzz [TARGET] [--seconds N] | bench>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("ci") => ci::run_ci(),
        Some("test-python") => python::test_python(),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

//! Project automation: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks (fmt, clippy, all tests with real Python, the runner's
//!   Python tests, a fuzz build and smoke run).
//! - `test-python`: bootstraps the test virtualenv under `target/`, then runs the runner's
//!   pytest suite (on every CPython 3.9+ found) and the real-Python Rust tests.
//! - `fuzz [TARGET] [--seconds N]`: runs the cargo-fuzz targets.
//! - `bench [--runs N]`: pykernel against jupyter_client + ipykernel, side by side, then
//!   `pyk mcp` against pykernel-mcp through the Python MCP client.
//! - `chaos [--quick] [NAME...]`: fault injection against the built `pyk`.
//! - `dist [--check] [--profile NAME]`: the wheel and npm tarballs in `target/dist/`; `--check`
//!   installs each fresh and drives `pyk` and both typed clients from them.
//! - `test-serve`: the `pyk serve` example clients' tests (Python and Node), as CI runs them.
//! - `test-mcp`: `pyk mcp` driven by the official Python and TypeScript MCP SDKs.
//! - `notebooks [--quick] [--reference] [--engine E]...`: the notebook conformance suite
//!   against nbclient + ipykernel's reference outputs.

mod bench;
mod bench_mcp;
mod chaos;
mod ci;
mod dist;
mod fuzz;
mod launchers;
mod mcp;
mod notebooks;
mod python;
mod serve;
mod shell;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask \
    <ci | test-python | test-serve | test-mcp | fuzz [TARGET] [--seconds N] | bench [--runs N] | \
    chaos [--quick] [NAME...] | dist [--check] [--profile NAME] | \
    notebooks [--quick] [--reference] [--engine E]...>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("ci") => ci::run_ci(),
        Some("test-python") => python::test_python(),
        Some("test-serve") => serve::test_serve(),
        Some("test-mcp") => mcp::test_mcp(),
        Some("fuzz") => fuzz_command(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("chaos") => chaos::run(&args[1..]),
        Some("dist") => dist::run_dist(&args[1..]),
        Some("notebooks") => notebooks::run_notebooks(&args[1..]),
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

/// `fuzz [TARGET] [--seconds N]`: one target or all of them, 60 seconds each by default.
fn fuzz_command(args: &[String]) -> Result<(), String> {
    let mut target = None;
    let mut seconds = 60;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            let value = args.next().ok_or("--seconds needs a number")?;
            seconds = value
                .parse()
                .map_err(|_| format!("--seconds: `{value}` is not a number"))?;
        } else if target.is_none() && !arg.starts_with('-') {
            target = Some(arg.as_str());
        } else {
            return Err(format!("unexpected argument `{arg}`\n{USAGE}"));
        }
    }
    fuzz::run(target, seconds)
}

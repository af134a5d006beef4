//! `cargo xtask ci`: the whole check CI runs, in the order that fails fastest.

use crate::{
    chaos, dist, fuzz, launchers, mcp, notebooks,
    python::{ensure_test_venv, pytest, pytest_other_versions, rust_tests, rust_tests_on_extremes},
    serve,
    shell::{cargo, run},
};

/// Formatting, lints, every test (real Python included), the runner's pytest suite (on
/// every CPython 3.9+ found), the real-Python Rust tests also on the oldest and newest of
/// those, the `pyk serve` example clients, `pyk mcp` driven by the official MCP SDKs, the
/// notebook conformance corpus (light engine, outputs validated by nbformat), the
/// packages (crates, wheel and npm, each installed fresh and driven), the quick
/// fault-injection scenarios.
pub(crate) fn run_ci() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    let python = ensure_test_venv()?;
    pytest(&python)?;
    let others = pytest_other_versions(&python)?;
    // Bubblewrap and OpenSSH for the launcher tests, then those tests again over ssh.
    launchers::install_tools()?;
    rust_tests(&python, true)?;
    launchers::test_over_ssh(&python)?;
    rust_tests_on_extremes(&others, true)?;
    serve::test_clients(&python)?;
    mcp::test_mcp()?;
    notebooks::run_notebooks(&["--quick".to_owned()])?;
    dist::check_in_ci()?;
    chaos::run(&["--quick".to_owned()])?;
    // A short smoke run of every fuzz target over its seed corpus and fresh inputs.
    fuzz::build()?;
    fuzz::run(None, FUZZ_SMOKE_SECONDS)
}

/// How long CI fuzzes each target.
const FUZZ_SMOKE_SECONDS: u64 = 10;

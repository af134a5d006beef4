//! `cargo xtask ci`: the whole check CI runs, in the order that fails fastest.

use crate::{
    fuzz,
    python::{TEST_PYTHON_VAR, ensure_test_venv, pytest, pytest_other_versions},
    shell::{cargo, run},
};

/// Formatting, lints, every test (real Python included), the runner's pytest suite (on
/// every CPython 3.9+ found).
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
    pytest_other_versions(&python)?;
    // insta must never write snapshots in CI: a mismatch fails the test instead.
    run(cargo()
        .args(["test", "--workspace"])
        .env(TEST_PYTHON_VAR, &python)
        .env("INSTA_UPDATE", "no")
        .env("CI", "true"))?;
    // A short smoke run of every fuzz target over its seed corpus and fresh inputs.
    fuzz::build()?;
    fuzz::run(None, FUZZ_SMOKE_SECONDS)
}

/// How long CI fuzzes each target.
const FUZZ_SMOKE_SECONDS: u64 = 10;

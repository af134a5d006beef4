//! `cargo xtask ci`: the whole check CI runs, in the order that fails fastest.

use crate::{
    python::{TEST_PYTHON_VAR, ensure_venv, pytest},
    shell::{cargo, run},
};

/// Formatting, lints, every test (real Python included), the runner's pytest suite.
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
    let python = ensure_venv()?;
    pytest(&python)?;
    // insta must never write snapshots in CI: a mismatch fails the test instead.
    run(cargo()
        .args(["test", "--workspace"])
        .env(TEST_PYTHON_VAR, &python)
        .env("INSTA_UPDATE", "no")
        .env("CI", "true"))?;
    Ok(())
}

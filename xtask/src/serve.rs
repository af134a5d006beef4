//! The `pyk serve` example clients as tests: the Python one (standard library only, plus
//! `jsonschema` in `target/serve-venv` to check every message against
//! `docs/serve.schema.json`) and the Node one (`node --test`, no npm packages).
//!
//! Both start a debug `pyk serve` through `PYK_BIN` and run their kernels on the test
//! interpreter through `PYK_PYTHON`.

use std::path::Path;

use crate::{
    python::{ensure_test_venv, ensure_venv},
    shell::{build_debug_pyk, cmd, project_root, run},
};

/// `cargo xtask test-serve`: the example clients' tests on the test virtualenv.
pub(crate) fn test_serve() -> Result<(), String> {
    test_clients(&ensure_test_venv()?)
}

/// Builds `pyk` and runs both example clients' tests against it, kernels on `python`.
pub(crate) fn test_clients(python: &Path) -> Result<(), String> {
    let pyk = build_debug_pyk()?;
    let root = project_root();
    let clients = root.join("clients");
    let schema_python = ensure_venv(
        "serve-venv",
        &clients.join("python").join("requirements-test.txt"),
    )?;
    run(cmd(&schema_python)
        .arg(clients.join("python").join("test_pyk_serve.py"))
        .env("PYK_BIN", &pyk)
        .env("PYK_PYTHON", python)
        .env(
            "PYK_SERVE_SCHEMA",
            root.join("docs").join("serve.schema.json"),
        ))?;
    run(cmd("node")
        .arg("--test")
        .arg(clients.join("node").join("test"))
        .env("PYK_BIN", &pyk)
        .env("PYK_PYTHON", python))
}

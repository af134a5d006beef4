//! `cargo xtask test-mcp`: `pyk mcp` driven by the official MCP clients.
//!
//! The Python SDK (`mcp`, with pytest and matplotlib, in `target/mcp-venv`) runs
//! `server/tests/clients/test_mcp_*.py` over stdio and streamable HTTP; the TypeScript
//! SDK (`@modelcontextprotocol/sdk`, installed by npm into `target/mcp-node`) runs
//! `server/tests/clients/mcp_stdio.test.mjs` with `node --test`. Both start a debug `pyk
//! mcp` through `PYK_BIN`, with kernels on the mcp virtualenv's interpreter.

use std::{fs, path::PathBuf};

use crate::{
    python::ensure_venv,
    shell::{build_debug_pyk, cmd, project_root, run},
};

/// Builds `pyk` and runs both clients' tests against it.
pub(crate) fn test_mcp() -> Result<(), String> {
    let pyk = build_debug_pyk()?;
    let root = project_root();
    let tests = root.join("server").join("tests").join("clients");
    let python = ensure_venv("mcp-venv", &tests.join("requirements.txt"))?;
    run(cmd(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&tests)
        .current_dir(&tests)
        .env("PYK_BIN", &pyk)
        .env("PYKERNEL_TEST_PYTHON", &python))?;
    let node_modules = ensure_node_modules(&tests.join("package.json"))?;
    run(cmd("node")
        .arg("--test")
        .arg(tests.join("mcp_stdio.test.mjs"))
        .env("PYK_BIN", &pyk)
        .env("PYKERNEL_TEST_PYTHON", &python)
        .env("MCP_NODE_MODULES", &node_modules))
}

/// Installs the npm packages of `package_json` into `target/mcp-node`; returns its
/// `node_modules`. A copy of the manifest there skips the install when nothing changed.
fn ensure_node_modules(package_json: &std::path::Path) -> Result<PathBuf, String> {
    let dir = project_root().join("target").join("mcp-node");
    let node_modules = dir.join("node_modules");
    let manifest = fs::read_to_string(package_json)
        .map_err(|err| format!("cannot read {}: {err}", package_json.display()))?;
    let installed = dir.join("package.json");
    if node_modules.is_dir() && fs::read_to_string(&installed).ok().as_deref() == Some(&manifest) {
        return Ok(node_modules);
    }
    fs::create_dir_all(&dir).map_err(|err| format!("cannot make {}: {err}", dir.display()))?;
    fs::write(&installed, &manifest)
        .map_err(|err| format!("cannot write {}: {err}", installed.display()))?;
    run(cmd("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir))?;
    Ok(node_modules)
}

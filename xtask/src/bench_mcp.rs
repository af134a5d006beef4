//! The `pyk mcp` part of `cargo xtask bench`: `xtask/bench/mcp_bench.py` drives a release
//! `pyk mcp` with the official Python MCP SDK (in `target/mcp-bench-venv`, which is also the
//! kernels' interpreter) and, side by side, pykernel-mcp from PyPI (its `execute_python`
//! runs ipykernel through jupyter_client; it needs the 1.x SDK, so it has its own
//! `target/pykernel-mcp-venv`). The script's module docs say what each number covers; it
//! prints a table and writes `target/bench/mcp.json`.
//!
//! jupyter-mcp-server is not measured: it drives a running JupyterLab server with the
//! collaboration extension, which this bench does not set up.

use std::path::Path;

use crate::{
    python::ensure_venv,
    shell::{cargo, cmd, project_root, run},
};

/// Runs the MCP bench and prints its table; pykernel-mcp is skipped with a notice when it
/// cannot be installed.
pub(crate) fn run_mcp_bench(out_dir: &Path, quick: bool) -> Result<(), String> {
    run(cargo().args(["build", "--release", "--package", "pykernel-cli"]))?;
    let root = project_root();
    let bench = root.join("xtask").join("bench");
    let client = ensure_venv("mcp-bench-venv", &bench.join("mcp-requirements.txt"))?;
    let mut command = cmd(&client);
    command
        .arg(bench.join("mcp_bench.py"))
        .arg("--pyk")
        .arg(root.join("target").join("release").join("pyk"))
        .arg("--python")
        .arg(&client)
        .arg("--json")
        .arg(out_dir.join("mcp.json"));
    if quick {
        command.arg("--quick");
    }
    match ensure_venv(
        "pykernel-mcp-venv",
        &bench.join("pykernel-mcp-requirements.txt"),
    ) {
        Ok(python) => {
            let server = python.with_file_name("pykernel-mcp");
            command.arg("--pykernel-mcp").arg(server);
        }
        Err(err) => eprintln!("xtask: pykernel-mcp not installed ({err}); measuring pyk mcp alone"),
    }
    run(&mut command)
}

//! Running commands from the workspace root, echoing them first.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The workspace root (the parent of `xtask/`).
///
/// `cargo run` sets `CARGO_MANIFEST_DIR` at run time; it wins over the compile-time value,
/// so an xtask binary shared through a common target directory acts on the checkout that
/// ran it.
pub(crate) fn project_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// A command that runs in the workspace root.
pub(crate) fn cmd(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.current_dir(project_root());
    command
}

/// A `cargo` command using the same cargo that runs xtask.
pub(crate) fn cargo() -> Command {
    cmd(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `command`, failing with its rendering when it exits non-zero.
pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    let shown = render(command);
    eprintln!("$ {shown}");
    let status = command
        .status()
        .map_err(|err| format!("could not run `{shown}`: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

fn render(command: &Command) -> String {
    let mut shown = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        shown.push(' ');
        shown.push_str(&arg.to_string_lossy());
    }
    shown
}

/// Builds the debug `pyk` and returns its path.
///
/// It builds through `cargo test --workspace --no-run`, so `pyk` gets the features that
/// `cargo test --workspace` resolves (dev-dependencies such as tokio's `test-util` take
/// part). A plain `cargo build -p pykernel-cli` resolves fewer features and recompiles
/// tokio and every crate above it, which cost CI about two and a half minutes; this way
/// the binary the tests built is reused as is.
pub(crate) fn build_debug_pyk() -> Result<PathBuf, String> {
    run(cargo().args(["test", "--workspace", "--no-run"]))?;
    Ok(project_root().join("target").join("debug").join("pyk"))
}

//! The Python half of pykernel, embedded in the host binary.
//!
//! [`RUNNER_SOURCE`] is `runner.py`, the program the host starts and talks to over
//! NDJSON (the wire shapes live in `pykernel-protocol`); [`PRELUDE_SOURCE`] holds the
//! helpers the host runs in it once at startup, as a silent cell.
//!
//! [`stage_runner`] writes the runner where only the current user can change it, and
//! [`python_args`] gives the interpreter arguments that start the staged file as an
//! imported module, so Python caches its bytecode between starts.
#![warn(missing_docs)]

mod stage;

use std::{
    env,
    ffi::OsString,
    io,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// The runner program, `runner-py/python/runner.py`.
pub const RUNNER_SOURCE: &str = include_str!("../python/runner.py");

/// The prelude the host executes once after the runner says hello (and that `%reset`
/// re-runs), `runner-py/python/prelude.py`.
pub const PRELUDE_SOURCE: &str = include_str!("../python/prelude.py");

/// The file name [`stage_runner`] gives the runner; its stem is the module name that
/// [`python_args`] imports.
pub const RUNNER_FILE_NAME: &str = "pykernel_runner.py";

/// Writes [`RUNNER_SOURCE`] to disk and returns the file's path.
///
/// The file lives in a per-user cache, `$XDG_CACHE_HOME/pykernel` or
/// `$HOME/.cache/pykernel`, under a subdirectory named by a hash of the source, so
/// every runner version gets its own directory and Python can keep its bytecode next
/// to it. The subdirectory must be a real directory owned by the current user with
/// mode 0700; otherwise (or when there is no usable cache directory) the runner goes to
/// a fresh private directory with a random name in the system temp directory. The file
/// is written under a temporary name and renamed into place, and its content is
/// compared with the source before the path is returned, so a planted or truncated
/// file is never run.
///
/// The path is memoised for the process; later calls check the content again and
/// rewrite the file if it changed.
///
/// # Errors
/// The I/O error of the last attempt when neither location can hold a verified copy.
pub fn stage_runner() -> io::Result<PathBuf> {
    static STAGED: OnceLock<PathBuf> = OnceLock::new();
    if let Some(path) = STAGED.get() {
        stage::ensure_content(path, RUNNER_SOURCE)?;
        return Ok(path.clone());
    }
    let root = stage::cache_root(env::var_os("XDG_CACHE_HOME"), env::var_os("HOME"));
    let path = stage::stage(root.as_deref(), &env::temp_dir(), RUNNER_SOURCE)?;
    Ok(STAGED.get_or_init(|| path).clone())
}

/// The interpreter arguments that start a staged runner.
///
/// Running `python -u runner.py` recompiles the whole runner on every start, because
/// Python never caches the bytecode of a script it runs directly. These arguments
/// instead put the runner's directory first on `sys.path`, import it and call its
/// `main()` (the runner then takes its directory off `sys.path` again), so the second
/// start onwards loads cached bytecode. The result is `-u -c <bootstrap> <dir> <module>`.
///
/// The bootstrap lets Python write the runner's bytecode even under
/// `PYTHONDONTWRITEBYTECODE` (which would otherwise cost every start a recompile), and
/// restores the setting before the runner starts, so user code keeps it.
pub fn python_args(runner: &Path) -> Vec<OsString> {
    const BOOTSTRAP: &str = "import importlib, sys; sys.path.insert(0, sys.argv[1]); \
                             keep = sys.dont_write_bytecode; sys.dont_write_bytecode = False; \
                             runner = importlib.import_module(sys.argv[2]); \
                             sys.dont_write_bytecode = keep; runner.main()";
    let dir = runner.parent().map(Path::as_os_str).unwrap_or_default();
    let module = runner.file_stem().unwrap_or_default();
    vec![
        "-u".into(),
        "-c".into(),
        BOOTSTRAP.into(),
        dir.into(),
        module.into(),
    ]
}

/// The protocol version the runner declares (`PROTOCOL_VERSION = N` in its source).
///
/// `None` when the source has no such line; a test keeps it equal to
/// `pykernel_protocol::PROTOCOL_VERSION`.
pub fn runner_protocol_version() -> Option<u32> {
    protocol_version_in(RUNNER_SOURCE)
}

fn protocol_version_in(source: &str) -> Option<u32> {
    source
        .lines()
        .find_map(|line| line.strip_prefix("PROTOCOL_VERSION = "))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests;

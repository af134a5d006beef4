//! The Python half of pykernel, embedded in the host binary.
//!
//! [`RUNNER_FILES`] is the runner package, `pykernel_runner`, the program the host starts
//! and talks to over NDJSON (the wire shapes live in `pykernel-protocol`);
//! [`PRELUDE_SOURCE`] holds the helpers the host runs in it once at startup, as a silent
//! cell.
//!
//! [`stage_runner`] writes the package where only the current user can change it, and
//! [`python_args`] gives the interpreter arguments that import the staged package and
//! start it, so Python caches its bytecode between starts.
#![warn(missing_docs)]

mod lease;
mod pack;
mod stage;
#[cfg(feature = "testing")]
pub mod testing;

use std::{
    env,
    ffi::OsString,
    io,
    path::{Path, PathBuf},
    sync::OnceLock,
};

pub use crate::lease::RunnerLease;
use crate::lease::Stager;

/// The runner package's name: the directory [`stage_runner`] writes and the module
/// [`python_args`] imports.
pub const RUNNER_PACKAGE: &str = "pykernel_runner";

/// Embeds each named file of `runner-py/python/pykernel_runner/`, so the list of files
/// is written once.
macro_rules! runner_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../python/pykernel_runner/", $name)))),*]
    };
}

/// The runner package, `runner-py/python/pykernel_runner/`: each file's name within the
/// package directory and its contents.
///
/// A test checks that this is every file of that directory.
pub const RUNNER_FILES: &[(&str, &str)] = runner_files![
    "__init__.py",
    "__main__.py",
    "comms.py",
    "completion.py",
    "display.py",
    "execution.py",
    "ipython_compat.py",
    "ipython_engine.py",
    "magics.py",
    "magics_more.py",
    "namespace.py",
    "output.py",
    "pretty.py",
    "relay.py",
    "requests.py",
    "running.py",
    "shell.py",
    "signals.py",
    "transforms.py",
    "wire.py",
];

/// The prelude the host executes once after the runner says hello (and that `%reset`
/// re-runs), `runner-py/python/prelude.py`.
pub const PRELUDE_SOURCE: &str = include_str!("../python/prelude.py");

/// The launcher bootstrap, `runner-py/python/bootstrap.py`: run with `python -u -c` on
/// the far side of a launcher, it reads [`bootstrap_input`] from stdin, checks the
/// package's sha256, imports it from a private cache directory there (so Python keeps
/// its bytecode) or from memory, and starts it.
///
/// It holds no single quote and no backslash, so it passes a remote shell in single
/// quotes (a test checks that).
pub const BOOTSTRAP_SOURCE: &str = include_str!("../python/bootstrap.py");

/// The interpreter arguments that start the runner through [`BOOTSTRAP_SOURCE`]:
/// `-u -c <bootstrap>`. The host writes [`bootstrap_input`] to the runner's stdin before
/// any request.
pub fn bootstrap_args() -> Vec<OsString> {
    vec!["-u".into(), "-c".into(), BOOTSTRAP_SOURCE.into()]
}

/// What the host writes to a bootstrapped runner's stdin first: a header line naming the
/// package's sha256 ([`runner_hash`]), its cache directory name and length, then the
/// packed [`RUNNER_FILES`], then `settings`: the runner's `PYKERNEL_*` environment
/// variables (engine, stream payloads, secret rule, host function names), which the
/// bootstrap sets before it imports the runner, since a launcher such as ssh carries no
/// environment to the far side. Names that do not start with `PYKERNEL_` are ignored there.
pub fn bootstrap_input(settings: &[(&str, &str)]) -> Vec<u8> {
    pack::bootstrap_input(settings)
}

/// The sha256 (lowercase hex) of the packed runner package; a bootstrapped runner
/// reports it in its `hello`, so the host knows what runs on the far side.
pub fn runner_hash() -> &'static str {
    pack::runner_hash()
}

/// The package file that declares `PROTOCOL_VERSION`.
const VERSION_FILE: &str = "__init__.py";

/// Writes [`RUNNER_FILES`] to disk and returns the package directory's path.
///
/// The package lives in a per-user cache, `$XDG_CACHE_HOME/pykernel` or
/// `$HOME/.cache/pykernel`, under a subdirectory named by one hash over all its files,
/// so every runner version gets its own directory and Python can keep its bytecode next
/// to it. That subdirectory and the package directory in it must be real directories
/// owned by the current user with mode 0700; otherwise (or when there is no usable cache
/// directory) the package goes to a fresh private directory with a random name in the
/// system temp directory. Each file is written (mode 0600) under a temporary name and
/// renamed into place, and its content is compared with the embedded one before the
/// path is returned, so a planted or truncated file is never run.
///
/// The path is memoised for the process; later calls check every file again and
/// rewrite the ones that changed.
///
/// # Errors
/// The I/O error of the last attempt when neither location can hold a verified copy.
pub fn stage_runner() -> io::Result<PathBuf> {
    static STAGED: OnceLock<PathBuf> = OnceLock::new();
    if let Some(package) = STAGED.get() {
        stage::ensure_content(package, RUNNER_FILES)?;
        return Ok(package.clone());
    }
    let root = stage::cache_root(env::var_os("XDG_CACHE_HOME"), env::var_os("HOME"));
    let package = stage::stage(root.as_deref(), &env::temp_dir(), RUNNER_FILES)?;
    Ok(STAGED.get_or_init(|| package).clone())
}

/// Stages the runner package as [`stage_runner`] does and takes a lease on it: when the
/// package had to go to a fresh temporary directory (the cache could not be trusted or
/// written), dropping the last lease removes that directory, and the next lease stages
/// a new one.
///
/// # Errors
/// As [`stage_runner`].
pub fn lease_runner() -> io::Result<RunnerLease> {
    static STAGER: Stager = Stager::new();
    let root = stage::cache_root(env::var_os("XDG_CACHE_HOME"), env::var_os("HOME"));
    STAGER.lease(root.as_deref(), &env::temp_dir(), RUNNER_FILES)
}

/// The interpreter arguments that start a staged runner package.
///
/// Running `python -u path/to/pykernel_runner` would go through `runpy` and recompile
/// the directory's `__main__.py` on every start. These arguments instead put the
/// package's parent directory first on `sys.path`, import the package and call its
/// `main()` (the runner then takes that directory off `sys.path` again), so the second
/// start onwards loads cached bytecode. The result is `-u -c <bootstrap> <dir> <package>`.
///
/// The bootstrap lets Python write the runner's bytecode even under
/// `PYTHONDONTWRITEBYTECODE` (which would otherwise cost every start a recompile), and
/// restores the setting before the runner starts, so user code keeps it.
pub fn python_args(package: &Path) -> Vec<OsString> {
    const BOOTSTRAP: &str = "import importlib, sys; sys.path.insert(0, sys.argv[1]); \
                             keep = sys.dont_write_bytecode; sys.dont_write_bytecode = False; \
                             runner = importlib.import_module(sys.argv[2]); \
                             sys.dont_write_bytecode = keep; runner.main()";
    let dir = package.parent().map(Path::as_os_str).unwrap_or_default();
    let module = package.file_name().unwrap_or_default();
    vec![
        "-u".into(),
        "-c".into(),
        BOOTSTRAP.into(),
        dir.into(),
        module.into(),
    ]
}

/// The protocol version the runner declares (`PROTOCOL_VERSION = N` in its
/// `__init__.py`).
///
/// `None` when the package has no such line; a test keeps it equal to
/// `pykernel_protocol::PROTOCOL_VERSION`.
pub fn runner_protocol_version() -> Option<u32> {
    RUNNER_FILES
        .iter()
        .find(|(name, _)| *name == VERSION_FILE)
        .and_then(|(_, source)| protocol_version_in(source))
}

fn protocol_version_in(source: &str) -> Option<u32> {
    source
        .lines()
        .find_map(|line| line.strip_prefix("PROTOCOL_VERSION = "))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests;

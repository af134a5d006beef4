//! Which Python interpreter a kernel runs, and why.
//!
//! The order, first match wins:
//! 1. [`KernelOptions::python`]: `~` expands to the home directory, a relative path is
//!    taken from the kernel's working directory, and a bare name such as `python3.12`
//!    that is not a file there is looked up on `PATH`. If `<bin>/../pyvenv.cfg` exists
//!    the interpreter belongs to a virtualenv, which is activated in the kernel.
//! 2. The host's active virtualenv: `$VIRTUAL_ENV/bin/python`.
//! 3. A project virtualenv: `.venv`, then `venv`, in the working directory, then in each
//!    parent directory, nearest first.
//! 4. `python3`, then `python`, on `PATH`.
//!
//! A candidate counts when it is an executable file. Whether it actually runs is checked
//! by the start itself (the runner's `hello`), not by a separate probe.
//! (On Windows the virtualenv interpreter is `Scripts\python.exe`.)

use std::{
    env,
    ffi::{OsStr, OsString},
    fs, io,
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::{KernelError, KernelOptions};

/// Why an interpreter was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PythonSource {
    /// [`KernelOptions::python`] named it.
    Explicit,
    /// The host's active virtualenv (`VIRTUAL_ENV`).
    VirtualEnv,
    /// A project virtualenv: this `.venv` or `venv` directory in the working directory or
    /// one of its parents.
    ProjectVenv(PathBuf),
    /// `python3` or `python` found on `PATH`.
    Path,
}

/// An interpreter, why it was chosen, and the virtualenv it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedPython {
    /// The interpreter to run, absolute.
    pub path: PathBuf,
    /// Why it was chosen.
    pub source: PythonSource,
    /// The virtualenv it belongs to; the kernel's environment activates it
    /// (`VIRTUAL_ENV` set, its scripts directory first on `PATH`, `PYTHONHOME` unset).
    pub venv: Option<PathBuf>,
}

/// Finds the interpreter `options` asks for, as a kernel start would (see the module docs
/// for the order). Nothing is run.
///
/// # Errors
/// [`KernelError::PythonUnusable`] when the explicit interpreter is missing or not
/// executable, [`KernelError::PythonNotFound`] (listing every candidate) when no
/// interpreter is found, [`KernelError::InvalidCwd`] when the working directory cannot be
/// determined.
pub fn resolve_python(options: &KernelOptions) -> Result<ResolvedPython, KernelError> {
    let cwd = kernel_cwd(options)?;
    resolve(options.python.as_deref(), &cwd, &HostLookup::from_process())
}

/// The kernel's working directory, absolute: [`KernelOptions::cwd`] taken from the host's
/// current directory, or the host's current directory.
pub(crate) fn kernel_cwd(options: &KernelOptions) -> Result<PathBuf, KernelError> {
    let current = env::current_dir().map_err(|source| KernelError::InvalidCwd {
        path: PathBuf::from("."),
        source: Arc::new(source),
    })?;
    Ok(match &options.cwd {
        Some(cwd) => current.join(cwd),
        None => current,
    })
}

/// The host variables resolution reads, passed in so tests never touch the process env.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostLookup {
    pub(crate) path: Option<OsString>,
    pub(crate) virtual_env: Option<OsString>,
    pub(crate) home: Option<PathBuf>,
}

impl HostLookup {
    pub(crate) fn from_process() -> Self {
        let home = if cfg!(windows) {
            env::var_os("USERPROFILE")
        } else {
            env::var_os("HOME")
        };
        Self {
            path: env::var_os("PATH"),
            virtual_env: env::var_os("VIRTUAL_ENV").filter(|value| !value.is_empty()),
            home: home.filter(|value| !value.is_empty()).map(PathBuf::from),
        }
    }
}

/// Resolution over explicit inputs.
pub(crate) fn resolve(
    explicit: Option<&Path>,
    cwd: &Path,
    host: &HostLookup,
) -> Result<ResolvedPython, KernelError> {
    if let Some(explicit) = explicit {
        return resolve_explicit(explicit, cwd, host);
    }
    let mut tried = Vec::new();
    if let Some(venv) = &host.virtual_env {
        let venv = PathBuf::from(venv);
        let python = venv_python(&venv);
        if is_executable(&python) {
            return Ok(ResolvedPython {
                path: python,
                source: PythonSource::VirtualEnv,
                venv: Some(venv),
            });
        }
        tried.push(python);
    }
    for dir in cwd.ancestors() {
        for name in [".venv", "venv"] {
            let venv = dir.join(name);
            let python = venv_python(&venv);
            if is_executable(&python) {
                return Ok(ResolvedPython {
                    path: python,
                    source: PythonSource::ProjectVenv(venv.clone()),
                    venv: Some(venv),
                });
            }
            tried.push(python);
        }
    }
    for name in PATH_NAMES {
        if let Some(python) = find_on_path(name, host.path.as_deref()) {
            return Ok(ResolvedPython {
                path: python,
                source: PythonSource::Path,
                venv: None,
            });
        }
        tried.push(PathBuf::from(name));
    }
    Err(KernelError::PythonNotFound { tried })
}

/// The interpreter names looked up on `PATH`, in order.
const PATH_NAMES: [&str; 2] = ["python3", "python"];

fn resolve_explicit(
    explicit: &Path,
    cwd: &Path,
    host: &HostLookup,
) -> Result<ResolvedPython, KernelError> {
    let expanded = expand_home(explicit, host.home.as_deref());
    let path = cwd.join(&expanded);
    let is_bare_name = expanded.components().count() == 1 && !expanded.is_absolute();
    let path = match check_executable(&path) {
        Ok(()) => path,
        Err(_) if is_bare_name && !path.exists() => {
            match find_on_path(&expanded, host.path.as_deref()) {
                Some(found) => found,
                None => {
                    let reason = "not found in the working directory or on PATH".to_owned();
                    return Err(KernelError::PythonUnusable {
                        path: expanded,
                        reason,
                    });
                }
            }
        }
        Err(reason) => return Err(KernelError::PythonUnusable { path, reason }),
    };
    let venv = path
        .parent()
        .and_then(Path::parent)
        .filter(|venv| venv.join("pyvenv.cfg").is_file())
        .map(Path::to_path_buf);
    Ok(ResolvedPython {
        path,
        source: PythonSource::Explicit,
        venv,
    })
}

/// `~` and `~/...` become the home directory; other paths are unchanged.
fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    let Some(home) = home else {
        return path.to_path_buf();
    };
    match path.strip_prefix("~") {
        Ok(rest) => home.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// The interpreter inside a virtualenv.
pub(crate) fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// The virtualenv's scripts directory, which activation puts first on `PATH`.
pub(crate) fn venv_bin(venv: &Path) -> PathBuf {
    venv.join(if cfg!(windows) { "Scripts" } else { "bin" })
}

fn find_on_path(name: impl AsRef<Path>, path: Option<&OsStr>) -> Option<PathBuf> {
    let name = name.as_ref();
    let path = path?;
    env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .find_map(|dir| {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Some(candidate);
            }
            if cfg!(windows) {
                let candidate = candidate.with_extension("exe");
                return is_executable(&candidate).then_some(candidate);
            }
            None
        })
}

fn is_executable(path: &Path) -> bool {
    check_executable(path).is_ok()
}

/// Why `path` cannot be run, if it cannot.
fn check_executable(path: &Path) -> Result<(), String> {
    let metadata = fs::metadata(path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        _ => err.to_string(),
    })?;
    if !metadata.is_file() {
        return Err("not a file".to_owned());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o111 == 0 {
            return Err("not executable".to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

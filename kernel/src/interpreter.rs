//! Which Python interpreter a kernel runs, and why.
//!
//! The rules, first match wins (each is a [`PythonSource`]):
//! 1. [`KernelOptions::python`] ([`PythonSource::Explicit`]): `~` expands to the home
//!    directory and a relative path is taken from the kernel's working directory. A bare
//!    name that is not a file there is looked up on `PATH`; if it is not there either and
//!    it is a version request (`3.12`, `3.12.1`, `python3.12`, `py3.12`), the installed
//!    interpreters are searched for it ([`PythonSource::ExplicitVersion`]): uv-managed
//!    ones, then pyenv's, then `python3.X` on `PATH`, the highest matching version first.
//!    A bare `python3` looked up on `PATH` comes first so that it means what a shell means.
//! 2. The host's active virtualenv, `$VIRTUAL_ENV/bin/python` ([`PythonSource::VirtualEnv`]).
//! 3. The active conda environment, `$CONDA_PREFIX/bin/python` ([`PythonSource::CondaEnv`]).
//! 4. A project virtualenv: `.venv`, then `venv`, in the working directory, then in each
//!    parent, nearest first ([`PythonSource::ProjectVenv`]).
//! 5. `PYENV_VERSION` ([`PythonSource::PyenvVersion`]).
//! 6. The nearest `.python-version` in the working directory or a parent, as pyenv and uv
//!    read it ([`PythonSource::VersionFile`]).
//! 7. pyenv's global version file, `$PYENV_ROOT/version` ([`PythonSource::PyenvGlobal`]).
//! 8. Interpreters installed by uv (`$UV_PYTHON_INSTALL_DIR`, else
//!    `$XDG_DATA_HOME/uv/python` or `~/.local/share/uv/python`), then by pyenv
//!    (`$PYENV_ROOT/versions`, `PYENV_ROOT` defaulting to `~/.pyenv`), highest version
//!    first ([`PythonSource::Installed`]).
//! 9. `python3`, then `python`, on `PATH` ([`PythonSource::Path`]).
//!
//! `PYENV_VERSION` comes before `.python-version` as in pyenv itself (the variable
//! overrides the file). Rules 5 to 7 name versions the way pyenv does (see the `pyenv`
//! module): an installed pyenv version, a prefix such as `3.12` for the latest installed
//! `3.12.x`, or `system` for the first `python3` on `PATH` that is not a shim; a version
//! pyenv does not have is also looked for among uv's interpreters and on `PATH`. A pin
//! that nothing satisfies is an error ([`KernelError::PythonVersionNotFound`]) listing
//! what was found.
//!
//! Shims are never run to find what they run: a pyenv shim maps to the interpreter it
//! would run by pyenv's rules, read from files. Any other script (an asdf or mise shim, a
//! wrapper) is asked once for its `sys.executable`, and the answer is cached (see the
//! `cache` module) so later starts pay nothing. The kernel runs the direct interpreter.
//! A script named explicitly that is not a known shim (a wrapper) runs as given, and so
//! does an explicit shim that cannot be looked through: the start then says what is wrong.
//!
//! A discovered candidate that cannot run (a dangling `.venv/bin/python`, a virtualenv
//! whose base interpreter is gone, a shim that resolves to nothing) is skipped with a
//! note in the log and in [`Discovery`], and the next rule is tried; only an explicit
//! interpreter is a hard error. Whether the chosen interpreter really works is checked by
//! the start itself (the runner's `hello`), not by a separate probe.
//! (On Windows the virtualenv interpreter is `Scripts\python.exe`.)

mod cache;
mod pyenv;
mod version;

use std::{
    env,
    ffi::{OsStr, OsString},
    fmt, fs, io,
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use crate::{
    KernelError, KernelOptions,
    interpreter::{
        pyenv::{FileKind, Pyenv},
        version::Version,
    },
};

/// Why an interpreter was chosen: the rule that found it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PythonSource {
    /// [`KernelOptions::python`] named it (a path, or a name on `PATH`).
    Explicit,
    /// [`KernelOptions::python`] asked for this version, such as `3.12`.
    ExplicitVersion(String),
    /// The host's active virtualenv (`VIRTUAL_ENV`).
    VirtualEnv,
    /// The host's active conda environment (`CONDA_PREFIX`).
    CondaEnv,
    /// A project virtualenv: this `.venv` or `venv` directory in the working directory or
    /// one of its parents.
    ProjectVenv(PathBuf),
    /// The `PYENV_VERSION` environment variable.
    PyenvVersion,
    /// This `.python-version` file in the working directory or a parent.
    VersionFile(PathBuf),
    /// pyenv's global version file, this `$PYENV_ROOT/version`.
    PyenvGlobal(PathBuf),
    /// An interpreter installed by uv or pyenv; the highest version comes first.
    Installed,
    /// `python3` or `python` found on `PATH`.
    Path,
}

impl fmt::Display for PythonSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Explicit => f.write_str("given explicitly (--python)"),
            Self::ExplicitVersion(request) => {
                write!(f, "the version asked for explicitly (--python {request})")
            }
            Self::VirtualEnv => f.write_str("the active virtualenv ($VIRTUAL_ENV)"),
            Self::CondaEnv => f.write_str("the active conda environment ($CONDA_PREFIX)"),
            Self::ProjectVenv(dir) => write!(f, "the project virtualenv {}", dir.display()),
            Self::PyenvVersion => f.write_str("pinned by $PYENV_VERSION"),
            Self::VersionFile(file) => write!(f, "pinned by {}", file.display()),
            Self::PyenvGlobal(file) => write!(f, "pyenv's global version ({})", file.display()),
            Self::Installed => f.write_str("installed by uv or pyenv, newest first"),
            Self::Path => f.write_str("the first of python3, python on PATH"),
        }
    }
}

/// What kind of shim a candidate was reached through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShimKind {
    /// A pyenv shim, resolved by reading pyenv's files.
    Pyenv,
    /// An asdf shim, asked once.
    Asdf,
    /// A mise shim, asked once.
    Mise,
    /// Another script, asked once.
    Script,
}

impl fmt::Display for ShimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pyenv => "pyenv shim",
            Self::Asdf => "asdf shim",
            Self::Mise => "mise shim",
            Self::Script => "script",
        })
    }
}

/// A shim that stands for an interpreter; pykernel runs what it resolves to instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shim {
    /// What kind of shim it is.
    pub kind: ShimKind,
    /// The shim itself.
    pub path: PathBuf,
}

/// An interpreter, why it was chosen, and the virtualenv it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedPython {
    /// The interpreter to run, absolute, never a shim pykernel could resolve.
    pub path: PathBuf,
    /// Why it was chosen.
    pub source: PythonSource,
    /// The virtualenv it belongs to; the kernel's environment activates it
    /// (`VIRTUAL_ENV` set, its scripts directory first on `PATH`, `PYTHONHOME` unset).
    pub venv: Option<PathBuf>,
    /// Its version as known without running it (from a directory or file name, a
    /// `pyvenv.cfg` or conda's records), such as `3.12.1` or `3.12`.
    pub version: Option<String>,
    /// The shim it was found through, which is not run.
    pub shim: Option<Shim>,
}

/// One interpreter discovery looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Candidate {
    /// The rule that found it.
    pub source: PythonSource,
    /// The interpreter a start would run (a shim's target), or what was found when it
    /// cannot be used (the path, or the pin file).
    pub path: PathBuf,
    /// Its version as known without running it.
    pub version: Option<String>,
    /// The shim it was found through.
    pub shim: Option<Shim>,
    /// Why it was skipped; `None` when it is usable.
    pub skipped: Option<String>,
}

/// Every candidate the rules see, and which one a start would use.
#[derive(Debug)]
#[non_exhaustive]
pub struct Discovery {
    /// Every candidate, in rule order, usable or not.
    pub candidates: Vec<Candidate>,
    /// The index in `candidates` of the one a start would use.
    pub chosen: Option<usize>,
    /// What [`resolve_python`] gives.
    pub result: Result<ResolvedPython, KernelError>,
}

/// Finds the interpreter `options` asks for, as a kernel start would (see the module docs
/// for the rules). Only files are read, except that a script of unknown kind is asked
/// once for its `sys.executable` (the answer is cached).
///
/// # Errors
/// [`KernelError::PythonUnusable`] when the explicit interpreter is missing or not
/// executable, [`KernelError::PythonVersionNotFound`] when a requested or pinned version
/// is not installed, [`KernelError::PythonNotFound`] (listing every candidate) when no
/// interpreter is found, [`KernelError::InvalidCwd`] when the working directory cannot be
/// determined.
pub fn resolve_python(options: &KernelOptions) -> Result<ResolvedPython, KernelError> {
    let cwd = kernel_cwd(options)?;
    resolve(options.python.as_deref(), &cwd, &HostLookup::from_process())
}

/// Runs every rule, not only up to the first match, and lists what each saw; `result`
/// is what [`resolve_python`] gives. For `pyk doctor`.
pub fn discover_pythons(options: &KernelOptions) -> Discovery {
    match kernel_cwd(options) {
        Ok(cwd) => discover(options.python.as_deref(), &cwd, &HostLookup::from_process()),
        Err(err) => Discovery {
            candidates: Vec::new(),
            chosen: None,
            result: Err(err),
        },
    }
}

/// The kernel's working directory, absolute: [`KernelOptions::cwd`] taken from the host's
/// current directory, or the host's current directory.
pub(crate) fn kernel_cwd(options: &KernelOptions) -> Result<PathBuf, KernelError> {
    let current = env::current_dir().map_err(|source| KernelError::InvalidCwd {
        path: PathBuf::from("."),
        source: Arc::new(source),
    })?;
    Ok(match &options.cwd {
        // `components` drops the `.`s (`dir/.` is `dir`); `..` stays for the system.
        Some(cwd) => current.join(cwd).components().collect(),
        None => current,
    })
}

/// The host variables resolution reads, passed in so tests never touch the process env.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostLookup {
    pub(crate) path: Option<OsString>,
    pub(crate) virtual_env: Option<OsString>,
    pub(crate) conda_prefix: Option<OsString>,
    pub(crate) home: Option<PathBuf>,
    /// `PYENV_ROOT`; `~/.pyenv` when unset.
    pub(crate) pyenv_root: Option<PathBuf>,
    pub(crate) pyenv_version: Option<String>,
    /// `UV_PYTHON_INSTALL_DIR`.
    pub(crate) uv_python_dir: Option<PathBuf>,
    pub(crate) xdg_data_home: Option<PathBuf>,
    pub(crate) xdg_cache_home: Option<PathBuf>,
    /// The variables version managers read (`PATH`, `PYENV_*`, `ASDF_*`, `MISE_*`, ...),
    /// sorted: part of the asked-once cache key.
    pub(crate) manager_env: Vec<(String, String)>,
}

impl HostLookup {
    pub(crate) fn from_process() -> Self {
        let var = |name: &str| env::var_os(name).filter(|value| !value.is_empty());
        let home = if cfg!(windows) {
            var("USERPROFILE")
        } else {
            var("HOME")
        };
        // `vars_os`: `vars` panics on a value that is not UTF-8.
        let mut manager_env: Vec<(String, String)> = env::vars_os()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                is_manager_var(&name).then(|| (name, value.to_string_lossy().into_owned()))
            })
            .collect();
        manager_env.sort();
        Self {
            path: var("PATH"),
            virtual_env: var("VIRTUAL_ENV"),
            conda_prefix: var("CONDA_PREFIX"),
            home: home.map(PathBuf::from),
            pyenv_root: var("PYENV_ROOT").map(PathBuf::from),
            pyenv_version: var("PYENV_VERSION").and_then(|value| value.into_string().ok()),
            uv_python_dir: var("UV_PYTHON_INSTALL_DIR").map(PathBuf::from),
            xdg_data_home: var("XDG_DATA_HOME").map(PathBuf::from),
            xdg_cache_home: var("XDG_CACHE_HOME").map(PathBuf::from),
            manager_env,
        }
    }

    /// The pyenv installation, if there is one.
    fn pyenv(&self) -> Option<Pyenv> {
        let root = match &self.pyenv_root {
            Some(root) => root.clone(),
            None => self.home.as_ref()?.join(".pyenv"),
        };
        root.is_dir().then_some(Pyenv { root })
    }

    /// Where uv installs interpreters.
    fn uv_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.uv_python_dir {
            return Some(dir.clone());
        }
        let data = match &self.xdg_data_home {
            Some(data) => data.clone(),
            None => self.home.as_ref()?.join(".local").join("share"),
        };
        Some(data.join("uv").join("python"))
    }

    /// pykernel's cache directory, for the asked-once answers.
    fn cache_dir(&self) -> Option<PathBuf> {
        let cache = match &self.xdg_cache_home {
            Some(cache) => cache.clone(),
            None => self.home.as_ref()?.join(".cache"),
        };
        Some(cache.join("pykernel"))
    }
}

/// Whether a version manager may read `name`, so a change of it may change what a shim runs.
fn is_manager_var(name: &str) -> bool {
    const PREFIXES: [&str; 5] = ["PYENV_", "ASDF_", "MISE_", "RTX_", "UV_"];
    matches!(name, "PATH" | "HOME" | "VIRTUAL_ENV" | "CONDA_PREFIX")
        || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// Resolution over explicit inputs, stopping at the first match.
pub(crate) fn resolve(
    explicit: Option<&Path>,
    cwd: &Path,
    host: &HostLookup,
) -> Result<ResolvedPython, KernelError> {
    Finder::new(cwd, host).run(explicit, false)
}

/// Resolution over explicit inputs, through every rule.
pub(crate) fn discover(explicit: Option<&Path>, cwd: &Path, host: &HostLookup) -> Discovery {
    let mut finder = Finder::new(cwd, host);
    let result = finder.run(explicit, true);
    Discovery {
        candidates: finder.candidates,
        chosen: finder.chosen,
        result,
    }
}

/// The rules after the explicit one, in order.
#[derive(Clone, Copy)]
enum Rule {
    VirtualEnv,
    CondaEnv,
    ProjectVenv,
    PyenvVersion,
    VersionFile,
    PyenvGlobal,
    Installed,
    Path,
}

impl Rule {
    const ALL: [Self; 8] = [
        Self::VirtualEnv,
        Self::CondaEnv,
        Self::ProjectVenv,
        Self::PyenvVersion,
        Self::VersionFile,
        Self::PyenvGlobal,
        Self::Installed,
        Self::Path,
    ];
}

/// One pass over the rules.
struct Finder<'a> {
    cwd: &'a Path,
    host: &'a HostLookup,
    /// Whether to go on past the first match, listing every candidate.
    all: bool,
    pyenv: Option<Pyenv>,
    candidates: Vec<Candidate>,
    /// The usable candidate most recently offered.
    last_usable: Option<usize>,
    chosen: Option<usize>,
    /// Every path looked at, for [`KernelError::PythonNotFound`].
    tried: Vec<PathBuf>,
}

/// What a rule found: `Ok(None)` when it does not apply or found nothing usable.
type Found = Result<Option<ResolvedPython>, KernelError>;

impl<'a> Finder<'a> {
    fn new(cwd: &'a Path, host: &'a HostLookup) -> Self {
        Self {
            cwd,
            host,
            all: false,
            pyenv: host.pyenv(),
            candidates: Vec::new(),
            last_usable: None,
            chosen: None,
            tried: Vec::new(),
        }
    }

    /// Goes through the rules; with `all`, on past the first match, listing every
    /// candidate.
    fn run(&mut self, explicit: Option<&Path>, all: bool) -> Result<ResolvedPython, KernelError> {
        self.all = all;
        let mut result = None;
        if let Some(explicit) = explicit {
            let found = self.explicit(explicit);
            if found.is_ok() {
                self.chosen = self.last_usable;
            }
            if !all {
                return found;
            }
            result = Some(found);
        }
        for rule in Rule::ALL {
            let found = self.rule(rule);
            if result.is_some() {
                continue;
            }
            match found {
                Ok(None) => continue,
                Ok(Some(resolved)) => {
                    self.chosen = self.last_usable;
                    result = Some(Ok(resolved));
                }
                Err(err) => result = Some(Err(err)),
            }
            if !all {
                break;
            }
        }
        result.unwrap_or_else(|| {
            Err(KernelError::PythonNotFound {
                tried: std::mem::take(&mut self.tried),
            })
        })
    }

    fn rule(&mut self, rule: Rule) -> Found {
        match rule {
            Rule::VirtualEnv => {
                let Some(venv) = self.host.virtual_env.clone().map(PathBuf::from) else {
                    return Ok(None);
                };
                let version = version::from_pyvenv_cfg(&venv);
                let python = venv_python(&venv);
                Ok(self.offer(PythonSource::VirtualEnv, python, Some(venv), version))
            }
            Rule::CondaEnv => {
                let Some(prefix) = self.host.conda_prefix.clone().map(PathBuf::from) else {
                    return Ok(None);
                };
                let version = version::from_conda_meta(&prefix);
                Ok(self.offer(PythonSource::CondaEnv, conda_python(&prefix), None, version))
            }
            Rule::ProjectVenv => {
                for dir in self.cwd.ancestors() {
                    for name in [".venv", "venv"] {
                        let venv = dir.join(name);
                        let python = venv_python(&venv);
                        if !venv.is_dir() {
                            self.tried.push(python);
                            continue;
                        }
                        let version = version::from_pyvenv_cfg(&venv);
                        let source = PythonSource::ProjectVenv(venv.clone());
                        if let Some(found) = self.offer(source, python, Some(venv), version) {
                            return Ok(Some(found));
                        }
                    }
                }
                Ok(None)
            }
            Rule::PyenvVersion => {
                let Some(names) = self
                    .host
                    .pyenv_version
                    .as_deref()
                    .and_then(pyenv::split_env_version)
                else {
                    return Ok(None);
                };
                self.pinned(PythonSource::PyenvVersion, &names)
            }
            Rule::VersionFile => {
                let Some(file) = pyenv::find_version_file(self.cwd) else {
                    return Ok(None);
                };
                let Some(names) = pyenv::read_version_file(&file) else {
                    return Ok(None);
                };
                self.pinned(PythonSource::VersionFile(file), &names)
            }
            Rule::PyenvGlobal => {
                let Some(file) = self.pyenv.as_ref().map(Pyenv::global_file) else {
                    return Ok(None);
                };
                let Some(names) = pyenv::read_version_file(&file) else {
                    return Ok(None);
                };
                self.pinned(PythonSource::PyenvGlobal(file), &names)
            }
            Rule::Installed => {
                let (mut first, mut first_index) = (None, None);
                for (version, python) in self.installed() {
                    let found = self.offer(PythonSource::Installed, python, None, Some(version));
                    if first.is_none() && found.is_some() {
                        first = found;
                        first_index = self.last_usable;
                        if !self.all {
                            break;
                        }
                    }
                }
                // The ones listed after it are not the rule's match.
                self.last_usable = first_index;
                Ok(first)
            }
            Rule::Path => {
                for name in PATH_NAMES {
                    match find_on_path(name, self.host.path.as_deref()) {
                        Some(python) => {
                            let version = version::from_file_name(name);
                            if let Some(found) =
                                self.offer(PythonSource::Path, python, None, version)
                            {
                                return Ok(Some(found));
                            }
                        }
                        None => self.tried.push(PathBuf::from(name)),
                    }
                }
                Ok(None)
            }
        }
    }

    /// Rule 1: the interpreter the caller named, or the version it asked for.
    fn explicit(&mut self, explicit: &Path) -> Result<ResolvedPython, KernelError> {
        let expanded = expand_home(explicit, self.host.home.as_deref());
        let in_cwd = self.cwd.join(&expanded);
        let bare_name = match expanded.components().collect::<Vec<_>>().as_slice() {
            [Component::Normal(name)] => name.to_str().map(str::to_owned),
            _ => None,
        };
        let found = match &bare_name {
            Some(name) if !in_cwd.exists() => find_on_path(name, self.host.path.as_deref()),
            _ => Some(in_cwd.clone()),
        };
        if let Some(found) = found {
            check_executable(&found).map_err(|reason| KernelError::PythonUnusable {
                path: found.clone(),
                reason,
            })?;
            let venv = found
                .parent()
                .and_then(Path::parent)
                .filter(|venv| venv.join("pyvenv.cfg").is_file())
                .map(Path::to_path_buf);
            let version = venv.as_deref().and_then(version::from_pyvenv_cfg);
            let version = version.or_else(|| path_version(&found));
            // A script the caller named (a wrapper, say) runs as given; only shims of
            // a known kind are looked through.
            let looked_through = match pyenv::classify(&found) {
                FileKind::Script => Ok((found.clone(), None)),
                _ => self.direct(&found),
            };
            return match looked_through {
                Ok((path, shim)) => {
                    Ok(self.usable(PythonSource::Explicit, path, venv, version, shim))
                }
                // A shim naming a version asked for by name falls back to the search.
                Err(_)
                    if bare_name
                        .as_deref()
                        .and_then(version::parse_request)
                        .is_some() =>
                {
                    self.explicit_version(bare_name.as_deref().unwrap_or_default())
                }
                // The caller named it: it runs as given, and the start says what is wrong.
                Err(reason) => {
                    tracing::warn!(python = %found.display(), %reason, "running a shim that could not be looked through");
                    Ok(self.usable(PythonSource::Explicit, found, venv, version, None))
                }
            };
        }
        match bare_name {
            Some(name) if version::parse_request(&name).is_some() => self.explicit_version(&name),
            _ => Err(KernelError::PythonUnusable {
                path: expanded,
                reason: "not found in the working directory or on PATH".to_owned(),
            }),
        }
    }

    /// `--python 3.12` and the like: the installed interpreters that satisfy it.
    fn explicit_version(&mut self, request: &str) -> Result<ResolvedPython, KernelError> {
        let source = PythonSource::ExplicitVersion(request.to_owned());
        if let Some(wanted) = version::parse_request(request)
            && let Some(found) = self.find_version(&source, &wanted)
        {
            return Ok(found);
        }
        Err(self.version_not_found(request, "--python".to_owned()))
    }

    /// Rules 5 to 7: the first of pyenv-style `names` that is installed.
    fn pinned(&mut self, source: PythonSource, names: &[String]) -> Found {
        for name in names {
            if name == "system" {
                if let Some(python) = self.system_python("python3") {
                    let version = None;
                    if let Some(found) = self.offer(source.clone(), python, None, version) {
                        return Ok(Some(found));
                    }
                }
                continue;
            }
            if let Some(pyenv) = &self.pyenv
                && let Some(installed) = pyenv.resolve_name(name)
            {
                let python = bin_python(&pyenv.versions_dir().join(&installed));
                let version = Version::parse(&installed);
                if let Some(found) = self.offer(source.clone(), python, None, version) {
                    return Ok(Some(found));
                }
                continue;
            }
            if let Some(wanted) = version::parse_request(name)
                && let Some(found) = self.find_version(&source, &wanted)
            {
                return Ok(Some(found));
            }
        }
        let origin = match &source {
            PythonSource::PyenvVersion => "$PYENV_VERSION".to_owned(),
            PythonSource::VersionFile(file) | PythonSource::PyenvGlobal(file) => {
                file.display().to_string()
            }
            other => other.to_string(),
        };
        let err = self.version_not_found(&names.join(" "), origin.clone());
        self.candidates.push(Candidate {
            source,
            path: PathBuf::from(origin),
            version: None,
            shim: None,
            skipped: Some(err.to_string()),
        });
        Err(err)
    }

    fn version_not_found(&self, request: &str, origin: String) -> KernelError {
        let mut found: Vec<String> = self
            .installed()
            .into_iter()
            .map(|(version, python)| format!("{version} ({})", python.display()))
            .collect();
        found.extend(
            self.path_versions()
                .into_iter()
                .map(|(version, python)| format!("{version} ({})", python.display())),
        );
        KernelError::PythonVersionNotFound {
            request: request.to_owned(),
            origin,
            found,
        }
    }

    /// The highest installed interpreter that satisfies `wanted`: uv's, then pyenv's,
    /// then `python3.X` on `PATH`.
    fn find_version(&mut self, source: &PythonSource, wanted: &Version) -> Option<ResolvedPython> {
        let on_path = self.path_versions();
        let matching: Vec<(Version, PathBuf)> = self
            .installed()
            .into_iter()
            .chain(on_path)
            .filter(|(version, _)| wanted.matches(version))
            .collect();
        matching
            .into_iter()
            .find_map(|(version, python)| self.offer(source.clone(), python, None, Some(version)))
    }

    /// Interpreters installed by uv, then by pyenv, each highest version first. Only plain
    /// CPython versions count (`3.12.1`, not `3.13.0t`, `pypy3.10` or a virtualenv's name).
    fn installed(&self) -> Vec<(Version, PathBuf)> {
        let mut uv: Vec<(Version, PathBuf)> = self
            .host
            .uv_dir()
            .and_then(|dir| fs::read_dir(dir).ok())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = version::from_uv_dir_name(entry.file_name().to_str()?)?;
                Some((version, bin_python(&entry.path())))
            })
            .collect();
        uv.sort_by(|a, b| b.0.cmp(&a.0));
        let mut pyenv: Vec<(Version, PathBuf)> = match &self.pyenv {
            Some(pyenv) => pyenv
                .installed()
                .into_iter()
                .filter_map(|name| {
                    let version = Version::parse(&name)?;
                    Some((version, bin_python(&pyenv.versions_dir().join(name))))
                })
                .collect(),
            None => Vec::new(),
        };
        pyenv.sort_by(|a, b| b.0.cmp(&a.0));
        uv.extend(pyenv);
        uv
    }

    /// `python3.X` files on `PATH` (the first of each name) that are not pyenv shims,
    /// highest version first.
    fn path_versions(&self) -> Vec<(Version, PathBuf)> {
        let mut found: Vec<(Version, PathBuf)> = Vec::new();
        let Some(path) = self.host.path.as_deref() else {
            return found;
        };
        for dir in env::split_paths(path) {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(version) = name.to_str().and_then(version::from_file_name) else {
                    continue;
                };
                let seen = found.iter().any(|(known, _)| *known == version);
                // A pyenv shim stands for pyenv's versions, which are listed already.
                let usable = is_executable(&entry.path())
                    && !matches!(pyenv::classify(&entry.path()), FileKind::PyenvShim(_));
                if version.precision() >= 2 && !seen && usable {
                    found.push((version, entry.path()));
                }
            }
        }
        found.sort_by(|a, b| b.0.cmp(&a.0));
        found
    }

    /// Checks a discovered candidate, resolving a shim; records it either way and gives
    /// it back when it can be used.
    fn offer(
        &mut self,
        source: PythonSource,
        python: PathBuf,
        venv: Option<PathBuf>,
        version: Option<Version>,
    ) -> Option<ResolvedPython> {
        self.tried.push(python.clone());
        let checked = check_executable(&python)
            .and_then(|()| venv.as_deref().map_or(Ok(()), check_venv_home))
            .and_then(|()| self.direct(&python));
        match checked {
            Ok((path, shim)) => Some(self.usable(source, path, venv, version, shim)),
            Err(reason) => {
                tracing::warn!(python = %python.display(), %reason, "skipping a python candidate that cannot run");
                self.candidates.push(Candidate {
                    source,
                    path: python,
                    version: version.map(|version| version.to_string()),
                    shim: None,
                    skipped: Some(reason),
                });
                None
            }
        }
    }

    /// Records a usable candidate and builds its answer.
    fn usable(
        &mut self,
        source: PythonSource,
        path: PathBuf,
        venv: Option<PathBuf>,
        version: Option<Version>,
        shim: Option<Shim>,
    ) -> ResolvedPython {
        // The interpreter's own path may say more than the rule knew (a shim's name).
        let version = [version, path_version(&path)]
            .into_iter()
            .flatten()
            .max_by_key(Version::precision)
            .map(|version| version.to_string());
        self.candidates.push(Candidate {
            source: source.clone(),
            path: path.clone(),
            version: version.clone(),
            shim: shim.clone(),
            skipped: None,
        });
        self.last_usable = Some(self.candidates.len() - 1);
        ResolvedPython {
            path,
            source,
            venv,
            version,
            shim,
        }
    }

    /// What `python` runs: itself, or its shim's target (read from files for pyenv,
    /// asked once and cached for other scripts).
    fn direct(&self, python: &Path) -> Result<(PathBuf, Option<Shim>), String> {
        let kind = match pyenv::classify(python) {
            FileKind::Direct => return Ok((python.to_path_buf(), None)),
            FileKind::PyenvShim(root) => {
                let shim = Shim {
                    kind: ShimKind::Pyenv,
                    path: python.to_path_buf(),
                };
                return match self.pyenv_shim_target(&Pyenv { root }, python) {
                    Some(target) => Ok((target, Some(shim))),
                    None => Err(format!(
                        "a pyenv shim whose {} is in no selected version and not on PATH",
                        python
                            .file_name()
                            .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
                    )),
                };
            }
            FileKind::AsdfShim => ShimKind::Asdf,
            FileKind::MiseShim => ShimKind::Mise,
            FileKind::Script => ShimKind::Script,
        };
        let target = cache::ask_once(python, self.cwd, self.host)
            .map_err(|reason| format!("a {kind} that {reason}"))?;
        let shim = Shim {
            kind,
            path: python.to_path_buf(),
        };
        Ok((target, Some(shim)))
    }

    /// What a pyenv shim runs, by `pyenv which`'s rules: the command in the first
    /// selected version that has it, else on `PATH` outside the shims.
    fn pyenv_shim_target(&self, pyenv: &Pyenv, shim: &Path) -> Option<PathBuf> {
        let command = shim.file_name()?.to_str()?;
        let names = self
            .host
            .pyenv_version
            .as_deref()
            .and_then(pyenv::split_env_version)
            .or_else(|| {
                pyenv::find_version_file(self.cwd).and_then(|file| pyenv::read_version_file(&file))
            })
            .or_else(|| pyenv::read_version_file(&pyenv.global_file()))
            .unwrap_or_default();
        names
            .iter()
            .filter(|name| *name != "system")
            .filter_map(|name| pyenv.resolve_name(name))
            .map(|installed| pyenv.command(&installed, command))
            .find(|python| is_executable(python))
            .or_else(|| self.system_python(command))
    }

    /// The first `command` on `PATH` that is not a pyenv shim: pyenv's `system`.
    fn system_python(&self, command: &str) -> Option<PathBuf> {
        env::split_paths(self.host.path.as_deref()?)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(command))
            .find(|python| {
                is_executable(python) && !matches!(pyenv::classify(python), FileKind::PyenvShim(_))
            })
    }
}

/// The interpreter names looked up on `PATH`, in order.
const PATH_NAMES: [&str; 2] = ["python3", "python"];

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

/// The most precise version `python`'s path tells: its installation directory's name
/// (pyenv's `3.12.1`, uv's `cpython-3.12.1-...`), its virtualenv's `pyvenv.cfg`, or its
/// file name (`python3.12`).
fn path_version(python: &Path) -> Option<Version> {
    let install = python.parent().and_then(Path::parent);
    let from_dir = install
        .and_then(|dir| dir.file_name()?.to_str())
        .and_then(|name| Version::parse(name).or_else(|| version::from_uv_dir_name(name)));
    let from_cfg = install.and_then(version::from_pyvenv_cfg);
    let from_name = python
        .file_name()
        .and_then(|name| version::from_file_name(name.to_str()?));
    [from_dir, from_cfg, from_name]
        .into_iter()
        .flatten()
        .max_by_key(Version::precision)
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

/// The interpreter of a conda environment.
fn conda_python(prefix: &Path) -> PathBuf {
    if cfg!(windows) {
        prefix.join("python.exe")
    } else {
        prefix.join("bin").join("python")
    }
}

/// The interpreter of an installation directory: `bin/python3`, else `bin/python`.
fn bin_python(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    let python3 = bin.join("python3");
    if python3.exists() {
        python3
    } else {
        bin.join("python")
    }
}

/// Whether a virtualenv's base interpreter directory (`home` in `pyvenv.cfg`) is still
/// there; a virtualenv without the file or the key passes.
fn check_venv_home(venv: &Path) -> Result<(), String> {
    let Ok(text) = fs::read_to_string(venv.join("pyvenv.cfg")) else {
        return Ok(());
    };
    let home = text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "home").then(|| PathBuf::from(value.trim()))
    });
    match home {
        Some(home) if !home.is_dir() => Err(format!(
            "its base interpreter directory {} is gone",
            home.display()
        )),
        _ => Ok(()),
    }
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

pub(crate) fn is_executable(path: &Path) -> bool {
    check_executable(path).is_ok()
}

/// Why `path` cannot be run, if it cannot.
fn check_executable(path: &Path) -> Result<(), String> {
    let metadata = fs::metadata(path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound if path.is_symlink() => "a dangling link".to_owned(),
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

//! The test virtualenvs and the real-Python test runs.
//!
//! `target/pyvenv` is created from the system interpreter (`python3`, or the path in
//! `PYKERNEL_PYTHON`) and gets `runner-py/tests/requirements.txt` installed. A stamp file
//! holding the requirements text skips the install when nothing changed.
//!
//! The runner promises Python 3.9 and newer, so its suite also runs on every other CPython
//! 3.9+ this machine has (`python3.N` on `PATH`, pyenv's versions, or the paths listed in
//! `PYKERNEL_EXTRA_PYTHONS`), one per minor version, each in `target/pyvenv-3.N` with only
//! pytest, pytest-xdist and IPython installed.
//!
//! The suite runs on two versions at a time, each spread over two pytest-xdist workers: a
//! single serial run waits on the runner subprocesses it starts for much of its time, and
//! four workers keep two cores busy.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant},
};

use crate::shell::{cargo, cmd, project_root, run};

/// The environment variable that turns on real-Python Rust tests; its value is the
/// interpreter they use.
const TEST_PYTHON_VAR: &str = "PYKERNEL_TEST_PYTHON";

/// Bootstraps the virtualenvs, then runs pytest (on every Python version found, all at
/// once) and the real-Python Rust tests (on the main version and the oldest and newest
/// other one).
pub(crate) fn test_python() -> Result<(), String> {
    let python = ensure_test_venv()?;
    let others = ensure_other_venvs(&python)?;
    pytest_versions(&python, &others)?;
    let others: Vec<PathBuf> = others.into_iter().map(|(_, python)| python).collect();
    rust_tests(&python, false)?;
    rust_tests_on_extremes(&others, false)
}

/// Runs every Rust test with the real-Python ones on `python`; `ci` also forbids insta from
/// writing snapshots (a mismatch fails instead).
pub(crate) fn rust_tests(python: &Path, ci: bool) -> Result<(), String> {
    let mut command = cargo();
    command
        .args(["test", "--workspace"])
        .env(TEST_PYTHON_VAR, python);
    if ci {
        command.env("INSTA_UPDATE", "no").env("CI", "true");
    }
    run(&mut command)
}

/// The real-Python Rust tests again on the oldest and the newest of `others` (the
/// interpreters from `ensure_other_venvs`, oldest first), where version differences
/// in starting and staging the runner would show.
pub(crate) fn rust_tests_on_extremes(others: &[PathBuf], ci: bool) -> Result<(), String> {
    let mut extremes: Vec<&PathBuf> = others.first().into_iter().chain(others.last()).collect();
    extremes.dedup();
    for python in extremes {
        eprintln!("xtask: the real-Python Rust tests on {}", python.display());
        rust_tests(python, ci)?;
    }
    Ok(())
}

/// How many pytest-xdist workers run the suite on one interpreter: its tests mostly wait
/// on the runner subprocesses they start, so two workers keep two cores busy.
const PYTEST_WORKERS: &str = "2";

/// The runner's Python test suite on `python`, spread over [`PYTEST_WORKERS`] processes.
fn pytest_command(python: &Path) -> Command {
    let mut command = cmd(python);
    command.args([
        "-m",
        "pytest",
        "runner-py/tests",
        "-q",
        "-p",
        "no:cacheprovider",
        "-n",
        PYTEST_WORKERS,
    ]);
    command
}

/// Creates a virtualenv for every other CPython 3.9+ found, besides `main_python`'s
/// version; returns each version with its virtualenv's interpreter, oldest first.
pub(crate) fn ensure_other_venvs(main_python: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let main_version = python_version(main_python.as_os_str());
    let requirements = project_root()
        .join("runner-py")
        .join("tests")
        .join("requirements-versions.txt");
    let mut venvs = Vec::new();
    for (version, base) in other_pythons().into_values() {
        if Some(&version) == main_version.as_ref() {
            continue;
        }
        eprintln!(
            "xtask: a virtualenv for Python {version} ({})",
            base.display()
        );
        let python = ensure_venv_from(&format!("pyvenv-{version}"), &base, &requirements)?;
        venvs.push((version, python));
    }
    Ok(venvs)
}

/// How many versions' suites run at the same time. A run keeps about one core busy with
/// its two workers (the rest of its time it waits on the runners it starts), so two runs
/// fill two cores; more would only add load, which the tests' timing does not need.
const PYTEST_RUNS_AT_ONCE: usize = 2;

/// Runs the runner's suite on `main_python` and on each of `others` (from
/// [`ensure_other_venvs`]), [`PYTEST_RUNS_AT_ONCE`] versions at a time, in that order.
///
/// Each run's output goes to `target/pytest-logs/<version>.log` and is printed whole when
/// every run has ended, one after the other, with how long each took; fails naming every
/// version whose run failed.
pub(crate) fn pytest_versions(
    main_python: &Path,
    others: &[(String, PathBuf)],
) -> Result<(), String> {
    let main_version = python_version(main_python.as_os_str()).unwrap_or_else(|| "main".into());
    let mut runs: Vec<(String, &Path)> = vec![(main_version, main_python)];
    runs.extend(
        others
            .iter()
            .map(|(version, python)| (version.clone(), python.as_path())),
    );
    let logs = project_root().join("target").join("pytest-logs");
    fs::create_dir_all(&logs).map_err(|err| format!("cannot create {}: {err}", logs.display()))?;
    let log_of = |version: &str| logs.join(format!("{version}.log"));
    let versions: Vec<&str> = runs.iter().map(|(version, _)| version.as_str()).collect();
    eprintln!(
        "xtask: the runner's suite on Python {}, {PYTEST_RUNS_AT_ONCE} at a time (logs in {})",
        versions.join(", "),
        logs.display()
    );
    let next = AtomicUsize::new(0);
    let mut outcomes: Vec<Result<Duration, String>> =
        runs.iter().map(|_| Err("did not run".to_owned())).collect();
    thread::scope(|scope| {
        let lanes: Vec<_> = (0..PYTEST_RUNS_AT_ONCE)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some((version, python)) =
                        runs.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        let outcome = pytest_logged(python, &log_of(version));
                        let verdict = if outcome.is_ok() { "passed" } else { "failed" };
                        eprintln!("xtask: the suite on Python {version} {verdict}");
                        done.push((version.as_str(), outcome));
                    }
                    done
                })
            })
            .collect();
        for lane in lanes {
            // A lane that panicked leaves its versions at "did not run".
            for (version, outcome) in lane.join().unwrap_or_default() {
                if let Some(index) = versions.iter().position(|known| *known == version) {
                    outcomes[index] = outcome;
                }
            }
        }
    });
    let mut failed = Vec::new();
    for ((version, _), outcome) in runs.iter().zip(outcomes) {
        let log = log_of(version);
        eprintln!("---- pytest on Python {version} ----");
        if let Ok(text) = fs::read_to_string(&log) {
            eprint!("{text}");
        }
        match outcome {
            Ok(took) => eprintln!("xtask: Python {version} passed in {} s", took.as_secs()),
            Err(message) => {
                eprintln!("xtask: Python {version}: {message}");
                failed.push(version.as_str());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the runner's suite failed on Python {}",
            failed.join(", ")
        ))
    }
}

/// Runs the suite on `python` with its output in the file `log`; returns how long it took.
fn pytest_logged(python: &Path, log: &Path) -> Result<Duration, String> {
    let file =
        fs::File::create(log).map_err(|err| format!("cannot create {}: {err}", log.display()))?;
    let errors = file
        .try_clone()
        .map_err(|err| format!("cannot reopen {}: {err}", log.display()))?;
    let mut command = pytest_command(python);
    command.stdin(Stdio::null()).stdout(file).stderr(errors);
    let start = Instant::now();
    let status = command
        .status()
        .map_err(|err| format!("could not run pytest with {}: {err}", python.display()))?;
    if status.success() {
        Ok(start.elapsed())
    } else {
        Err(format!(
            "pytest failed ({status}) after {} s",
            start.elapsed().as_secs()
        ))
    }
}

/// The oldest minor version the runner supports.
const OLDEST_MINOR: u32 = 9;
/// The newest minor version looked for.
const NEWEST_MINOR: u32 = 15;

/// One interpreter per CPython minor version 3.9+ found: `PYKERNEL_EXTRA_PYTHONS` (paths
/// separated by `:`) when set, else `python3.N` on `PATH` and pyenv's installed versions.
fn other_pythons() -> BTreeMap<u32, (String, PathBuf)> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(list) = std::env::var_os("PYKERNEL_EXTRA_PYTHONS") {
        candidates.extend(std::env::split_paths(&list));
    } else {
        for minor in OLDEST_MINOR..=NEWEST_MINOR {
            candidates.push(PathBuf::from(format!("python3.{minor}")));
        }
        let pyenv_root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")));
        if let Some(Ok(entries)) = pyenv_root.map(|root| fs::read_dir(root.join("versions"))) {
            let mut installed: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin").join("python3"))
                .collect();
            installed.sort();
            candidates.extend(installed);
        }
    }
    let mut found = BTreeMap::new();
    for candidate in candidates {
        if let Some(version) = python_version(candidate.as_os_str()) {
            let minor = version
                .strip_prefix("3.")
                .and_then(|minor| minor.parse::<u32>().ok());
            if let Some(minor) = minor.filter(|minor| *minor >= OLDEST_MINOR) {
                found.entry(minor).or_insert((version, candidate));
            }
        }
    }
    found
}

/// `"3.N"` for a working CPython interpreter, or None (missing, broken, a pyenv shim for a
/// version not selected, or another implementation).
fn python_version(python: &std::ffi::OsStr) -> Option<String> {
    let output = cmd(python)
        .args([
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.name)",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let (version, implementation) = text.trim().split_once(' ')?;
    (implementation == "cpython").then(|| version.to_owned())
}

/// Creates `target/pyvenv` with the test requirements; returns its interpreter.
pub(crate) fn ensure_test_venv() -> Result<PathBuf, String> {
    let requirements = project_root()
        .join("runner-py")
        .join("tests")
        .join("requirements.txt");
    ensure_venv("pyvenv", &requirements)
}

/// Creates the virtualenv `target/<name>` from the system interpreter (`python3`, or the
/// path in `PYKERNEL_PYTHON`) with `requirements` installed; returns its interpreter.
///
/// A stamp file holding the requirements text skips the install when nothing changed.
pub(crate) fn ensure_venv(name: &str, requirements_path: &Path) -> Result<PathBuf, String> {
    let system_python = std::env::var_os("PYKERNEL_PYTHON").unwrap_or_else(|| "python3".into());
    ensure_venv_from(name, Path::new(&system_python), requirements_path)
}

/// Creates the virtualenv `target/<name>` from `base_python` with `requirements` installed;
/// returns its interpreter.
fn ensure_venv_from(
    name: &str,
    base_python: &Path,
    requirements_path: &Path,
) -> Result<PathBuf, String> {
    let venv = project_root().join("target").join(name);
    let python = venv.join("bin").join("python");
    let requirements = fs::read_to_string(requirements_path)
        .map_err(|err| format!("cannot read {}: {err}", requirements_path.display()))?;
    let stamp = venv.join(".pykernel-requirements");
    if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(&requirements) {
        return Ok(python);
    }
    if !python.exists() {
        run(cmd(base_python).arg("-m").arg("venv").arg(&venv))?;
    }
    run(pip_install(&python).arg("-r").arg(requirements_path))?;
    fs::write(&stamp, requirements)
        .map_err(|err| format!("cannot write {}: {err}", stamp.display()))?;
    Ok(python)
}

/// `python -m pip install`, quietly; add what to install.
pub(crate) fn pip_install(python: &Path) -> Command {
    let mut command = cmd(python);
    command.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    command
}

#[cfg(test)]
mod tests {
    use std::{fs, os::unix::fs::PermissionsExt, path::PathBuf};

    use super::{project_root, pytest_versions};

    /// A stand-in interpreter: `-c` (the version probe) answers `version`, anything else
    /// (pytest) echoes its arguments and exits with `status`.
    fn fake_python(dir: &std::path::Path, version: &str, status: u8) -> PathBuf {
        let path = dir.join(format!("python{version}"));
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = -c ]; then echo '{version} cpython'; exit 0; fi\n\
             echo \"ran with $*\"\nexit {status}\n"
        );
        fs::write(&path, script).expect("the temp dir is writable");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod works");
        path
    }

    /// Runs the pool over stand-ins; returns its outcome and the logs of the given versions.
    fn check(runs: &[(&str, u8)]) -> (Result<(), String>, Vec<String>) {
        let dir = std::env::temp_dir().join(format!("xtask-pytest-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("the temp dir is writable");
        let mut pythons: Vec<(String, PathBuf)> = runs
            .iter()
            .map(|(version, status)| ((*version).to_owned(), fake_python(&dir, version, *status)))
            .collect();
        let (_, main) = pythons.remove(0);
        let outcome = pytest_versions(&main, &pythons);
        let logs = runs
            .iter()
            .map(|(version, _)| {
                let log = project_root()
                    .join("target")
                    .join("pytest-logs")
                    .join(format!("{version}.log"));
                let text = fs::read_to_string(&log).unwrap_or_default();
                let _ = fs::remove_file(log);
                text
            })
            .collect();
        let _ = fs::remove_dir_all(&dir);
        (outcome, logs)
    }

    #[test]
    fn every_version_runs_and_each_failure_is_named() {
        let (outcome, logs) = check(&[("3.91", 0), ("3.92", 1), ("3.93", 0), ("3.94", 1)]);
        assert_eq!(
            outcome,
            Err("the runner's suite failed on Python 3.92, 3.94".to_owned())
        );
        for log in logs {
            assert_eq!(
                log,
                "ran with -m pytest runner-py/tests -q -p no:cacheprovider -n 2\n"
            );
        }
        let (outcome, _) = check(&[("3.95", 0), ("3.96", 0)]);
        assert_eq!(outcome, Ok(()));
    }
}

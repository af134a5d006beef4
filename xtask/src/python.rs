//! The test virtualenvs and the real-Python test runs.
//!
//! `target/pyvenv` is created from the system interpreter (`python3`, or the path in
//! `PYKERNEL_PYTHON`) and gets `runner-py/tests/requirements.txt` installed. A stamp file
//! holding the requirements text skips the install when nothing changed.
//!
//! The runner promises Python 3.9 and newer, so its suite also runs on every other CPython
//! 3.9+ this machine has (`python3.N` on `PATH`, pyenv's versions, or the paths listed in
//! `PYKERNEL_EXTRA_PYTHONS`), one per minor version, each in `target/pyvenv-3.N` with only
//! pytest installed.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::shell::{cargo, cmd, project_root, run};

/// The environment variable that turns on real-Python Rust tests; its value is the
/// interpreter they use.
const TEST_PYTHON_VAR: &str = "PYKERNEL_TEST_PYTHON";

/// Bootstraps the virtualenv, then runs pytest (on every Python version found) and the
/// real-Python Rust tests (on the main version and the oldest and newest other one).
pub(crate) fn test_python() -> Result<(), String> {
    let python = ensure_test_venv()?;
    pytest(&python)?;
    let others = pytest_other_versions(&python)?;
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
/// interpreters `pytest_other_versions` tested, oldest first), where version differences
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

/// Runs the runner's Python test suite with the virtualenv's interpreter.
pub(crate) fn pytest(python: &PathBuf) -> Result<(), String> {
    run(cmd(python).args([
        "-m",
        "pytest",
        "runner-py/tests",
        "-q",
        "-p",
        "no:cacheprovider",
    ]))
}

/// Runs the runner's suite on every other CPython 3.9+ found, besides `main_python`'s
/// version; says which versions ran and returns their virtualenvs' interpreters, oldest
/// first.
pub(crate) fn pytest_other_versions(main_python: &Path) -> Result<Vec<PathBuf>, String> {
    let main_version = python_version(main_python.as_os_str());
    let requirements = project_root()
        .join("runner-py")
        .join("tests")
        .join("requirements-versions.txt");
    let mut tested: Vec<String> = main_version.iter().cloned().collect();
    let mut interpreters = Vec::new();
    for (version, base) in other_pythons().into_values() {
        if Some(&version) == main_version.as_ref() {
            continue;
        }
        eprintln!(
            "xtask: the runner's suite on Python {version} ({})",
            base.display()
        );
        let python = ensure_venv_from(&format!("pyvenv-{version}"), &base, &requirements)?;
        pytest(&python)?;
        tested.push(version);
        interpreters.push(python);
    }
    eprintln!(
        "xtask: the runner's suite ran on Python {}",
        tested.join(", ")
    );
    Ok(interpreters)
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

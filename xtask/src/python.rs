//! The test virtualenv and the real-Python test run.
//!
//! `target/pyvenv` is created from the system interpreter (`python3`, or the path in
//! `PYKERNEL_PYTHON`) and gets `runner-py/tests/requirements.txt` installed. A stamp file
//! holding the requirements text skips the install when nothing changed.

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::shell::{cargo, cmd, project_root, run};

/// The environment variable that turns on real-Python Rust tests; its value is the
/// interpreter they use.
pub(crate) const TEST_PYTHON_VAR: &str = "PYKERNEL_TEST_PYTHON";

/// Bootstraps the virtualenv, then runs pytest and the real-Python Rust tests.
pub(crate) fn test_python() -> Result<(), String> {
    let python = ensure_test_venv()?;
    pytest(&python)?;
    run(cargo()
        .args(["test", "--workspace"])
        .env(TEST_PYTHON_VAR, &python))
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
    let venv = project_root().join("target").join(name);
    let python = venv.join("bin").join("python");
    let requirements = fs::read_to_string(requirements_path)
        .map_err(|err| format!("cannot read {}: {err}", requirements_path.display()))?;
    let stamp = venv.join(".pykernel-requirements");
    if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(&requirements) {
        return Ok(python);
    }
    let system_python = std::env::var_os("PYKERNEL_PYTHON").unwrap_or_else(|| "python3".into());
    if !python.exists() {
        run(cmd(&system_python).arg("-m").arg("venv").arg(&venv))?;
    }
    run(cmd(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements_path))?;
    fs::write(&stamp, requirements)
        .map_err(|err| format!("cannot write {}: {err}", stamp.display()))?;
    Ok(python)
}

//! Interpreter discovery with real interpreters, through the library: a project's
//! `.python-version` in a parent directory, and the `Sessions` pool following a change of
//! that pin.
//!
//! Gated at runtime by `PYKERNEL_TEST_PYTHON`. The host's own environment decides the
//! rules before the pin (an active virtualenv or conda environment, `PYENV_VERSION`), so
//! the test skips, saying why, when one of them applies or the machine lacks 3.11 or 3.12.

use std::{fs, path::Path, time::Duration};

use pykernel::{
    Kernel, KernelOptions, PythonSource, SessionId, Sessions, SessionsOptions, resolve_python,
};
use tokio::time::{Instant, sleep, timeout};

/// A bound that only catches a hang.
const HANG: Duration = Duration::from_secs(60);

fn enabled() -> bool {
    std::env::var_os("PYKERNEL_TEST_PYTHON").is_some_and(|python| !python.is_empty())
}

fn pin(dir: &Path, version: &str) {
    fs::write(dir.join(".python-version"), format!("{version}\n"))
        .unwrap_or_else(|err| panic!("write the pin: {err}"));
}

/// The `major.minor` a pin resolves to from `cwd`, if the pin is what decides here.
fn pinned_minor(options: &KernelOptions) -> Result<String, String> {
    let resolved = resolve_python(options).map_err(|err| err.to_string())?;
    if !matches!(resolved.source, PythonSource::VersionFile(_)) {
        return Err(format!("{} decides before the pin", resolved.source));
    }
    let version = resolved.version.unwrap_or_default();
    Ok(version.split('.').take(2).collect::<Vec<_>>().join("."))
}

async fn wait_for_pool(sessions: &Sessions) {
    let deadline = Instant::now() + HANG;
    while sessions.pooled() == 0 {
        assert!(Instant::now() < deadline, "the pool was never filled");
        sleep(Duration::from_millis(20)).await;
    }
}

async fn kernel(sessions: &Sessions, id: &str) -> Kernel {
    match timeout(HANG, sessions.kernel(&SessionId::new(id))).await {
        Ok(Ok(kernel)) => kernel,
        Ok(Err(err)) => panic!("start failed: {err}"),
        Err(_) => panic!("start hung"),
    }
}

fn minor(kernel: &Kernel) -> String {
    let version = &kernel.info().python_version;
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

#[tokio::test]
async fn a_parent_pin_decides_and_the_pool_follows_a_pin_change() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let project = dir.path().join("proj");
    let cwd = project.join("src");
    fs::create_dir_all(&cwd).unwrap_or_else(|err| panic!("mkdir: {err}"));
    let options = KernelOptions::new()
        .with_cwd(&cwd)
        .with_startup_timeout(HANG);
    for version in ["3.11", "3.12"] {
        pin(&project, version);
        match pinned_minor(&options) {
            Ok(minor) => assert_eq!(minor, version),
            Err(reason) => {
                eprintln!("skipped: a pin of {version}: {reason}");
                return;
            }
        }
    }

    let sessions = Sessions::new(SessionsOptions::new(options).with_pool_size(1));
    wait_for_pool(&sessions).await;
    assert_eq!(minor(&kernel(&sessions, "first").await), "3.12");
    wait_for_pool(&sessions).await;
    // The pooled kernel runs 3.12; after the pin moves, a new session must not get it.
    pin(&project, "3.11");
    assert_eq!(minor(&kernel(&sessions, "second").await), "3.11");
    sessions.shutdown_all().await;
}

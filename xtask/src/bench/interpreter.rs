//! What interpreter discovery costs a start: `pyk exec -c 1` (release build) with the
//! default interpreter against the same with `--python` naming the real binary.
//!
//! Both run in a scratch directory under the system temp dir with the host's own
//! environment, so on a machine whose `python3` is a pyenv shim the default start goes
//! through discovery (pins, pyenv's files, the shim) exactly as a user's would. The real
//! binary is what `python3` on `PATH` reports as `sys.executable` from that directory.
//! The two commands alternate, 10 times each (3 with `--quick`); medians:
//! - `interp_default_exec_ms`: `pyk exec -c 1`, from spawn to exit.
//! - `interp_direct_exec_ms`: `pyk exec --python <real binary> -c 1`.
//! - `interp_gap_ms`: the first minus the second; the target is under 10 ms.
//! - `interp_shim_pass_ms`, `interp_direct_pass_ms`: `python3 -c pass` through `PATH`
//!   (the shim, if it is one) and through the real binary: what a shim costs each start
//!   that runs it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use crate::shell::{cargo, project_root, run as run_command};

/// The most `interp_gap_ms` may be.
const GAP_TARGET_MS: f64 = 10.0;

/// Measures and returns the metrics above.
pub(crate) fn run(quick: bool) -> Result<BTreeMap<String, Option<f64>>, String> {
    run_command(cargo().args(["build", "--release", "--package", "pykernel-cli"]))?;
    let pyk = project_root().join("target").join("release").join("pyk");
    let scratch =
        std::env::temp_dir().join(format!("pykernel-bench-interp-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|err| format!("cannot create {}: {err}", scratch.display()))?;
    let result = measure(&pyk, &scratch, if quick { 3 } else { 10 });
    // A leftover scratch directory is harmless; the measurement's error matters more.
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn measure(
    pyk: &Path,
    scratch: &Path,
    trials: usize,
) -> Result<BTreeMap<String, Option<f64>>, String> {
    let real = real_python3(scratch)?;
    eprintln!("xtask: interpreter bench: python3 runs {}", real.display());
    let (mut default, mut direct, mut shim_pass, mut direct_pass) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // One untimed round warms the page cache and the runner's staging.
    time(
        Command::new(pyk)
            .args(["exec", "-c", "1"])
            .current_dir(scratch),
    )?;
    for _ in 0..trials {
        default.push(time(
            Command::new(pyk)
                .args(["exec", "-c", "1"])
                .current_dir(scratch),
        )?);
        direct.push(time(
            Command::new(pyk)
                .arg("exec")
                .arg("--python")
                .arg(&real)
                .args(["-c", "1"])
                .current_dir(scratch),
        )?);
        shim_pass.push(time(
            Command::new("python3")
                .args(["-c", "pass"])
                .current_dir(scratch),
        )?);
        direct_pass.push(time(
            Command::new(&real)
                .args(["-c", "pass"])
                .current_dir(scratch),
        )?);
    }
    let default = median(default);
    let direct = median(direct);
    let gap = default - direct;
    eprintln!(
        "xtask: interpreter bench: default {default:.1} ms, --python {direct:.1} ms, gap {gap:.1} ms (target < {GAP_TARGET_MS} ms: {})",
        if gap < GAP_TARGET_MS { "met" } else { "MISSED" }
    );
    Ok(BTreeMap::from([
        ("interp_default_exec_ms".to_owned(), Some(default)),
        ("interp_direct_exec_ms".to_owned(), Some(direct)),
        ("interp_gap_ms".to_owned(), Some(gap)),
        ("interp_shim_pass_ms".to_owned(), Some(median(shim_pass))),
        (
            "interp_direct_pass_ms".to_owned(),
            Some(median(direct_pass)),
        ),
    ]))
}

/// What `python3` on `PATH` runs from `dir`, asked through it (shim and all).
fn real_python3(dir: &Path) -> Result<PathBuf, String> {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .current_dir(dir)
        .output()
        .map_err(|err| format!("cannot run python3: {err}"))?;
    if !out.status.success() {
        return Err(format!("python3 failed: {}", out.status));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Milliseconds from spawn to exit; a failure is an error.
fn time(command: &mut Command) -> Result<f64, String> {
    let started = Instant::now();
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|err| format!("cannot run {command:?}: {err}"))?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if !status.success() {
        return Err(format!("{command:?} failed: {status}"));
    }
    Ok(elapsed)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    match samples.len() {
        0 => 0.0,
        len if len % 2 == 1 => samples[len / 2],
        len => (samples[len / 2 - 1] + samples[len / 2]) / 2.0,
    }
}

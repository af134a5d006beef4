//! What a launcher costs: cold start and the `1+1` round trip of a local kernel against
//! the same kernel through the identity launcher (`env`), in the bubblewrap sandbox
//! (`--sandbox`) and over ssh to a throwaway sshd on 127.0.0.1 (see `launchers.rs`).
//!
//! The measuring side is `kernel/examples/bench.rs --only launchers` (release build) on
//! the bench interpreter. Every route's cold start alternates with the others' (20 trials
//! each, 3 with `--quick`), after one untimed start per route; the round trips run on one
//! kernel per route, all open at once, in alternating blocks of 100 (10 blocks; 2 of 50
//! with `--quick`) after 50 untimed warm-ups. Keys, for `ROUTE` in `local`, `env`,
//! `sandbox`, `ssh`:
//! - `launch_ROUTE_cold_start_ms`: median from before the spawn until a first `pass` has
//!   finished, as `cold_start_ms`.
//! - `launch_ROUTE_cold_start_gap_ms` (not for `local`): the median over trials of the
//!   route's start minus the local start of the same trial.
//! - `launch_ROUTE_rtt_median_ms`: median `1+1` round trip, as `rtt_median_ms`.
//! - `launch_env_rtt_gap_ms`: `env`'s round trip minus the local one.
//!
//! A route whose tool is missing (or cannot work here) is not measured: its keys are
//! `null`, the table says "not measured" and why.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Stdio},
};

use crate::launchers::{Sshd, runs};

/// Measured values, and why the routes that were not measured were not.
pub(crate) struct Measured {
    pub(crate) results: BTreeMap<String, Option<f64>>,
    /// Key to reason, for every key left `null`.
    pub(crate) not_measured: BTreeMap<String, String>,
}

/// Runs the launcher measurements on `python` (the bench interpreter).
pub(crate) fn run(python: &Path, out_dir: &Path, quick: bool) -> Result<Measured, String> {
    let mut not_measured = BTreeMap::new();
    let sandbox = sandbox_unusable();
    if let Some(why) = &sandbox {
        eprintln!("xtask: launcher bench: not measuring the sandbox: {why}");
        not_measured.extend(route_keys("sandbox").map(|key| (key, why.clone())));
    }
    let sshd = if runs("/usr/sbin/sshd") && runs("ssh") {
        Sshd::start("bench-ssh").map_err(|err| format!("the throwaway sshd does not start: {err}"))
    } else {
        Err("OpenSSH (ssh and /usr/sbin/sshd) is not installed".to_owned())
    };
    if let Err(why) = &sshd {
        eprintln!("xtask: launcher bench: not measuring ssh: {why}");
        not_measured.extend(route_keys("ssh").map(|key| (key, why.clone())));
    }

    let mut command = crate::bench::pykernel_example(python);
    command.args(["--only", "launchers"]);
    if sandbox.is_some() {
        command.arg("--no-sandbox");
    }
    if let Ok(sshd) = &sshd {
        command.arg("--ssh").arg(sshd.launcher.join(" "));
    }
    let mut results = crate::bench::run_side(command, &out_dir.join("launchers.json"), quick)?;
    // The sshd is no longer needed once the measurements are written.
    drop(sshd);
    let value =
        |results: &BTreeMap<String, Option<f64>>, key: &str| results.get(key).copied().flatten();
    let env_gap = match (
        value(&results, "launch_env_rtt_median_ms"),
        value(&results, "launch_local_rtt_median_ms"),
    ) {
        (Some(env), Some(local)) => Some(env - local),
        _ => None,
    };
    results.insert("launch_env_rtt_gap_ms".to_owned(), env_gap);
    for key in not_measured.keys() {
        results.insert(key.clone(), None);
    }
    Ok(Measured {
        results,
        not_measured,
    })
}

/// The keys a route reports.
fn route_keys(route: &'static str) -> impl Iterator<Item = String> {
    let gap = (route != "local").then(|| format!("launch_{route}_cold_start_gap_ms"));
    [
        Some(format!("launch_{route}_cold_start_ms")),
        gap,
        Some(format!("launch_{route}_rtt_median_ms")),
    ]
    .into_iter()
    .flatten()
}

/// Why bubblewrap cannot make the sandbox here, or `None` when it can: runs `true` in a
/// new PID namespace with a fresh `/proc`, as the sandbox does.
fn sandbox_unusable() -> Option<String> {
    if !runs("bwrap") {
        return Some("bwrap is not installed (apt-get install bubblewrap)".to_owned());
    }
    let output = Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--unshare-pid", "--die-with-parent", "true"])
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!(
            "bwrap cannot make its namespaces here: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(err) => Some(format!("bwrap does not run: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use crate::bench::{METRICS, launchers::route_keys};

    #[test]
    fn every_route_key_is_a_metric_of_the_table() {
        let keys: Vec<String> = ["local", "env", "sandbox", "ssh"]
            .into_iter()
            .flat_map(route_keys)
            .collect();
        assert_eq!(keys.len(), 11);
        for key in keys
            .iter()
            .map(String::as_str)
            .chain(["launch_env_rtt_gap_ms"])
        {
            assert!(
                METRICS.iter().any(|metric| metric.key == key),
                "{key} has no row"
            );
        }
    }
}

//! `cargo xtask ci`: the whole check CI runs, in the order that fails fastest, timing each
//! step.

use std::{
    fmt::Write as _,
    path::PathBuf,
    thread,
    time::{Duration, Instant},
};

use crate::{
    chaos, dist, fuzz, launchers, mcp, notebooks,
    python::{
        ensure_other_venvs, ensure_test_venv, pytest_versions, rust_tests, rust_tests_on_extremes,
    },
    serve,
    shell::{cargo, run},
};

/// Formatting, lints, every test (real Python included), the runner's pytest suite (on
/// every CPython 3.9+ found, all at once), the real-Python Rust tests also on the oldest
/// and newest of those, the `pyk serve` example clients, `pyk mcp` driven by the official
/// MCP SDKs, the notebook conformance corpus (light engine, outputs validated by
/// nbformat), the packages (crates, wheel and npm, each installed fresh and driven), the
/// quick fault-injection scenarios.
///
/// Says how long each step took as it ends, and all of them in a table at the end (also
/// when a step fails).
pub(crate) fn run_ci() -> Result<(), String> {
    let mut steps = Steps::default();
    let outcome = run_steps(&mut steps);
    eprint!("{}", steps.table());
    outcome
}

/// The test virtualenvs: the main one and the other versions', oldest first.
type Venvs = (PathBuf, Vec<(String, PathBuf)>);

fn run_steps(steps: &mut Steps) -> Result<(), String> {
    steps.time("fmt", || {
        run(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    // Downloads and installs (the virtualenvs, bubblewrap and OpenSSH) wait on the network
    // mostly, so they run while clippy compiles.
    let setup = thread::spawn(|| {
        let start = Instant::now();
        let venvs = ensure_test_venv().and_then(|python| {
            let others = ensure_other_venvs(&python)?;
            Ok((python, others))
        });
        let tools = launchers::install_tools();
        (
            venvs.and_then(|venvs| tools.map(|()| venvs)),
            start.elapsed(),
        )
    });
    let clippy = steps.time("clippy", || {
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))
    });
    let (venvs, took) = setup
        .join()
        .unwrap_or_else(|_| (Err("the setup thread panicked".to_owned()), Duration::ZERO));
    steps.record("venvs and tools (alongside clippy)", took);
    clippy?;
    let (python, others): Venvs = venvs?;
    steps.time("pytest on every Python", || {
        pytest_versions(&python, &others)
    })?;
    let others: Vec<PathBuf> = others.into_iter().map(|(_, python)| python).collect();
    steps.time("rust tests", || rust_tests(&python, true))?;
    // The launcher tests again over ssh.
    steps.time("launchers over ssh", || launchers::test_over_ssh(&python))?;
    steps.time("rust tests on the oldest and newest Python", || {
        rust_tests_on_extremes(&others, true)
    })?;
    steps.time("serve clients", || serve::test_clients(&python))?;
    steps.time("mcp sdks", mcp::test_mcp)?;
    steps.time("notebooks --quick", || {
        notebooks::run_notebooks(&["--quick".to_owned()])
    })?;
    steps.time("dist check", dist::check_in_ci)?;
    steps.time("chaos --quick", || chaos::run(&["--quick".to_owned()]))?;
    // A short smoke run of every fuzz target over its seed corpus and fresh inputs.
    steps.time("fuzz build", fuzz::build)?;
    steps.time("fuzz smoke", || fuzz::run(None, FUZZ_SMOKE_SECONDS))
}

/// How long CI fuzzes each target.
const FUZZ_SMOKE_SECONDS: u64 = 10;

/// The steps run so far and how long each took.
#[derive(Default)]
struct Steps {
    taken: Vec<(&'static str, Duration)>,
    started: Option<Instant>,
}

impl Steps {
    /// Runs `step`, says how long it took and records that, whether it failed or not.
    fn time<T>(
        &mut self,
        name: &'static str,
        step: impl FnOnce() -> Result<T, String>,
    ) -> Result<T, String> {
        self.started.get_or_insert_with(Instant::now);
        let start = Instant::now();
        let outcome = step();
        let took = start.elapsed();
        eprintln!("ci: {name} took {} s", took.as_secs());
        self.record(name, took);
        outcome
    }

    /// Records a step timed elsewhere (in another thread).
    fn record(&mut self, name: &'static str, took: Duration) {
        self.taken.push((name, took));
    }

    /// The steps in the order they ended, with the seconds each took, and the wall time
    /// since the first began.
    fn table(&self) -> String {
        let total = self.started.map_or(Duration::ZERO, |start| start.elapsed());
        render_table(&self.taken, total)
    }
}

/// The timing table: one row per step, seconds right-aligned, then the total.
fn render_table(steps: &[(&str, Duration)], total: Duration) -> String {
    let width = steps
        .iter()
        .map(|(name, _)| name.len())
        .chain(["total".len()])
        .max()
        .unwrap_or(0);
    let mut table = String::from("ci: time per step\n");
    for (name, took) in steps.iter().copied().chain([("total", total)]) {
        // Writing to a String cannot fail.
        let _ = writeln!(table, "ci:   {name:<width$}  {:>5} s", took.as_secs());
    }
    table
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::render_table;

    fn check(steps: &[(&str, u64)], total: u64, expect: &str) {
        let steps: Vec<(&str, Duration)> = steps
            .iter()
            .map(|(name, seconds)| (*name, Duration::from_secs(*seconds)))
            .collect();
        assert_eq!(render_table(&steps, Duration::from_secs(total)), expect);
    }

    #[test]
    fn the_table_aligns_names_and_seconds() {
        check(
            &[
                ("fmt", 2),
                ("pytest on every Python", 312),
                ("fuzz smoke", 61),
            ],
            1500,
            "ci: time per step\n\
             ci:   fmt                         2 s\n\
             ci:   pytest on every Python    312 s\n\
             ci:   fuzz smoke                 61 s\n\
             ci:   total                    1500 s\n",
        );
        check(&[], 0, "ci: time per step\nci:   total      0 s\n");
    }
}

//! `cargo xtask bench [--quick] [--no-pykernel] [--no-jupyter] [--runs N]`: pykernel
//! against jupyter_client + ipykernel, side by side, on the same interpreter.
//!
//! The bench virtualenv `target/bench-venv` is created from `python3` (or `PYKERNEL_PYTHON`)
//! and gets `xtask/bench/requirements.txt` (ipykernel, jupyter_client). Both sides use its
//! interpreter: pykernel through `KernelOptions::with_python`, Jupyter because the script runs
//! on it and jupyter_client launches the native `python3` kernel with `sys.executable` (the
//! script checks `/proc/<pid>/exe`). The pykernel side is `kernel/examples/bench.rs`, built
//! in release mode; the Jupyter side is `xtask/bench/jupyter_bench.py` with the blocking
//! `KernelManager` and `BlockingKernelClient`. Each writes a flat JSON object to
//! `target/bench/{pykernel,jupyter}.json`; this command merges them into
//! `target/bench/report.json` (`{"metric": {"pykernel": x, "jupyter": y}, ..., "meta": {..}}`,
//! `null` where a side does not apply or was skipped) and prints a table with the ratio
//! pykernel/jupyter.
//!
//! Then `pyk mcp` is measured against pykernel-mcp through the Python MCP client; see
//! `bench_mcp.rs`.
//!
//! What each number covers, identically on both sides unless said otherwise:
//! - `cold_start_ms`: median of 10. From before the spawn until a first `pass` cell has
//!   finished: pykernel `Kernel::start` (default options, prelude loaded) then `execute("pass")`
//!   to its outcome; Jupyter `start_kernel`, `start_channels`, `wait_for_ready` then
//!   `execute_interactive("pass")`. Shutdown is not timed. Detail (pykernel only):
//!   `cold_start_no_prelude_ms`, the same with `with_prelude(false)`.
//! - `cold_start_ipython_ms`: pykernel only, as `cold_start_ms` with
//!   `with_engine(Engine::IPython)` (IPython comes with ipykernel in the bench virtualenv);
//!   compare it with Jupyter's `cold_start_ms`, which starts the same IPython shell.
//! - `warm_start_ms`: pykernel only, median of 10. A `Sessions` pool (size 1, refilled before
//!   each trial) hands a new session its kernel, until that kernel's first `pass` has
//!   finished. Detail: `warm_handout_ms`, the hand-out alone.
//! - `rtt_median_ms`, `rtt_p99_ms`: 1000 executions of `1+1` on one kernel after 50 untimed
//!   warm-ups, each from the request until the execution is over with its result consumed
//!   (pykernel: every output then the outcome; Jupyter: `execute_interactive`, that is the idle
//!   status and the execute_reply). p99 is nearest-rank. Details: `rtt_cpu_host_us` and
//!   `rtt_cpu_kernel_us`, CPU time (user + system, all threads, from `/proc/<pid>/stat`, 10 ms
//!   ticks) of the host process and of the kernel process per round trip.
//! - `serve_rtt_median_ms`, `serve_rtt_p99_ms` (pykernel only, details of the round trip):
//!   the same 1000 `1+1` after 50 warm-ups, as `execute` requests through `pyk serve`
//!   (release build, one session, no pool) from the Node example client
//!   (`clients/node/bench.mjs`), each from writing the request until its response was read
//!   (the `output` notification with the result arrives before it). It needs `node` on
//!   `PATH`; without it the two are skipped with a notice.
//! - `stdout_mb_per_s`: median of 3. One cell printing 50 MiB as 1 KiB lines (`print` of
//!   1023 `x`), bytes / 10^6 / seconds from the request until the execution is over, with
//!   every stdout output consumed and its byte count checked. Details (medians too):
//!   `stdout_cpu_host_ms_per_mb` and `stdout_cpu_kernel_ms_per_mb`, CPU time per MB of each
//!   process.
//! - `interrupt_ms`: median of 5. A cell prints a flushed marker then runs `while True: pass`;
//!   100 ms after the marker arrives the host interrupts (pykernel `kernel.interrupt()`,
//!   Jupyter `interrupt_kernel()`, both SIGINT) and the time runs until the execution is over
//!   (pykernel outcome, Jupyter execute_reply) with a `KeyboardInterrupt`.
//! - `display_png_ms`: median of 3. A cell displays an object whose `_repr_png_` returns 20 MB
//!   (a PNG signature and random bytes, made in an untimed cell before); the time runs from
//!   the request until the host has the whole display (pykernel `Output::Display`, Jupyter
//!   the `display_data` message), its base64 of the right length.
//! - `rss_host_mb`: the host process's VmRSS growth per idle kernel, from 10 kernels started
//!   (each having run `pass`), after warm-up so one-time costs (imports, runtime) are excluded.
//! - `rss_kernel_mb`: VmRSS of each idle kernel process (runner, ipykernel), averaged.
//! - `rss_mb`: `rss_host_mb + rss_kernel_mb`, the memory one idle kernel costs.
//! - `notebook_run_light_ms`, `notebook_run_ipython_ms`: `pyk notebook run` (release, each
//!   engine) against `jupyter execute` (nbclient + ipykernel, the same figure beside both) of
//!   nbclient's small test notebooks, one process per notebook, on the notebooks venv's
//!   interpreter: mean wall time per notebook, median of 5 trials; see `notebooks.rs`.
//! - `interp_*` (pykernel only): `pyk exec -c 1` with the default interpreter against
//!   `--python` naming the real binary, and what a shim costs; see `bench/interpreter.rs`.
//! - `launch_*` (pykernel only): cold start and the `1+1` round trip locally, through the
//!   identity launcher (`env`), in the bubblewrap sandbox and over ssh to a throwaway sshd
//!   on 127.0.0.1; a route whose tool is missing is shown as not measured, with why; see
//!   `bench/launchers.rs`.
//!
//! Wall-clock numbers depend on what else runs: on a shared 2-core machine compare them only
//! with a quiet load average, and use the CPU-time details, which move much less.
//! `--launchers` runs only the launcher rows (`launch_*`). `--quick` runs fewer iterations and prints 2 MiB instead of 50 (a smoke test; its numbers
//! are not the benchmark). `--no-pykernel` and `--no-jupyter` skip a side. `--runs N` repeats
//! the whole bench N times, alternating the sides: the table and the report then give each
//! metric's median over the runs, pykernel's range, and in how many runs each target was met,
//! and the report lists every run's value (`pykernel_runs`, `jupyter_runs`).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

mod interpreter;
mod launchers;

use crate::{
    python::ensure_venv,
    shell::{cargo, cmd, project_root, run as run_command},
};

// Writing to a `String` cannot fail, so the `fmt::Result`s of `write!` below are dropped.

/// Runs the bench; `args` are the words after `bench`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let flags = Flags::parse(args)?;
    let root = project_root();
    let out_dir = root.join("target").join("bench");
    fs::create_dir_all(&out_dir)
        .map_err(|err| format!("cannot create {}: {err}", out_dir.display()))?;
    let python = ensure_bench_venv()?;

    // Rounds alternate the sides, so a change in the machine's load touches both.
    let (mut pykernel_runs, mut jupyter_runs) = (Vec::new(), Vec::new());
    let mut not_measured = BTreeMap::new();
    for round in 1..=flags.runs {
        if flags.runs > 1 {
            eprintln!("xtask: bench round {round} of {}", flags.runs);
        }
        if flags.launchers_only {
            let launched = launchers::run(&python, &out_dir, flags.quick)?;
            not_measured.extend(launched.not_measured);
            pykernel_runs.push(launched.results);
        } else if flags.pykernel {
            let mut results = run_pykernel_side(&python, &out_dir, flags.quick)?;
            results.extend(run_serve_side(&python, &out_dir, flags.quick)?);
            results.extend(interpreter::run(flags.quick)?);
            let launched = launchers::run(&python, &out_dir, flags.quick)?;
            results.extend(launched.results);
            not_measured.extend(launched.not_measured);
            results.extend(crate::notebooks::bench_pyk(flags.quick)?);
            pykernel_runs.push(results);
        }
        if flags.jupyter {
            let mut results = run_jupyter_side(&python, &out_dir, flags.quick)?;
            results.extend(crate::notebooks::bench_jupyter(flags.quick)?);
            jupyter_runs.push(results);
        }
    }

    let mut report = Report::from_runs(pykernel_runs, jupyter_runs);
    report.not_measured = not_measured;
    let meta = meta(&python, flags.quick, flags.runs);
    println!("\n{}", report.table());
    for (key, value) in &meta {
        println!("{key}: {value}");
    }
    let report_path = out_dir.join("report.json");
    fs::write(&report_path, report.json(&meta))
        .map_err(|err| format!("cannot write {}: {err}", report_path.display()))?;
    println!("wrote {}", report_path.display());
    if flags.pykernel && !flags.launchers_only {
        crate::bench_mcp::run_mcp_bench(&out_dir, flags.quick)?;
    }
    Ok(())
}

/// One run of `kernel/examples/bench.rs`, built in release mode.
fn run_pykernel_side(python: &Path, out_dir: &Path, quick: bool) -> Result<Results, String> {
    run_side(
        pykernel_example(python),
        &out_dir.join("pykernel.json"),
        quick,
    )
}

/// `kernel/examples/bench.rs` in release mode on `python`; more arguments may follow.
fn pykernel_example(python: &Path) -> Command {
    let mut command = cargo();
    command
        .args([
            "run",
            "--release",
            "--package",
            "pykernel",
            "--example",
            "bench",
            "--",
        ])
        .arg("--python")
        .arg(python);
    command
}

/// One run of `clients/node/bench.mjs` against a release `pyk serve`; no results (and a
/// notice) when `node` is missing.
fn run_serve_side(python: &Path, out_dir: &Path, quick: bool) -> Result<Results, String> {
    if cmd("node").arg("--version").output().is_err() {
        eprintln!("xtask: node not found; skipping the pyk serve round trip");
        return Ok(Results::new());
    }
    run_command(cargo().args(["build", "--release", "--package", "pykernel-cli"]))?;
    let root = project_root();
    let mut command = cmd("node");
    command
        .arg(root.join("clients").join("node").join("bench.mjs"))
        .arg("--python")
        .arg(python)
        .env("PYK_BIN", root.join("target").join("release").join("pyk"));
    run_side(command, &out_dir.join("serve.json"), quick)
}

/// One run of `xtask/bench/jupyter_bench.py` on the bench interpreter.
fn run_jupyter_side(python: &Path, out_dir: &Path, quick: bool) -> Result<Results, String> {
    let script = project_root()
        .join("xtask")
        .join("bench")
        .join("jupyter_bench.py");
    let mut command = cmd(python);
    command.arg(script);
    run_side(command, &out_dir.join("jupyter.json"), quick)
}

/// Runs one side's `command` with `--json path` (and `--quick`), then reads its results.
fn run_side(mut command: Command, path: &Path, quick: bool) -> Result<Results, String> {
    // A stale file from an earlier run must not pass for this run's results.
    remove_stale(path)?;
    command.arg("--json").arg(path);
    if quick {
        command.arg("--quick");
    }
    run_command(&mut command)?;
    read_results(path)
}

/// The command line of `cargo xtask bench`.
#[derive(Debug, PartialEq, Eq)]
struct Flags {
    quick: bool,
    pykernel: bool,
    jupyter: bool,
    /// Full rounds of both sides; the report gives medians and ranges over them.
    runs: usize,
    /// Only the launcher rows (`--launchers`), nothing of Jupyter.
    launchers_only: bool,
}

impl Flags {
    fn parse(args: &[String]) -> Result<Self, String> {
        const USAGE: &str = "usage: cargo xtask bench [--quick] [--no-pykernel] [--no-jupyter] [--launchers] [--runs N]";
        let mut flags = Self {
            quick: false,
            pykernel: true,
            jupyter: true,
            runs: 1,
            launchers_only: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => flags.quick = true,
                "--no-pykernel" => flags.pykernel = false,
                "--no-jupyter" => flags.jupyter = false,
                "--launchers" => {
                    flags.launchers_only = true;
                    flags.jupyter = false;
                }
                "--runs" => {
                    flags.runs = args
                        .next()
                        .and_then(|runs| runs.parse().ok())
                        .filter(|runs| *runs >= 1)
                        .ok_or_else(|| format!("--runs needs a count of 1 or more\n{USAGE}"))?;
                }
                other => return Err(format!("unknown bench flag `{other}`\n{USAGE}")),
            }
        }
        Ok(flags)
    }
}

/// One side's measurements: metric name to value (`None` where it does not apply).
type Results = BTreeMap<String, Option<f64>>;

/// A metric of the table: its key, label and pykernel's target (from issue 6).
struct Metric {
    key: &'static str,
    label: &'static str,
    target: Option<Target>,
    /// Shown only when a side reported it.
    detail: bool,
}

/// How far the `1+1` round trip through the identity launcher may be from the local one
/// and still count as equal: the launcher is gone once it has exec'd the interpreter,
/// so what is left is measurement noise.
const ENV_RTT_TOLERANCE_MS: f64 = 0.02;

/// A goal for pykernel's value.
#[derive(Clone, Copy)]
enum Target {
    Below(f64),
    AtLeast(f64),
}

impl Target {
    fn met(self, value: f64) -> bool {
        match self {
            Self::Below(limit) => value < limit,
            Self::AtLeast(limit) => value >= limit,
        }
    }

    fn render(self) -> String {
        match self {
            Self::Below(limit) => format!("< {}", number(limit)),
            Self::AtLeast(limit) => format!(">= {}", number(limit)),
        }
    }
}

/// The report's metrics, in table order; `rss_mb` is derived from the two `rss_*_mb`.
///
/// Details (indented labels) explain the line above them and are shown only when a side
/// reported them.
const METRICS: &[Metric] = &[
    Metric {
        key: "cold_start_ms",
        label: "cold start, ms (median)",
        target: Some(Target::Below(80.0)),
        detail: false,
    },
    Metric {
        key: "cold_start_no_prelude_ms",
        label: "  without the prelude, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "cold_start_ipython_ms",
        label: "  with the IPython engine, ms",
        target: Some(Target::Below(250.0)),
        detail: true,
    },
    Metric {
        key: "warm_start_ms",
        label: "warm start from pool, ms",
        target: Some(Target::Below(2.0)),
        detail: false,
    },
    Metric {
        key: "warm_handout_ms",
        label: "  hand-out alone, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "rtt_median_ms",
        label: "round trip 1+1, ms (median)",
        target: Some(Target::Below(0.2)),
        detail: false,
    },
    Metric {
        key: "rtt_p99_ms",
        label: "round trip 1+1, ms (p99)",
        target: None,
        detail: false,
    },
    Metric {
        key: "serve_rtt_median_ms",
        label: "  through pyk serve, Node client, ms (median)",
        target: Some(Target::Below(0.5)),
        detail: true,
    },
    Metric {
        key: "serve_rtt_p99_ms",
        label: "  through pyk serve, Node client, ms (p99)",
        target: None,
        detail: true,
    },
    Metric {
        key: "rtt_cpu_host_us",
        label: "  CPU per round trip, host, us",
        target: None,
        detail: true,
    },
    Metric {
        key: "rtt_cpu_kernel_us",
        label: "  CPU per round trip, kernel, us",
        target: None,
        detail: true,
    },
    Metric {
        key: "stdout_mb_per_s",
        label: "stdout, MB/s",
        target: Some(Target::AtLeast(300.0)),
        detail: false,
    },
    Metric {
        key: "stdout_cpu_host_ms_per_mb",
        label: "  CPU per MB, host, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "stdout_cpu_kernel_ms_per_mb",
        label: "  CPU per MB, kernel, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "display_png_ms",
        label: "20 MB PNG display, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "interrupt_ms",
        label: "interrupt, ms (median)",
        target: Some(Target::Below(10.0)),
        detail: false,
    },
    Metric {
        key: "launch_local_cold_start_ms",
        label: "launchers: cold start, local, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "launch_env_cold_start_ms",
        label: "  through env, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "launch_env_cold_start_gap_ms",
        label: "    minus local, ms (paired median)",
        target: None,
        detail: true,
    },
    Metric {
        key: "launch_sandbox_cold_start_ms",
        label: "  in the sandbox (bwrap), ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "launch_sandbox_cold_start_gap_ms",
        label: "    minus local, ms (paired median)",
        target: Some(Target::Below(20.0)),
        detail: true,
    },
    Metric {
        key: "launch_ssh_cold_start_ms",
        label: "  over ssh to localhost, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "launch_ssh_cold_start_gap_ms",
        label: "    minus local, ms (paired median)",
        target: None,
        detail: true,
    },
    Metric {
        key: "launch_local_rtt_median_ms",
        label: "launchers: round trip 1+1, local, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "launch_env_rtt_median_ms",
        label: "  through env, ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "launch_env_rtt_gap_ms",
        label: "    minus local, ms",
        target: Some(Target::Below(ENV_RTT_TOLERANCE_MS)),
        detail: true,
    },
    Metric {
        key: "launch_sandbox_rtt_median_ms",
        label: "  in the sandbox (bwrap), ms",
        target: None,
        detail: true,
    },
    Metric {
        key: "launch_ssh_rtt_median_ms",
        label: "  over ssh to localhost, ms",
        target: Some(Target::Below(0.5)),
        detail: true,
    },
    Metric {
        key: "notebook_run_light_ms",
        label: "notebook run, small, ms (light; jupyter execute)",
        target: None,
        detail: true,
    },
    Metric {
        key: "notebook_run_ipython_ms",
        label: "notebook run, small, ms (ipython; jupyter execute)",
        target: None,
        detail: true,
    },
    Metric {
        key: "rss_host_mb",
        label: "RSS per idle kernel, host, MB",
        target: None,
        detail: false,
    },
    Metric {
        key: "rss_kernel_mb",
        label: "RSS per idle kernel, kernel, MB",
        target: None,
        detail: false,
    },
    Metric {
        key: "rss_mb",
        label: "RSS per idle kernel, total, MB",
        target: None,
        detail: false,
    },
];

/// Both sides' results, merged.
struct Report {
    /// Each side's median over the runs.
    pykernel: Results,
    jupyter: Results,
    /// Each side's runs, for the ranges (no run for a side that was skipped).
    pykernel_runs: Vec<Results>,
    jupyter_runs: Vec<Results>,
    /// Why a pykernel metric was not measured (a tool missing), by key.
    not_measured: BTreeMap<String, String>,
}

impl Report {
    /// The report of one run of each side.
    #[cfg(test)]
    fn new(pykernel: Results, jupyter: Results) -> Self {
        Self::from_runs(vec![pykernel], vec![jupyter])
    }

    /// The report of several runs of each side: medians, with the ranges when there are
    /// several.
    fn from_runs(mut pykernel_runs: Vec<Results>, mut jupyter_runs: Vec<Results>) -> Self {
        for side in pykernel_runs.iter_mut().chain(&mut jupyter_runs) {
            let total = match (side.get("rss_host_mb"), side.get("rss_kernel_mb")) {
                (Some(Some(host)), Some(Some(kernel))) => Some(host + kernel),
                _ => None,
            };
            side.insert("rss_mb".to_owned(), total);
        }
        Self {
            pykernel: medians(&pykernel_runs),
            jupyter: medians(&jupyter_runs),
            pykernel_runs,
            jupyter_runs,
            not_measured: BTreeMap::new(),
        }
    }

    /// How many runs the report covers (the larger side).
    fn run_count(&self) -> usize {
        self.pykernel_runs.len().max(self.jupyter_runs.len())
    }

    /// Every key in table order: the known metrics (details when reported), then extras
    /// either side reported.
    fn keys(&self) -> Vec<String> {
        let reported =
            |key: &str| self.pykernel.contains_key(key) || self.jupyter.contains_key(key);
        let mut keys: Vec<String> = METRICS
            .iter()
            .filter(|metric| !metric.detail || reported(metric.key))
            .map(|metric| metric.key.to_owned())
            .collect();
        for key in self.pykernel.keys().chain(self.jupyter.keys()) {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        keys
    }

    fn value(side: &Results, key: &str) -> Option<f64> {
        side.get(key).copied().flatten()
    }

    fn table(&self) -> String {
        let runs = self.run_count();
        let mut rows = vec![[
            "metric".to_owned(),
            "pykernel".to_owned(),
            "jupyter".to_owned(),
            "py/jup".to_owned(),
            if runs > 1 {
                format!("pykernel, {runs} runs")
            } else {
                String::new()
            },
            "target".to_owned(),
        ]];
        let mut missed = Vec::new();
        for key in self.keys() {
            let metric = METRICS.iter().find(|metric| metric.key == key);
            let ours = Self::value(&self.pykernel, &key);
            let theirs = Self::value(&self.jupyter, &key);
            let ratio = match (ours, theirs) {
                (Some(ours), Some(theirs)) if theirs != 0.0 => format!("{:.3}", ours / theirs),
                _ => "-".to_owned(),
            };
            let our_runs = self.runs_of(&self.pykernel_runs, &key);
            let target = match (metric.and_then(|metric| metric.target), ours) {
                (Some(target), Some(value)) => {
                    let met = target.met(value);
                    if !met {
                        missed.push(key.clone());
                    }
                    let mut cell =
                        format!("{} {}", target.render(), if met { "met" } else { "MISSED" });
                    if runs > 1 {
                        let met_runs = our_runs.iter().filter(|value| target.met(**value)).count();
                        let _ = write!(cell, " (in {met_runs} of {} runs)", our_runs.len());
                    }
                    cell
                }
                (Some(target), None) => target.render(),
                (None, _) => String::new(),
            };
            let range = match (our_runs.first(), our_runs.last()) {
                (Some(low), Some(high)) if runs > 1 => {
                    format!("{}-{}", number(*low), number(*high))
                }
                _ => String::new(),
            };
            let missing = if self.not_measured.contains_key(&key) {
                "not measured"
            } else {
                "-"
            };
            rows.push([
                metric.map_or_else(|| key.clone(), |metric| metric.label.to_owned()),
                ours.map_or_else(|| missing.to_owned(), number),
                theirs.map_or_else(|| "-".to_owned(), number),
                ratio,
                range,
                target,
            ]);
        }
        let mut widths = [0; 6];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
                // The label is left-aligned, the numbers right-aligned, the target as is.
                let _ = match column {
                    0 => write!(line, "{cell:<width$}"),
                    5 => write!(line, "  {cell}"),
                    // An empty range column takes no room.
                    4 if width == 0 => Ok(()),
                    _ => write!(line, "  {cell:>width$}"),
                };
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        // One line per reason, naming the keys it left unmeasured.
        let mut reasons: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (key, why) in &self.not_measured {
            reasons.entry(why).or_default().push(key);
        }
        for (why, keys) in reasons {
            let _ = writeln!(out, "not measured: {} ({why})", keys.join(", "));
        }
        if !missed.is_empty() {
            let _ = write!(out, "pykernel targets missed: {}", missed.join(", "));
        }
        out.trim_end().to_owned()
    }

    /// A side's values of `key` over its runs, sorted, runs without it left out.
    fn runs_of(&self, runs: &[Results], key: &str) -> Vec<f64> {
        let mut values: Vec<f64> = runs
            .iter()
            .filter_map(|run| Self::value(run, key))
            .collect();
        values.sort_by(f64::total_cmp);
        values
    }

    fn json(&self, meta: &[(&'static str, String)]) -> String {
        let mut out = String::from("{\n");
        for key in self.keys() {
            let _ = write!(
                out,
                "  \"{key}\": {{\"pykernel\": {}, \"jupyter\": {}",
                json_number(Self::value(&self.pykernel, &key)),
                json_number(Self::value(&self.jupyter, &key)),
            );
            // With several runs, every run's value too, in run order.
            if self.run_count() > 1 {
                for (name, runs) in [
                    ("pykernel_runs", &self.pykernel_runs),
                    ("jupyter_runs", &self.jupyter_runs),
                ] {
                    let values: Vec<String> = runs
                        .iter()
                        .map(|run| json_number(Self::value(run, &key)))
                        .collect();
                    let _ = write!(out, ", \"{name}\": [{}]", values.join(", "));
                }
            }
            out.push_str("},\n");
        }
        if !self.not_measured.is_empty() {
            out.push_str("  \"not_measured\": {");
            for (index, (key, why)) in self.not_measured.iter().enumerate() {
                let separator = if index == 0 { "" } else { "," };
                let _ = write!(out, "{separator}\n    \"{key}\": {}", json_string(why));
            }
            out.push_str("\n  },\n");
        }
        out.push_str("  \"meta\": {");
        for (index, (key, value)) in meta.iter().enumerate() {
            let separator = if index == 0 { "" } else { "," };
            let _ = write!(out, "{separator}\n    \"{key}\": {}", json_string(value));
        }
        out.push_str("\n  }\n}\n");
        out
    }
}

/// Each key's median over `runs` (`None` where no run has a value for it).
fn medians(runs: &[Results]) -> Results {
    let mut keys: Vec<&String> = runs.iter().flat_map(BTreeMap::keys).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let mut values: Vec<f64> = runs
                .iter()
                .filter_map(|run| run.get(key).copied().flatten())
                .collect();
            values.sort_by(f64::total_cmp);
            let mid = values.len() / 2;
            let median = match values.len() {
                0 => None,
                len if len % 2 == 0 => Some((values[mid - 1] + values[mid]) / 2.0),
                _ => Some(values[mid]),
            };
            (key.clone(), median)
        })
        .collect()
}

/// A value for the table: three significant digits or so, never scientific notation.
fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn json_number(value: Option<f64>) -> String {
    match value {
        Some(value) if value.is_finite() => format!("{value}"),
        _ => "null".to_owned(),
    }
}

fn json_string(value: &str) -> String {
    let mut out = String::from("\"");
    for ch in value.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ch if u32::from(ch) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(ch));
            }
            ch => out.push(ch),
        }
    }
    out.push('"');
    out
}

/// Reads a side's results: a flat JSON object of numbers and nulls.
fn read_results(path: &Path) -> Result<Results, String> {
    let text =
        fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    parse_flat_json(&text).map_err(|err| format!("{}: {err}", path.display()))
}

/// Parses `{"key": number | null, ...}`, the only shape the two bench sides write.
fn parse_flat_json(text: &str) -> Result<Results, String> {
    let mut rest = text.trim();
    rest = rest.strip_prefix('{').ok_or("expected `{`")?;
    rest = rest.strip_suffix('}').ok_or("expected `}` at the end")?;
    let mut results = Results::new();
    if rest.trim().is_empty() {
        return Ok(results);
    }
    // Keys are plain identifiers and values are numbers or null, so no comma is quoted.
    for entry in rest.split(',') {
        let (key, value) = entry
            .split_once(':')
            .ok_or_else(|| format!("expected `:` in `{}`", entry.trim()))?;
        let key = key.trim();
        let key = key
            .strip_prefix('"')
            .and_then(|key| key.strip_suffix('"'))
            .filter(|key| {
                key.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            })
            .ok_or_else(|| format!("bad key `{key}`"))?;
        let value = match value.trim() {
            "null" => None,
            number => Some(
                number
                    .parse::<f64>()
                    .map_err(|_| format!("bad value `{number}` for `{key}`"))?,
            ),
        };
        results.insert(key.to_owned(), value);
    }
    Ok(results)
}

fn remove_stale(path: &Path) -> Result<(), String> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(format!("cannot remove {}: {err}", path.display())),
    }
}

/// Creates `target/bench-venv` with the bench requirements; returns its interpreter.
fn ensure_bench_venv() -> Result<PathBuf, String> {
    let requirements = project_root()
        .join("xtask")
        .join("bench")
        .join("requirements.txt");
    ensure_venv("bench-venv", &requirements)
}

/// When and where the bench ran, and with what.
fn meta(python: &Path, quick: bool, runs: usize) -> Vec<(&'static str, String)> {
    let versions = output(cmd(python).args([
        "-c",
        "import importlib.metadata as m, platform\n\
         print(platform.python_version(), m.version('ipykernel'), m.version('jupyter_client'))",
    ]));
    let mut versions = versions.split_whitespace().map(str::to_owned);
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    vec![
        (
            "date",
            output(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])),
        ),
        (
            "machine",
            format!(
                "{cpu}, {cores} cores, {}",
                output(Command::new("uname").arg("-sr"))
            ),
        ),
        ("python", versions.next().unwrap_or_default()),
        ("ipykernel", versions.next().unwrap_or_default()),
        ("jupyter_client", versions.next().unwrap_or_default()),
        (
            "mode",
            if quick {
                "quick (smoke test, not the benchmark)"
            } else {
                "full"
            }
            .to_owned(),
        ),
        ("runs", runs.to_string()),
    ]
}

/// A command's trimmed stdout, or an empty string when it fails (meta is best effort).
fn output(command: &mut Command) -> String {
    match command.output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::bench::{Flags, Report, parse_flat_json};

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    /// Renders both sides parsed from their JSON as the table and the report.
    fn check(pykernel: &str, jupyter: &str, expect_table: &str, expect_json: &str) {
        let report = Report::new(
            parse_flat_json(pykernel).expect("test input is valid"),
            parse_flat_json(jupyter).expect("test input is valid"),
        );
        assert_eq!(report.table(), expect_table);
        let meta = [
            ("date", "2026-01-01".to_owned()),
            ("machine", "a \"b\"".to_owned()),
        ];
        assert_eq!(report.json(&meta), expect_json);
    }

    #[test]
    fn flags() {
        assert_eq!(
            Flags::parse(&args(&[])),
            Ok(Flags {
                quick: false,
                pykernel: true,
                jupyter: true,
                runs: 1,
                launchers_only: false,
            })
        );
        assert_eq!(
            Flags::parse(&args(&["--quick", "--no-jupyter", "--runs", "3"])),
            Ok(Flags {
                quick: true,
                pykernel: true,
                jupyter: false,
                runs: 3,
                launchers_only: false,
            })
        );
        assert_eq!(
            Flags::parse(&args(&["--launchers"])),
            Ok(Flags {
                quick: false,
                pykernel: true,
                jupyter: false,
                runs: 1,
                launchers_only: true,
            })
        );
        let err = Flags::parse(&args(&["--fast"])).expect_err("unknown flag");
        assert!(err.starts_with("unknown bench flag `--fast`"), "{err}");
        for bad in [&["--runs"][..], &["--runs", "0"], &["--runs", "x"]] {
            let err = Flags::parse(&args(bad)).expect_err("bad count");
            assert!(
                err.starts_with("--runs needs a count of 1 or more"),
                "{err}"
            );
        }
    }

    #[test]
    fn flat_json() {
        let results = parse_flat_json("{\n  \"a_ms\": 1.5,\n  \"b\": null, \"c\": -2e-3\n}\n")
            .expect("valid");
        assert_eq!(
            format!("{results:?}"),
            r#"{"a_ms": Some(1.5), "b": None, "c": Some(-0.002)}"#
        );
        assert_eq!(parse_flat_json("{}"), Ok(Default::default()));
        assert_eq!(parse_flat_json("[1]"), Err("expected `{`".to_owned()));
        assert_eq!(
            parse_flat_json("{\"a\": x}"),
            Err("bad value `x` for `a`".to_owned())
        );
        assert_eq!(
            parse_flat_json("{\"a,b\": 1}"),
            Err("expected `:` in `\"a`".to_owned())
        );
        assert_eq!(parse_flat_json("{a: 1}"), Err("bad key `a`".to_owned()));
    }

    #[test]
    fn table_and_report() {
        check(
            r#"{"cold_start_ms": 40, "warm_start_ms": 3.5, "rtt_median_ms": 0.15, "rtt_p99_ms": 0.4,
                "stdout_mb_per_s": 250, "interrupt_ms": 2, "rss_host_mb": 0.5, "rss_kernel_mb": 12,
                "cold_start_no_prelude_ms": 30, "extra_ms": 7}"#,
            r#"{"cold_start_ms": 550, "warm_start_ms": null, "rtt_median_ms": 5.5, "rtt_p99_ms": 9,
                "stdout_mb_per_s": 57, "interrupt_ms": 42, "rss_host_mb": 0.25, "rss_kernel_mb": 55}"#,
            "\
metric                           pykernel  jupyter  py/jup  target
cold start, ms (median)              40.0      550   0.073  < 80.0 met
  without the prelude, ms            30.0        -       -
warm start from pool, ms             3.50        -       -  < 2.00 MISSED
round trip 1+1, ms (median)         0.150     5.50   0.027  < 0.200 met
round trip 1+1, ms (p99)            0.400     9.00   0.044
stdout, MB/s                          250     57.0   4.386  >= 300 MISSED
interrupt, ms (median)               2.00     42.0   0.048  < 10.0 met
RSS per idle kernel, host, MB       0.500    0.250   2.000
RSS per idle kernel, kernel, MB      12.0     55.0   0.218
RSS per idle kernel, total, MB       12.5     55.2   0.226
extra_ms                             7.00        -       -
pykernel targets missed: warm_start_ms, stdout_mb_per_s",
            r#"{
  "cold_start_ms": {"pykernel": 40, "jupyter": 550},
  "cold_start_no_prelude_ms": {"pykernel": 30, "jupyter": null},
  "warm_start_ms": {"pykernel": 3.5, "jupyter": null},
  "rtt_median_ms": {"pykernel": 0.15, "jupyter": 5.5},
  "rtt_p99_ms": {"pykernel": 0.4, "jupyter": 9},
  "stdout_mb_per_s": {"pykernel": 250, "jupyter": 57},
  "interrupt_ms": {"pykernel": 2, "jupyter": 42},
  "rss_host_mb": {"pykernel": 0.5, "jupyter": 0.25},
  "rss_kernel_mb": {"pykernel": 12, "jupyter": 55},
  "rss_mb": {"pykernel": 12.5, "jupyter": 55.25},
  "extra_ms": {"pykernel": 7, "jupyter": null},
  "meta": {
    "date": "2026-01-01",
    "machine": "a \"b\""
  }
}
"#,
        );
    }

    #[test]
    fn several_runs_give_medians_ranges_and_every_value() {
        let run = |stdout: &str, rtt: &str| {
            parse_flat_json(&format!(
                r#"{{"stdout_mb_per_s": {stdout}, "rtt_median_ms": {rtt}}}"#
            ))
            .expect("test input is valid")
        };
        let report = Report::from_runs(
            vec![run("350", "0.15"), run("250", "0.25"), run("310", "null")],
            vec![run("50", "7"), run("60", "8"), run("55", "9")],
        );
        let table = report.table();
        let rows: Vec<&str> = table
            .lines()
            .filter(|line| {
                line.starts_with("metric")
                    || line.starts_with("stdout")
                    || line.starts_with("round trip 1+1, ms (median)")
            })
            .collect();
        assert_eq!(
            rows,
            [
                "metric                           pykernel  jupyter  py/jup  pykernel, 3 runs  target",
                "round trip 1+1, ms (median)         0.200     8.00   0.025       0.150-0.250  < 0.200 MISSED (in 1 of 2 runs)",
                "stdout, MB/s                          310     55.0   5.636           250-350  >= 300 met (in 2 of 3 runs)",
            ]
        );
        let json = report.json(&[("runs", "3".to_owned())]);
        assert!(
            json.contains(
                "\"stdout_mb_per_s\": {\"pykernel\": 310, \"jupyter\": 55, \
                 \"pykernel_runs\": [350, 250, 310], \"jupyter_runs\": [50, 60, 55]},"
            ),
            "{json}"
        );
        assert!(
            json.contains("\"pykernel_runs\": [0.15, 0.25, null]"),
            "{json}"
        );
    }

    #[test]
    fn launcher_rows_not_measured_say_why() {
        let mut report = Report::new(
            parse_flat_json(
                r#"{"launch_local_cold_start_ms": 150, "launch_sandbox_cold_start_ms": 160,
                    "launch_sandbox_cold_start_gap_ms": 9.5, "launch_ssh_cold_start_ms": null,
                    "launch_ssh_rtt_median_ms": null, "launch_env_rtt_gap_ms": 0.05}"#,
            )
            .expect("test input is valid"),
            Default::default(),
        );
        report.not_measured = [
            ("launch_ssh_cold_start_ms", "no OpenSSH"),
            ("launch_ssh_rtt_median_ms", "no OpenSSH"),
        ]
        .into_iter()
        .map(|(key, why)| (key.to_owned(), why.to_owned()))
        .collect();
        let table = report.table();
        let rows: Vec<&str> = table
            .lines()
            .skip_while(|line| !line.starts_with("launchers"))
            .filter(|line| !line.starts_with("notebook") && !line.starts_with("RSS"))
            .collect();
        assert_eq!(
            rows,
            [
                "launchers: cold start, local, ms              150        -       -",
                "  in the sandbox (bwrap), ms                  160        -       -",
                "    minus local, ms (paired median)          9.50        -       -  < 20.0 met",
                "  over ssh to localhost, ms          not measured        -       -",
                "    minus local, ms                         0.050        -       -  < 0.020 MISSED",
                "  over ssh to localhost, ms          not measured        -       -  < 0.500",
                "not measured: launch_ssh_cold_start_ms, launch_ssh_rtt_median_ms (no OpenSSH)",
                "pykernel targets missed: launch_env_rtt_gap_ms",
            ]
        );
        let json = report.json(&[]);
        assert!(
            json.contains(
                "  \"not_measured\": {\n    \"launch_ssh_cold_start_ms\": \"no OpenSSH\",\n    \
                 \"launch_ssh_rtt_median_ms\": \"no OpenSSH\"\n  },\n  \"meta\""
            ),
            "{json}"
        );
    }

    #[test]
    fn skipped_side_is_null() {
        let report = Report::new(Default::default(), Default::default());
        let json = report.json(&[]);
        assert!(
            json.contains("\"rss_mb\": {\"pykernel\": null, \"jupyter\": null}"),
            "{json}"
        );
        assert!(json.ends_with("\"meta\": {\n  }\n}\n"), "{json}");
    }
}

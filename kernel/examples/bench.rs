//! The pykernel side of `cargo xtask bench`: start, round trip, stdout throughput,
//! interrupt and memory of real kernels, measured like the Jupyter side
//! (`xtask/bench/jupyter_bench.py`). `xtask/src/bench.rs` documents what each number covers.
//!
//! ```text
//! cargo run --release -p pykernel --example bench -- --python PATH --json OUT [--quick]
//! ```
//!
//! Writes one flat JSON object of numbers (`null` where a number does not apply) to `OUT`.
//!
//! `--only launchers [--no-sandbox] [--ssh 'WORDS'] [--trials N]` measures the launcher
//! rows instead (see `bench/launchers.rs`); nothing else runs then.

use std::{
    fmt::Write as _,
    fs,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use pykernel::{
    Engine, ExecuteOptions, Kernel, KernelOptions, Output, SessionId, Sessions, SessionsOptions,
};

#[path = "bench/launchers.rs"]
mod launchers;

/// Gives up on any single wait after this long, so a broken kernel fails the bench
/// instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(60);
/// One printed line, newline included.
const LINE_BYTES: usize = 1024;

/// The size of the PNG the display measurement shows: 20 MB.
const PNG_BYTES: usize = 20_000_000;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The command line.
struct Args {
    python: PathBuf,
    json: PathBuf,
    quick: bool,
    /// Runs only this measurement (for profiling one of them).
    only: Option<String>,
    /// Launcher rows: whether to measure the sandbox.
    sandbox: bool,
    /// Launcher rows: the ssh command (words) reaching this machine, if any.
    ssh: Option<Vec<String>>,
    /// Launcher rows: cold starts per route, when not the default.
    trials: Option<usize>,
}

/// How much of each measurement to do.
struct Sizes {
    cold: usize,
    warm: usize,
    rtt: usize,
    stdout_bytes: usize,
    /// Stdout runs; the median is reported (one 50 MB run is the noisiest figure).
    stdout_runs: usize,
    interrupts: usize,
    memory: usize,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut python = None;
        let mut json = None;
        let mut quick = false;
        let mut only = None;
        let (mut sandbox, mut ssh, mut trials) = (true, None, None);
        let mut args = std::env::args_os().skip(1);
        while let Some(arg) = args.next() {
            match arg.to_str() {
                Some("--python") => python = args.next().map(PathBuf::from),
                Some("--json") => json = args.next().map(PathBuf::from),
                Some("--quick") => quick = true,
                Some("--only") => only = args.next().and_then(|name| name.into_string().ok()),
                Some("--no-sandbox") => sandbox = false,
                // Words separated by single spaces, as `cargo xtask bench` passes them.
                Some("--ssh") => {
                    ssh = args.next().and_then(|words| {
                        Some(words.to_str()?.split(' ').map(str::to_owned).collect())
                    });
                }
                Some("--trials") => {
                    trials = args.next().and_then(|count| count.to_str()?.parse().ok());
                }
                _ => {
                    return Err(format!(
                        "unexpected argument {arg:?}\nusage: bench --python PATH --json OUT [--quick] [--only NAME]"
                    ));
                }
            }
        }
        Ok(Self {
            python: python.ok_or("--python PATH is required")?,
            json: json.ok_or("--json OUT is required")?,
            quick,
            only,
            sandbox,
            ssh,
            trials,
        })
    }

    fn sizes(&self) -> Sizes {
        if self.quick {
            Sizes {
                cold: 2,
                warm: 2,
                rtt: 100,
                stdout_bytes: 2 * 1024 * 1024,
                stdout_runs: 1,
                interrupts: 2,
                memory: 2,
            }
        } else {
            Sizes {
                cold: 10,
                warm: 10,
                rtt: 1000,
                stdout_bytes: 50 * 1024 * 1024,
                stdout_runs: 3,
                interrupts: 5,
                memory: 10,
            }
        }
    }

    /// Whether the measurement `name` runs (all of them unless `--only` picked one).
    fn wants(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == name)
    }

    fn options(&self) -> KernelOptions {
        KernelOptions::new().with_python(&self.python)
    }
}

/// Results in report order.
#[derive(Default)]
struct Results(Vec<(&'static str, Option<f64>)>);

impl Results {
    /// Records a result and prints it to stderr, so a long run shows progress.
    fn push(&mut self, key: &'static str, value: Option<f64>) {
        match value {
            Some(value) => eprintln!("pykernel {key} = {value:.3}"),
            None => eprintln!("pykernel {key} = null"),
        }
        self.0.push((key, value));
    }

    fn to_json(&self) -> String {
        let mut out = String::from("{\n");
        for (index, (key, value)) in self.0.iter().enumerate() {
            let separator = if index + 1 == self.0.len() { "" } else { "," };
            let value = match value {
                Some(value) if value.is_finite() => format!("{value}"),
                _ => "null".to_owned(),
            };
            // Writing to a String cannot fail.
            let _ = writeln!(out, "  \"{key}\": {value}{separator}");
        }
        out.push_str("}\n");
        out
    }
}

async fn run() -> Result<(), String> {
    let args = Args::parse()?;
    let sizes = args.sizes();
    if args.only.as_deref() == Some("launchers") {
        let results = launchers::run(&args).await?;
        return fs::write(&args.json, results.to_json())
            .map_err(|err| format!("cannot write {}: {err}", args.json.display()));
    }
    let mut results = Results::default();

    // The first start pays one-time costs (runtime threads, page cache); not timed.
    let kernel = start(args.options()).await?;
    run_cell(&kernel, "pass").await?;
    kernel.shutdown().await;

    // Memory first, before the other measurements leave freed heap behind that new kernels
    // would reuse without growing the process.
    if args.wants("rss") {
        let (host, kernel_side) = idle_memory(&args, sizes.memory).await?;
        results.push("rss_host_mb", Some(host));
        results.push("rss_kernel_mb", Some(kernel_side));
    }
    if args.wants("cold_start") {
        let cold = cold_start(sizes.cold, args.options()).await?;
        results.push("cold_start_ms", Some(cold));
    }
    if args.wants("cold_start_ipython") {
        let options = args.options().with_engine(Engine::IPython);
        let cold = cold_start(sizes.cold, options).await?;
        results.push("cold_start_ipython_ms", Some(cold));
    }
    if args.wants("warm_start") {
        let warm = warm_start(&args, sizes.warm).await?;
        results.push("warm_start_ms", Some(warm.until_pass_ms));
        results.push("warm_handout_ms", Some(warm.handout_ms));
    }

    let kernel = start(args.options()).await?;
    if args.wants("rtt") {
        let rtt = round_trips(&kernel, sizes.rtt).await?;
        results.push("rtt_median_ms", Some(rtt.median_ms));
        results.push("rtt_p99_ms", Some(rtt.p99_ms));
        results.push("rtt_cpu_host_us", Some(rtt.cpu_us.0));
        results.push("rtt_cpu_kernel_us", Some(rtt.cpu_us.1));
    }
    if args.wants("stdout") {
        let (mut rates, mut host_cpu, mut kernel_cpu) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..sizes.stdout_runs {
            let throughput = stdout_throughput(&kernel, sizes.stdout_bytes).await?;
            rates.push(throughput.mb_per_s);
            host_cpu.push(throughput.cpu_ms_per_mb.0);
            kernel_cpu.push(throughput.cpu_ms_per_mb.1);
        }
        results.push("stdout_mb_per_s", Some(median(&mut rates)));
        results.push("stdout_cpu_host_ms_per_mb", Some(median(&mut host_cpu)));
        results.push("stdout_cpu_kernel_ms_per_mb", Some(median(&mut kernel_cpu)));
    }
    if args.wants("interrupt") {
        let latency = interrupt_latency(&kernel, sizes.interrupts).await?;
        results.push("interrupt_ms", Some(latency));
    }
    if args.wants("display_png") {
        let latency = display_png(&kernel, sizes.stdout_runs).await?;
        results.push("display_png_ms", Some(latency));
    }
    kernel.shutdown().await;

    // A detail beyond the compared set: the start without the prelude helpers.
    if args.wants("cold_start_no_prelude") {
        let cold = cold_start(sizes.cold, args.options().with_prelude(false)).await?;
        results.push("cold_start_no_prelude_ms", Some(cold));
    }

    fs::write(&args.json, results.to_json())
        .map_err(|err| format!("cannot write {}: {err}", args.json.display()))
}

async fn start(options: KernelOptions) -> Result<Kernel, String> {
    match tokio::time::timeout(TIMEOUT, Kernel::start(options)).await {
        Ok(Ok(kernel)) => Ok(kernel),
        Ok(Err(err)) => Err(format!("kernel start failed: {err}")),
        Err(_) => Err("kernel start timed out".to_owned()),
    }
}

/// Runs `code` to its end, handing every output to `on_output`; fails unless it is ok.
async fn run_cell_with(
    kernel: &Kernel,
    code: &str,
    mut on_output: impl FnMut(Output),
) -> Result<(), String> {
    let work = async {
        let mut execution = kernel.execute(code, ExecuteOptions::new());
        while let Some(output) = execution.next_output().await {
            on_output(output);
        }
        execution.outcome().await
    };
    let outcome = match tokio::time::timeout(TIMEOUT, work).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(err)) => return Err(format!("`{code}` failed: {err}")),
        Err(_) => return Err(format!("`{code}` timed out")),
    };
    if outcome.is_ok() {
        Ok(())
    } else {
        Err(format!("`{code}` did not succeed: {outcome:?}"))
    }
}

async fn run_cell(kernel: &Kernel, code: &str) -> Result<(), String> {
    run_cell_with(kernel, code, |_| ()).await
}

fn ms(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 0 {
        (samples[mid - 1] + samples[mid]) / 2.0
    } else {
        samples[mid]
    }
}

/// Nearest-rank percentile of sorted `samples` (0 < fraction <= 1).
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let rank = (sorted.len() as f64 * fraction).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Spawn until the first `pass` has run: `Kernel::start` with `options` then `pass` to its
/// outcome.
async fn cold_start(n: usize, options: KernelOptions) -> Result<f64, String> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let kernel = start(options.clone()).await?;
        run_cell(&kernel, "pass").await?;
        samples.push(ms(started.elapsed()));
        kernel.shutdown().await;
    }
    Ok(median(&mut samples))
}

/// What the warm starts measured (medians).
struct WarmStart {
    /// From asking [`Sessions::kernel`] for a new session until its first `pass` has run.
    until_pass_ms: f64,
    /// From asking until the pooled kernel is handed out.
    handout_ms: f64,
}

/// A new session's kernel from a pool of one, each trial after the pool refilled.
async fn warm_start(args: &Args, n: usize) -> Result<WarmStart, String> {
    let sessions = Sessions::new(SessionsOptions::new(args.options()).with_pool_size(1));
    let mut until_pass = Vec::with_capacity(n);
    let mut handout = Vec::with_capacity(n);
    for trial in 0..n {
        let refill_deadline = Instant::now() + TIMEOUT;
        while sessions.pooled() < 1 {
            if Instant::now() > refill_deadline {
                return Err("the pool did not refill".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let id = SessionId::new(format!("warm-{trial}"));
        let started = Instant::now();
        let kernel = match tokio::time::timeout(TIMEOUT, sessions.kernel(&id)).await {
            Ok(Ok(kernel)) => kernel,
            Ok(Err(err)) => return Err(format!("pool hand-out failed: {err}")),
            Err(_) => return Err("pool hand-out timed out".to_owned()),
        };
        handout.push(ms(started.elapsed()));
        run_cell(&kernel, "pass").await?;
        until_pass.push(ms(started.elapsed()));
        sessions.remove(&id).await;
    }
    sessions.shutdown_all().await;
    Ok(WarmStart {
        until_pass_ms: median(&mut until_pass),
        handout_ms: median(&mut handout),
    })
}

/// What the round trips measured.
struct RoundTrips {
    median_ms: f64,
    p99_ms: f64,
    /// CPU time per round trip, host process and kernel process.
    cpu_us: (f64, f64),
}

/// `1+1` from submission until the outcome, its result consumed.
async fn round_trips(kernel: &Kernel, n: usize) -> Result<RoundTrips, String> {
    for _ in 0..n.min(50) {
        run_cell(kernel, "1+1").await?;
    }
    let mut samples = Vec::with_capacity(n);
    let mut twos = 0;
    let cpu = CpuClock::start(kernel.info().pid)?;
    for _ in 0..n {
        let started = Instant::now();
        run_cell_with(kernel, "1+1", |output| {
            if let Output::Result { bundle, .. } = output {
                if bundle.get_str("text/plain") == Some("2") {
                    twos += 1;
                }
            }
        })
        .await?;
        samples.push(ms(started.elapsed()));
    }
    let (host_s, kernel_s) = cpu.elapsed()?;
    if twos != n {
        return Err(format!("`1+1` gave 2 only {twos} times out of {n}"));
    }
    let median_ms = median(&mut samples);
    Ok(RoundTrips {
        median_ms,
        p99_ms: percentile(&samples, 0.99),
        cpu_us: (host_s * 1e6 / n as f64, kernel_s * 1e6 / n as f64),
    })
}

/// What the stdout measurement found.
struct Throughput {
    mb_per_s: f64,
    /// CPU time per MB, host process and kernel process.
    cpu_ms_per_mb: (f64, f64),
}

/// `print` of `total_bytes` in 1 KiB lines: MB/s until the outcome, every byte received.
async fn stdout_throughput(kernel: &Kernel, total_bytes: usize) -> Result<Throughput, String> {
    let lines = total_bytes / LINE_BYTES;
    let code = format!(
        "line = 'x' * {}\nfor _ in range({lines}):\n    print(line)\n",
        LINE_BYTES - 1
    );
    let mut received = 0;
    let cpu = CpuClock::start(kernel.info().pid)?;
    let started = Instant::now();
    run_cell_with(kernel, &code, |output| {
        if let Output::Stdout(text) = output {
            received += text.len();
        }
    })
    .await?;
    let elapsed = started.elapsed();
    let (host_s, kernel_s) = cpu.elapsed()?;
    let expected = lines * LINE_BYTES;
    if received != expected {
        return Err(format!("stdout: got {received} of {expected} bytes"));
    }
    let mb = expected as f64 / 1e6;
    Ok(Throughput {
        mb_per_s: mb / elapsed.as_secs_f64(),
        cpu_ms_per_mb: (host_s * 1e3 / mb, kernel_s * 1e3 / mb),
    })
}

/// A 20 MB PNG shown with `display()`: ms from the request until the host has the whole
/// display (its base64 of the right length), median of `runs`.
async fn display_png(kernel: &Kernel, runs: usize) -> Result<f64, String> {
    let setup = format!(
        "import os\nclass _Png:\n    def _repr_png_(self):\n        return _png_data\n\
         _png_data = b'\\x89PNG\\r\\n\\x1a\\n' + os.urandom({})\n_png = _Png()",
        PNG_BYTES - 8
    );
    run_cell(kernel, &setup).await?;
    let want = PNG_BYTES.div_ceil(3) * 4;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut arrived = None;
        run_cell_with(kernel, "display(_png)", |output| {
            if let Output::Display { bundle, .. } = output
                && let Some(png) = bundle.get_str("image/png")
            {
                arrived = Some((started.elapsed(), png.trim_end().len()));
            }
        })
        .await?;
        match arrived {
            Some((elapsed, len)) if len == want => samples.push(ms(elapsed)),
            Some((_, len)) => return Err(format!("display: got {len} of {want} base64 bytes")),
            None => return Err("display: no image/png arrived".to_owned()),
        }
    }
    run_cell(kernel, "del _png, _png_data, _Png").await?;
    Ok(median(&mut samples))
}

/// `while True: pass` after a flushed marker; `interrupt()` until the outcome.
async fn interrupt_latency(kernel: &Kernel, trials: usize) -> Result<f64, String> {
    let code = "print('spinning', flush=True)\nwhile True:\n    pass\n";
    let mut samples = Vec::with_capacity(trials);
    for _ in 0..trials {
        let trial = async {
            let mut execution = kernel.execute(code, ExecuteOptions::new());
            loop {
                match execution.next_output().await {
                    Some(Output::Stdout(text)) if text.contains("spinning") => break,
                    Some(_) => {}
                    None => return Err("the spinning cell ended before its marker".to_owned()),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let started = Instant::now();
            kernel
                .interrupt()
                .map_err(|err| format!("interrupt failed: {err}"))?;
            while execution.next_output().await.is_some() {}
            let outcome = execution
                .outcome()
                .await
                .map_err(|err| format!("interrupted cell failed: {err}"))?;
            let elapsed = ms(started.elapsed());
            if !outcome.cancelled() || outcome.kernel_killed() {
                return Err(format!("interrupt ended with {outcome:?}"));
            }
            Ok(elapsed)
        };
        match tokio::time::timeout(TIMEOUT, trial).await {
            Ok(result) => samples.push(result?),
            Err(_) => return Err("interrupt trial timed out".to_owned()),
        }
    }
    Ok(median(&mut samples))
}

/// Host RSS growth per kernel, and each idle runner's own RSS, averaged over `n`.
async fn idle_memory(args: &Args, n: usize) -> Result<(f64, f64), String> {
    let before = vm_rss_mb("self")?;
    let mut kernels = Vec::with_capacity(n);
    for _ in 0..n {
        let kernel = start(args.options()).await?;
        run_cell(&kernel, "pass").await?;
        kernels.push(kernel);
    }
    // Let the kernels settle after their first cell, as the Jupyter side does.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = vm_rss_mb("self")?;
    let mut kernel_total = 0.0;
    for kernel in &kernels {
        kernel_total += vm_rss_mb(&kernel.info().pid.to_string())?;
    }
    for kernel in &kernels {
        kernel.shutdown().await;
    }
    Ok(((after - before) / n as f64, kernel_total / n as f64))
}

/// VmRSS of a process in MB (10^6 bytes), from `/proc/<pid>/status`.
fn vm_rss_mb(pid: &str) -> Result<f64, String> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .ok_or_else(|| format!("no VmRSS in {path}"))?;
    Ok(kib * 1024.0 / 1e6)
}

/// CPU time (user + system, all threads) of this process and of a kernel process.
struct CpuClock {
    kernel_pid: String,
    host_s: f64,
    kernel_s: f64,
}

impl CpuClock {
    fn start(kernel_pid: u32) -> Result<Self, String> {
        let kernel_pid = kernel_pid.to_string();
        Ok(Self {
            host_s: cpu_seconds("self")?,
            kernel_s: cpu_seconds(&kernel_pid)?,
            kernel_pid,
        })
    }

    /// CPU seconds used since `start`: (host, kernel).
    fn elapsed(&self) -> Result<(f64, f64), String> {
        Ok((
            cpu_seconds("self")? - self.host_s,
            cpu_seconds(&self.kernel_pid)? - self.kernel_s,
        ))
    }
}

/// utime + stime of a process from `/proc/<pid>/stat`, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: &str) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
    // The command name may hold spaces and parentheses; the fields follow its last `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Fields 14 and 15 of the file (utime, stime) are the 12th and 13th after the name.
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
    };
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok((user + system) / 100.0),
        _ => Err(format!("unexpected {path}: {stat}")),
    }
}

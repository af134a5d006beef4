//! The kernel over a real Python, gated at runtime: each test returns at once unless
//! `PYKERNEL_TEST_PYTHON` names an interpreter (`cargo xtask test-python` sets it).
//!
//! Time bounds here only catch hangs; they are generous on purpose.

use std::{path::Path, time::Duration};

use futures::future::join_all;
use pykernel::{
    ExecuteOptions, Execution, Kernel, KernelError, KernelOptions, Outcome, Output, PythonSource,
};
use pykernel_runner::testing::test_python as python;
use pykernel_transport::ExitStatus;
use tokio::{sync::Mutex, time::timeout};

/// Tests that measure the host's memory or start many processes take turns.
static HEAVY: Mutex<()> = Mutex::const_new(());

/// A bound that only catches a hang.
const HANG: Duration = Duration::from_secs(30);

fn options(python: &Path, cwd: &Path) -> KernelOptions {
    KernelOptions::new()
        .with_python(python)
        .with_cwd(cwd)
        // The machine may be busy compiling; this only catches a start that hangs.
        .with_startup_timeout(Duration::from_secs(60))
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"))
}

async fn start(options: KernelOptions) -> Kernel {
    match timeout(HANG * 2, Kernel::start(options)).await {
        Ok(Ok(kernel)) => kernel,
        Ok(Err(err)) => panic!("start failed: {err}"),
        Err(_) => panic!("start hung"),
    }
}

async fn outcome(execution: Execution) -> Result<Outcome, KernelError> {
    match timeout(HANG, execution.outcome()).await {
        Ok(result) => result,
        Err(_) => panic!("the execution hung"),
    }
}

/// Runs `code` and returns its stdout, its result's `text/plain` and its outcome.
async fn run(kernel: &Kernel, code: &str) -> (String, String, Outcome) {
    let mut execution = kernel.execute(code, ExecuteOptions::new());
    let mut stdout = String::new();
    let mut result = String::new();
    while let Some(output) = timeout(HANG, execution.next_output()).await.ok().flatten() {
        match output {
            Output::Stdout(text) => stdout.push_str(&text),
            Output::Result { bundle, .. } => {
                result.push_str(bundle.get_str("text/plain").unwrap_or(""))
            }
            _ => {}
        }
    }
    match outcome(execution).await {
        Ok(outcome) => (stdout, result, outcome),
        Err(err) => panic!("{code:?} failed: {err}"),
    }
}

/// Waits until the running cell prints a line containing `marker`.
async fn wait_for_output(execution: &mut Execution, marker: &str) {
    let mut seen = String::new();
    while !seen.contains(marker) {
        match timeout(HANG, execution.next_output()).await {
            Ok(Some(Output::Stdout(text))) => seen.push_str(&text),
            Ok(Some(_)) => {}
            Ok(None) => panic!("the cell ended before printing {marker:?}; saw {seen:?}"),
            Err(_) => panic!("no {marker:?} within the bound; saw {seen:?}"),
        }
    }
}

/// Whether `pid` is a live process (a zombie counts as gone).
fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesized command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone.
async fn assert_gone(pid: u32, what: &str) {
    let deadline = tokio::time::Instant::now() + HANG;
    while is_running(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} (pid {pid}) is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the test `name` alone in a child process of this test binary and checks that it
/// passed; returns `false` in that child, which then runs the test body. Used where
/// the process's memory is measured, so other tests (and the debug info a failing test
/// loads for its backtrace) do not count.
async fn run_isolated(name: &str) -> bool {
    const ISOLATED: &str = "PYKERNEL_TEST_ISOLATED";
    if std::env::var_os(ISOLATED).is_some() {
        return false;
    }
    let _heavy = HEAVY.lock().await;
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("current_exe: {err}"));
    let child = tokio::process::Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ISOLATED, "1")
        .output();
    let output = timeout(HANG * 4, child)
        .await
        .unwrap_or_else(|_| panic!("the isolated test hung"))
        .unwrap_or_else(|err| panic!("running the isolated test: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "isolated {name} failed:\n{stdout}\n{stderr}"
    );
    true
}

/// The host process's resident memory, in bytes.
fn host_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

#[tokio::test]
async fn cells_share_a_namespace_and_report_their_interpreter() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let info = kernel.info().clone();
    assert_eq!(
        info.python.as_ref().map(|python| &python.source),
        Some(&PythonSource::Explicit)
    );
    assert!(info.python_version.starts_with('3'), "{info:?}");
    assert!(is_running(info.pid));
    let (_, _, first) = run(&kernel, "x = 41").await;
    assert!(first.is_ok());
    let (_, result, second) = run(&kernel, "x + 1").await;
    assert_eq!((result.as_str(), second.is_ok()), ("42", true));
    let (stdout, _, _) = run(&kernel, "import os; print(os.getcwd())").await;
    let expected = std::fs::canonicalize(cwd.path()).unwrap_or_else(|_| cwd.path().to_path_buf());
    assert_eq!(stdout.trim_end(), expected.display().to_string());
    let (_, _, failed) = run(&kernel, "raise ValueError('boom')").await;
    let error = failed.error.map(|error| (error.ename, error.evalue));
    assert_eq!(error, Some(("ValueError".to_owned(), "boom".to_owned())));
    let report = kernel.shutdown().await;
    assert!(report.confirmed(), "{report:?}");
    assert_gone(info.pid, "the runner").await;
}

#[tokio::test]
async fn stream_text_comes_as_raw_payloads_exactly() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    assert!(
        kernel
            .info()
            .features
            .iter()
            .any(|feature| feature == "stream_payloads"),
        "{:?}",
        kernel.info()
    );
    // Every character JSON would escape, across many frames, and a lone surrogate (which
    // still goes out as JSON); user code does not see the variable that asked for payloads.
    let code = "import os, sys\n\
        line = '%d \"q\" \\\\ \\t \\x1b[31m \\r\\n \\x00 \\u00e9 \\u2603\\n'\n\
        for i in range(5000):\n    sys.stdout.write(line % i)\n\
        print('bad \\udcff', 'PYKERNEL_STREAM_PAYLOADS' in os.environ)";
    let (stdout, _, outcome) = run(&kernel, code).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let mut expected: String = (0..5000)
        .map(|i| format!("{i} \"q\" \\ \t \u{1b}[31m \r\n \u{0} \u{e9} \u{2603}\n"))
        .collect();
    expected.push_str("bad \u{fffd} False\n");
    assert!(
        stdout == expected,
        "stdout differs at byte {:?}",
        stdout
            .bytes()
            .zip(expected.bytes())
            .position(|(a, b)| a != b)
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn env_magic_hides_what_the_hosts_filter_would_drop() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    // DB_DSN and MYPASSWORD look secret by the host's rule only (a word, a fragment).
    let code = "import os\n\
        os.environ.update(DB_DSN='d', MYPASSWORD='p', PLAIN_X='v')\n\
        envs = %env\n\
        [envs[n] for n in ('DB_DSN', 'MYPASSWORD', 'PLAIN_X')] + ['PYKERNEL_SECRET_RULE' in os.environ]";
    let (_, result, outcome) = run(&kernel, code).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(result, "['<hidden>', '<hidden>', 'v', False]");
    kernel.shutdown().await;
}

#[tokio::test]
async fn output_streams_before_the_cell_ends() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let flag = cwd.path().join("go");
    // The cell waits for a file the test creates only after it saw the first line, so
    // the test hangs (and fails on the bound) if output were held until the end.
    let code = format!(
        "import os, time\nprint('first', flush=True)\n\
         for _ in range(2000):\n    if os.path.exists({flag:?}):\n        break\n    time.sleep(0.01)\n\
         print('second')",
        flag = flag.display().to_string()
    );
    let mut execution = kernel.execute(code, ExecuteOptions::new());
    wait_for_output(&mut execution, "first").await;
    std::fs::write(&flag, "").unwrap_or_else(|err| panic!("write flag: {err}"));
    wait_for_output(&mut execution, "second").await;
    let outcome = outcome(execution).await;
    assert!(outcome.is_ok_and(|outcome| outcome.is_ok()));
    kernel.shutdown().await;
}

#[tokio::test]
async fn a_busy_loop_is_interrupted_and_the_kernel_stays_usable() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let mut execution = kernel.execute(
        "print('looping', flush=True)\nwhile True: pass",
        ExecuteOptions::new(),
    );
    wait_for_output(&mut execution, "looping").await;
    assert!(kernel.interrupt().is_ok());
    let interrupted = outcome(execution)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        interrupted.cancelled() && !interrupted.kernel_killed(),
        "{interrupted:?}"
    );
    assert_eq!(
        interrupted.error.map(|error| error.ename).as_deref(),
        Some("KeyboardInterrupt")
    );
    let (stdout, _, after) = run(&kernel, "print('alive')").await;
    assert_eq!((stdout.as_str(), after.is_ok()), ("alive\n", true));
    kernel.shutdown().await;
}

#[tokio::test]
async fn a_cell_timeout_interrupts_it() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let options = ExecuteOptions::new().with_timeout(Duration::from_millis(500));
    let timed_out = outcome(kernel.execute("import time\ntime.sleep(60)", options))
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        timed_out.timed_out() && timed_out.cancelled() && !timed_out.kernel_killed(),
        "{timed_out:?}"
    );
    assert!(kernel.is_alive());
    let (stdout, _, _) = run(&kernel, "print('still here')").await;
    assert_eq!(stdout, "still here\n");
    kernel.shutdown().await;
}

#[tokio::test]
async fn an_ignored_interrupt_escalates_to_killing_the_kernel() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let options = options(&python, cwd.path()).with_interrupt_grace(Duration::from_secs(1));
    let kernel = start(options).await;
    let pid = kernel.info().pid;
    let code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n\
                print('ignoring', flush=True)\nwhile True: pass";
    let mut execution = kernel.execute(code, ExecuteOptions::new());
    wait_for_output(&mut execution, "ignoring").await;
    execution.cancel();
    let killed = outcome(execution)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(killed.kernel_killed() && killed.cancelled(), "{killed:?}");
    assert!(!kernel.is_alive());
    assert_gone(pid, "the runner").await;
    let later = kernel
        .execute("print(1)", ExecuteOptions::new())
        .outcome()
        .await;
    assert!(matches!(later, Err(KernelError::NotRunning)), "{later:?}");
}

#[tokio::test]
async fn a_runner_that_exits_mid_cell_reports_its_exit_code() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let dying = kernel.execute("import os\nos._exit(3)", ExecuteOptions::new());
    let queued = kernel.execute("print('never')", ExecuteOptions::new());
    let died = outcome(dying).await;
    let message = died.map(|_| ()).map_err(|err| err.to_string());
    assert!(
        message
            .as_ref()
            .is_err_and(|message| message.starts_with("kernel died (exit code 3)")),
        "{message:?}"
    );
    let queued = outcome(queued).await;
    assert!(
        matches!(queued, Err(KernelError::Died { .. })),
        "{queued:?}"
    );
    assert!(!kernel.is_alive());
    let report = kernel.shutdown().await;
    assert!(report.confirmed(), "{report:?}");
}

// Several threads, so the caller may run while the driver is still at work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_is_dead_before_anyone_hears_it_died() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    // The order was a race, lost about half the time: try it several times.
    for _ in 0..8 {
        let kernel = start(options(&python, cwd.path()).with_prelude(false)).await;
        let died = outcome(kernel.execute("import os\nos._exit(3)", ExecuteOptions::new())).await;
        assert!(matches!(died, Err(KernelError::Died { .. })), "{died:?}");
        assert!(!kernel.is_alive(), "alive after its death was heard");
    }
}

#[tokio::test]
async fn a_hundred_megabytes_of_output_stream_in_bounded_memory() {
    let Some(python) = python() else { return };
    if run_isolated("python::a_hundred_megabytes_of_output_stream_in_bounded_memory").await {
        return;
    }
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    const TOTAL: usize = 100 * 1024 * 1024;
    let code = format!(
        "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range({}):\n    sys.stdout.write(line)",
        TOTAL / 1024
    );
    let mut execution = kernel.execute(code, ExecuteOptions::new());
    let baseline = host_rss();
    let mut received = 0;
    let mut peak = baseline;
    let mut paused = false;
    while let Some(output) = timeout(HANG * 4, execution.next_output())
        .await
        .ok()
        .flatten()
    {
        if let Output::Stdout(text) = output {
            received += text.len();
        }
        if !paused && received > 0 {
            // A consumer that stops reading for a while: the runner must wait, not the
            // host's memory grow.
            paused = true;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        if received % (4 * 1024 * 1024) < 65536 {
            peak = peak.max(host_rss());
        }
    }
    peak = peak.max(host_rss());
    let outcome = outcome(execution)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(received, TOTAL);
    let growth = peak.saturating_sub(baseline);
    assert!(
        growth < 80 * 1024 * 1024,
        "host memory grew by {} MiB",
        growth / (1024 * 1024)
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn processes_started_by_user_code_are_gone_after_shutdown() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let (stdout, _, _) = run(
        &kernel,
        "import subprocess\np = subprocess.Popen(['sleep', '1000'])\nprint(p.pid)",
    )
    .await;
    let child: u32 = stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {stdout:?}"));
    assert!(is_running(child));
    let report = kernel.shutdown().await;
    assert!(report.confirmed(), "{report:?}");
    assert_gone(child, "the subprocess").await;
}

#[tokio::test]
async fn dropping_every_handle_kills_the_runner() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let pid = kernel.info().pid;
    let clone = kernel.clone();
    drop(kernel);
    assert!(is_running(pid), "a clone still holds the kernel");
    drop(clone);
    assert_gone(pid, "the runner").await;
}

#[tokio::test]
async fn twenty_kernels_start_and_stop_concurrently_without_leftovers() {
    let Some(python) = python() else { return };
    let _heavy = HEAVY.lock().await;
    let cwd = scratch();
    let starts = (0..20).map(|_| Kernel::start(options(&python, cwd.path())));
    let kernels: Vec<Kernel> = timeout(HANG * 4, join_all(starts))
        .await
        .unwrap_or_else(|_| panic!("starting 20 kernels hung"))
        .into_iter()
        .map(|result| result.unwrap_or_else(|err| panic!("start failed: {err}")))
        .collect();
    let pids: Vec<u32> = kernels.iter().map(|kernel| kernel.info().pid).collect();
    let runs = kernels
        .iter()
        .map(|kernel| run(kernel, "import math; math.factorial(50)"));
    for (_, result, outcome) in join_all(runs).await {
        assert!(
            outcome.is_ok()
                && result
                    .starts_with("3041409320171337804361260816606476884437764156896051200000000")
        );
    }
    let reports = timeout(HANG * 2, join_all(kernels.iter().map(Kernel::shutdown)))
        .await
        .unwrap_or_else(|_| panic!("shutting 20 kernels down hung"));
    assert!(
        reports.iter().all(|report| report.confirmed()),
        "{reports:?}"
    );
    for pid in pids {
        assert_gone(pid, "a runner").await;
    }
}

#[tokio::test]
async fn a_bad_interpreter_path_is_an_error_naming_it() {
    if python().is_none() {
        return;
    }
    let cwd = scratch();
    let missing = cwd.path().join("no-such-python");
    let error = Kernel::start(
        KernelOptions::new()
            .with_python(&missing)
            .with_cwd(cwd.path()),
    )
    .await
    .map(|_| ())
    .map_err(|err| err.to_string());
    let expected = format!(
        "python interpreter {} is not usable: no such file",
        missing.display()
    );
    assert_eq!(error, Err(expected));
    // An interpreter that exits before the handshake: its stderr is in the error.
    let fake = cwd.path().join("fake-python");
    std::fs::write(&fake, "#!/bin/sh\necho 'fake python refuses' >&2\nexit 7\n")
        .unwrap_or_else(|err| panic!("write: {err}"));
    set_executable(&fake);
    let error = Kernel::start(KernelOptions::new().with_python(&fake).with_cwd(cwd.path()))
        .await
        .map(|_| ())
        .map_err(|err| err.to_string());
    let message = error.err().unwrap_or_default();
    assert!(message.contains(&fake.display().to_string()), "{message}");
    assert!(
        message.contains("exit code 7") && message.contains("fake python refuses"),
        "{message}"
    );
    // An executable the OS cannot start: the spawn error names it.
    let broken = cwd.path().join("broken-python");
    std::fs::write(&broken, "#!/no/such/interpreter\n")
        .unwrap_or_else(|err| panic!("write: {err}"));
    set_executable(&broken);
    let error = Kernel::start(
        KernelOptions::new()
            .with_python(&broken)
            .with_cwd(cwd.path()),
    )
    .await
    .map(|_| ())
    .map_err(|err| err.to_string());
    let message = error.err().unwrap_or_default();
    assert!(
        message.starts_with(&format!("failed to spawn {}", broken.display())),
        "{message}"
    );
}

#[cfg(unix)]
fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|err| panic!("chmod: {err}"));
}

#[tokio::test]
async fn input_round_trips_when_allowed_and_is_flagged_otherwise() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let code = "name = input('name? ')\nprint('hello', name)";
    let mut execution = kernel.execute(code, ExecuteOptions::new().with_stdin(true));
    let request = timeout(HANG, execution.next_output()).await.ok().flatten();
    let expected = Output::InputRequest {
        prompt: "name? ".into(),
        password: false,
    };
    assert_eq!(request, Some(expected));
    assert!(execution.reply_input("Ada").is_ok());
    wait_for_output(&mut execution, "hello Ada").await;
    assert!(
        outcome(execution)
            .await
            .is_ok_and(|outcome| outcome.is_ok())
    );
    let refused = outcome(kernel.execute("input('name? ')", ExecuteOptions::new()))
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        refused.stdin_requested() && !refused.cancelled(),
        "{refused:?}"
    );
    // The end of input raises EOFError in the cell, as Python's own input() does.
    let code = "try:\n    input()\nexcept EOFError as exc:\n    print('eof:', exc)";
    let mut execution = kernel.execute(code, ExecuteOptions::new().with_stdin(true));
    let request = timeout(HANG, execution.next_output()).await.ok().flatten();
    assert!(
        matches!(request, Some(Output::InputRequest { .. })),
        "{request:?}"
    );
    assert!(execution.reply_input_eof().is_ok());
    wait_for_output(&mut execution, "eof: EOF when reading a line").await;
    assert!(
        outcome(execution)
            .await
            .is_ok_and(|outcome| outcome.is_ok())
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn python_calls_host_functions() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let add: pykernel::HostFunction = std::sync::Arc::new(|args: serde_json::Value| {
        let numbers: Vec<i64> = serde_json::from_value(args).map_err(|err| err.to_string())?;
        Ok(serde_json::json!(numbers.iter().sum::<i64>()))
    });
    let kernel = start(options(&python, cwd.path()).with_host_function("add", add)).await;
    let (stdout, _, called) = run(&kernel, "print(host_call('add', [1, 2, 39]))").await;
    assert_eq!((stdout.as_str(), called.is_ok()), ("42\n", true));
    let (_, _, unknown) = run(&kernel, "host_call('missing', {})").await;
    let error = unknown.error.map(|error| (error.ename, error.evalue));
    let expected = (
        "HostCallError".to_owned(),
        "no host function named \"missing\"".to_owned(),
    );
    assert_eq!(error, Some(expected));
    kernel.shutdown().await;
}

#[tokio::test]
async fn kill_takes_the_process_group_down_without_sigterm() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let pid = kernel.info().pid;
    let marker = cwd.path().join("terminated");
    // The cell would leave a mark if it got SIGTERM, and ignores SIGINT.
    let code = format!(
        "import signal, subprocess\n\
         signal.signal(signal.SIGINT, signal.SIG_IGN)\n\
         signal.signal(signal.SIGTERM, lambda *_: open({marker:?}, 'w').close())\n\
         child = subprocess.Popen(['sleep', '1000'])\n\
         print(child.pid, flush=True)\n\
         while True: pass",
        marker = marker.display().to_string()
    );
    let mut running = kernel.execute(code, ExecuteOptions::new());
    let queued = kernel.execute("print('never')", ExecuteOptions::new());
    let mut stdout = String::new();
    while !stdout.ends_with('\n') {
        match timeout(HANG, running.next_output()).await {
            Ok(Some(Output::Stdout(text))) => stdout.push_str(&text),
            Ok(Some(_)) => {}
            Ok(None) => panic!("the cell ended before printing its child's pid"),
            Err(_) => panic!("no pid within the bound"),
        }
    }
    let child: u32 = stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {stdout:?}"));
    let report = timeout(HANG, kernel.kill())
        .await
        .unwrap_or_else(|_| panic!("the kill hung"));
    assert!(report.confirmed(), "{report:?}");
    assert_eq!(report.status, Some(ExitStatus::Signal(9)));
    for (name, execution) in [("running", running), ("queued", queued)] {
        let ended = outcome(execution)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(
            ended.kernel_killed() && ended.cancelled(),
            "{name}: {ended:?}"
        );
    }
    assert_gone(pid, "the runner").await;
    assert_gone(child, "the subprocess").await;
    assert!(!marker.exists(), "the runner got SIGTERM");
    assert_eq!(kernel.shutdown().await, report);
}

/// Completes `code` with the cursor at its end, as `matches (start..end)`. A busy
/// machine may need longer than [`pykernel::COMPLETE_TIMEOUT`] for the first answer
/// (the runner imports what completion needs then), so a timeout is retried.
async fn complete(kernel: &Kernel, code: &str) -> String {
    let cursor = code.chars().count();
    for _ in 0..10 {
        match timeout(HANG, kernel.complete(code, cursor)).await {
            Ok(Ok(found)) => {
                return format!(
                    "{:?} ({}..{})",
                    found.matches, found.cursor_start, found.cursor_end
                );
            }
            Ok(Err(KernelError::CompletionTimeout)) => {}
            Ok(Err(err)) => panic!("completing {code:?} failed: {err}"),
            Err(_) => panic!("completing {code:?} hung"),
        }
    }
    panic!("completing {code:?} timed out ten times")
}

#[tokio::test]
async fn completes_names_attributes_modules_and_dict_keys() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    // Modules of the working directory's own, so the expected names do not depend on
    // what else the interpreter has installed.
    for file in ["pkz_widget.py", "pkz_wand/__init__.py"] {
        let path = cwd.path().join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|err| panic!("mkdir: {err}"));
        }
        std::fs::write(&path, "").unwrap_or_else(|err| panic!("write {file}: {err}"));
    }
    let kernel = start(options(&python, cwd.path())).await;
    assert!(
        kernel.info().features.iter().any(|f| f == "complete"),
        "{:?}",
        kernel.info()
    );
    let (_, _, setup) = run(
        &kernel,
        "import json\nx_long_name = 1\nconf = {'alpha': 1, 'alps': 2}\n\
         class P:\n    @property\n    def boom(self):\n        raise SystemExit('ran')\np = P()",
    )
    .await;
    assert!(setup.is_ok(), "{setup:?}");
    let mut out = String::new();
    for code in [
        "impo",
        "x_lo",
        "é = x_lo",
        "json.dum",
        "p.bo",
        "p.boom.",
        "import pkz_w",
        "from json import JSONDec",
        "conf['al",
        "%timei",
    ] {
        out.push_str(&format!("{code:?} -> {}\n", complete(&kernel, code).await));
    }
    insta::assert_snapshot!(out, @r#"
    "impo" -> ["import"] (0..4)
    "x_lo" -> ["x_long_name"] (0..4)
    "é = x_lo" -> ["x_long_name"] (4..8)
    "json.dum" -> ["dump", "dumps"] (5..8)
    "p.bo" -> ["boom"] (2..4)
    "p.boom." -> [] (7..7)
    "import pkz_w" -> ["pkz_wand", "pkz_widget"] (7..12)
    "from json import JSONDec" -> ["JSONDecodeError", "JSONDecoder"] (17..24)
    "conf['al" -> ["alpha", "alps"] (6..8)
    "%timei" -> ["%timeit"] (0..6)
    "#);
    kernel.shutdown().await;
}

#[tokio::test]
async fn the_working_directory_goes_on_sys_path_as_the_system_names_it() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    std::fs::create_dir(cwd.path().join("sub")).unwrap_or_else(|err| panic!("mkdir: {err}"));
    // `sub/..` and `./` name the scratch folder; imports must not see them spelled so.
    let roundabout = cwd.path().join("sub").join("..").join(".");
    let kernel = start(options(&python, &roundabout)).await;
    let (stdout, _, outcome) = run(
        &kernel,
        "import os, sys\nprint(sys.path[0] == os.getcwd(), '..' in sys.path[0], sys.path[0].endswith('.'))",
    )
    .await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(stdout, "True False False\n");
    kernel.shutdown().await;
}

#[tokio::test]
async fn completes_while_a_cell_runs() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let (_, _, setup) = run(&kernel, "x_long_name = 1").await;
    assert!(setup.is_ok(), "{setup:?}");
    let mut execution = kernel.execute(
        "import time\nprint('sleeping', flush=True)\ntime.sleep(60)",
        ExecuteOptions::new(),
    );
    wait_for_output(&mut execution, "sleeping").await;
    assert_eq!(complete(&kernel, "x_lo").await, r#"["x_long_name"] (0..4)"#);
    // A cell queued behind the running one does not hold completion up either.
    let queued = kernel.execute("y_queued = 2", ExecuteOptions::new());
    assert_eq!(complete(&kernel, "x_lo").await, r#"["x_long_name"] (0..4)"#);
    execution.cancel();
    let interrupted = outcome(execution)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(interrupted.cancelled(), "{interrupted:?}");
    assert!(outcome(queued).await.is_ok_and(|outcome| outcome.is_ok()));
    assert_eq!(complete(&kernel, "y_qu").await, r#"["y_queued"] (0..4)"#);
    kernel.shutdown().await;
}

/// The stderr tail of the kernel's death after `code` crashed it.
async fn crash_tail(code: &str) -> String {
    let python = python().unwrap_or_else(|| panic!("gated by the caller"));
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let died = outcome(kernel.execute(code, ExecuteOptions::new())).await;
    let Err(KernelError::Died {
        status,
        stderr_tail,
    }) = died
    else {
        panic!("the crash was not a death: {died:?}")
    };
    assert!(matches!(status, ExitStatus::Signal(11)), "{status:?}");
    let _ = kernel.shutdown().await;
    stderr_tail
}

#[tokio::test]
async fn a_crash_reports_the_python_traceback_of_the_crashing_cell() {
    if python().is_none() {
        return;
    }
    let crash = "import ctypes\ndef crash():\n    ctypes.string_at(0)\ncrash()";
    // The runner's own fault handler writes to its log.
    let tail = crash_tail(crash).await;
    assert!(
        tail.contains("Fatal Python error: Segmentation fault"),
        "{tail}"
    );
    assert!(tail.contains("line 3 in crash"), "{tail}");
    // A cell's own handler writes to fd 2, which the fd relay logs once the runner is gone.
    let tail = crash_tail(&format!(
        "import faulthandler, sys\nfaulthandler.enable(sys.stderr)\n{crash}"
    ))
    .await;
    assert!(
        tail.contains("Fatal Python error: Segmentation fault"),
        "{tail}"
    );
    assert!(tail.contains("line 5 in crash"), "{tail}");
}

#[tokio::test]
async fn what_a_thread_prints_after_its_cell_ended_is_unattached_output() {
    let Some(python) = python() else { return };
    let cwd = scratch();
    let kernel = start(options(&python, cwd.path())).await;
    let code = "import threading, time\n\
        def late():\n    time.sleep(0.2)\n    for i in range(20):\n        print(f'late-{i}')\n\
        threading.Thread(target=late).start()";
    let (stdout, _, outcome) = run(&kernel, code).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(stdout, "");
    let mut late = String::new();
    while late.matches("late-").count() < 20 {
        let outputs = timeout(HANG, kernel.unattached_output())
            .await
            .expect("late output arrives")
            .expect("the kernel is alive");
        for output in outputs {
            let Output::Stdout(text) = output.output else {
                panic!("unexpected late output {output:?}");
            };
            late.push_str(&text);
        }
    }
    let expected: String = (0..20).map(|i| format!("late-{i}\n")).collect();
    assert_eq!(late, expected);
    assert!(kernel.take_unattached_output().is_empty());
    kernel.shutdown().await;
}

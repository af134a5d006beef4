//! Kernels behind launchers, over a real Python, gated at runtime by
//! `PYKERNEL_TEST_PYTHON`.
//!
//! The launchers are real programs of this machine: the identity launcher `env`,
//! `unshare --pid --fork --mount-proc` (a PID namespace, as a container gives), and a
//! wrapper that relays stdio without forwarding signals, as `kubectl exec` and
//! `docker exec` do. Each test finds the far side's processes by a marker in their
//! environment, never by a pid the host was told.
//!
//! Time bounds here only catch hangs; they are generous on purpose.

use std::{path::Path, time::Duration};

use pykernel::{ExecuteOptions, Kernel, KernelOptions, Launcher, Outcome, Output, Stop};
use pykernel_runner::testing::{
    launchers::{marked, test_launchers},
    test_python as python,
};
use tokio::time::{sleep, timeout};

/// A bound that only catches a hang.
const HANG: Duration = Duration::from_secs(30);

/// The launchers every test runs over, by name.
fn launchers(python: &Path) -> Vec<(&'static str, Launcher)> {
    test_launchers(python)
        .into_iter()
        .map(|(name, words)| {
            let launcher = Launcher::new(words).unwrap_or_else(|err| panic!("launcher: {err}"));
            (name, launcher)
        })
        .collect()
}

/// Options that start `python` behind `launcher`, with `marker` in the environment of
/// every process on the far side.
fn options(python: &Path, launcher: Launcher, marker: &str) -> KernelOptions {
    KernelOptions::new()
        .with_python(python)
        .with_launcher(launcher)
        .with_env("PYK_LAUNCHER_TEST", marker)
        // The machine may be busy compiling; this only catches a start that hangs.
        .with_startup_timeout(Duration::from_secs(60))
}

async fn start(options: KernelOptions) -> Kernel {
    match timeout(HANG * 2, Kernel::start(options)).await {
        Ok(Ok(kernel)) => kernel,
        Ok(Err(err)) => panic!("start failed: {err}"),
        Err(_) => panic!("start hung"),
    }
}

/// Runs `code` and returns its stdout and its result's `text/plain`, then the outcome.
async fn run(kernel: &Kernel, code: &str) -> (String, Outcome) {
    let mut execution = kernel.execute(code, ExecuteOptions::new());
    let mut text = String::new();
    while let Some(output) = timeout(HANG, execution.next_output()).await.ok().flatten() {
        match output {
            Output::Stdout(chunk) => text.push_str(&chunk),
            Output::Result { bundle, .. } => {
                text.push_str(bundle.get_str("text/plain").unwrap_or(""))
            }
            _ => {}
        }
    }
    match timeout(HANG, execution.outcome()).await {
        Ok(Ok(outcome)) => (text, outcome),
        Ok(Err(err)) => panic!("{code:?} failed: {err}"),
        Err(_) => panic!("{code:?} hung"),
    }
}

/// A marker unique to one test run.
fn marker(test: &str) -> String {
    format!(
        "{test}-{}-{:?}",
        std::process::id(),
        std::time::Instant::now()
    )
}

/// Waits up to 2 s for every process holding `marker` to be gone.
async fn assert_all_gone(marker: &str, what: &str) {
    for _ in 0..20 {
        if marked(marker).is_empty() {
            return;
        }
        sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: still alive 2 s later: {:?}", marked(marker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_ships_the_runner_and_reports_its_hash() {
    let Some(python) = python() else { return };
    for (name, launcher) in launchers(&python) {
        let kernel = start(options(&python, launcher, &marker("hash"))).await;
        assert_eq!(
            kernel.info().runner_hash.as_deref(),
            Some(pykernel_runner::runner_hash()),
            "{name}"
        );
        let (_, outcome) = run(&kernel, "x = 20").await;
        assert!(outcome.is_ok(), "{name}: {outcome:?}");
        let (text, outcome) = run(&kernel, "x * 2 + 1 + 1").await;
        assert!(outcome.is_ok(), "{name}: {outcome:?}");
        assert_eq!(text, "42", "{name}");
        kernel.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_loop_is_interrupted_in_band() {
    let Some(python) = python() else { return };
    for (name, launcher) in launchers(&python) {
        let kernel = start(options(&python, launcher, &marker("interrupt"))).await;
        let mut execution = kernel.execute(
            "print('spinning', flush=True)\nwhile True: pass",
            ExecuteOptions::new(),
        );
        let mut seen = String::new();
        while !seen.contains("spinning") {
            match timeout(HANG, execution.next_output()).await {
                Ok(Some(Output::Stdout(text))) => seen.push_str(&text),
                Ok(Some(_)) => {}
                other => panic!("{name}: no output: {other:?}"),
            }
        }
        if let Err(err) = kernel.interrupt() {
            panic!("{name}: interrupt failed: {err}");
        }
        let outcome = match timeout(HANG, execution.outcome()).await {
            Ok(Ok(outcome)) => outcome,
            other => panic!("{name}: {other:?}"),
        };
        assert!(
            matches!(outcome.stop, Some(Stop::Interrupted(_))),
            "{name}: {outcome:?}"
        );
        let (text, _) = run(&kernel, "'still here'").await;
        assert_eq!(text, "'still here'", "{name}");
        kernel.shutdown().await;
    }
}

/// Starts a cell that leaves a child, a double-forked daemon in a session of its own and
/// a busy loop behind, and returns once all three run.
async fn start_leftovers(kernel: &Kernel, name: &str) -> pykernel::Execution {
    let code = "import os, subprocess, time\n\
                child = subprocess.Popen(['sleep', '300'])\n\
                os.system('setsid sleep 301 &')\n\
                time.sleep(0.2)\n\
                print('ready', flush=True)\n\
                while True: time.sleep(0.01)";
    let mut execution = kernel.execute(code, ExecuteOptions::new());
    let mut seen = String::new();
    while !seen.contains("ready") {
        match timeout(HANG, execution.next_output()).await {
            Ok(Some(Output::Stdout(text))) => seen.push_str(&text),
            Ok(Some(_)) => {}
            other => panic!("{name}: the cell did not get ready: {other:?}"),
        }
    }
    execution
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_cell_leaves_nothing_on_the_far_side() {
    let Some(python) = python() else { return };
    for (name, launcher) in launchers(&python) {
        let marker = marker("kill");
        let kernel = start(options(&python, launcher, &marker)).await;
        let execution = start_leftovers(&kernel, name).await;
        // The runner, its child and the daemon (and the launcher) carry the marker.
        assert!(marked(&marker).len() >= 3, "{name}: {:?}", marked(&marker));
        let report = timeout(HANG, kernel.kill()).await;
        assert!(
            report.is_ok_and(|report| report.confirmed()),
            "{name}: the kill was not confirmed"
        );
        let outcome = timeout(HANG, execution.outcome()).await;
        assert!(
            matches!(outcome, Ok(Err(_)) | Ok(Ok(_))),
            "{name}: {outcome:?}"
        );
        assert_all_gone(&marker, name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_cell_leaves_nothing_on_the_far_side() {
    let Some(python) = python() else { return };
    for (name, launcher) in launchers(&python) {
        let marker = marker("shutdown");
        let kernel = start(options(&python, launcher, &marker)).await;
        let _execution = start_leftovers(&kernel, name).await;
        let report = timeout(HANG, kernel.shutdown()).await;
        assert!(
            report.is_ok_and(|report| report.confirmed()),
            "{name}: the shutdown was not confirmed"
        );
        assert_all_gone(&marker, name).await;
    }
}

/// The local launcher process: the marked process whose parent is this test.
fn launcher_process(marker: &str) -> Option<u32> {
    let me = std::process::id();
    marked(marker).into_iter().map(|(pid, _)| pid).find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let (_, rest) = stat.rsplit_once(')')?;
                rest.split_whitespace().nth(1)?.parse::<u32>().ok()
            })
            == Some(me)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_link_is_declared_dead_within_the_keepalive_timeout() {
    let Some(python) = python() else { return };
    // Behind `unshare` the runner holds the host's pipes itself, so stopping the
    // launcher does not stop the link; the runner (`env`) or the relay (the wrapper) is
    // the link here.
    for (name, launcher) in launchers(&python)
        .into_iter()
        .filter(|(name, _)| *name != "unshare")
    {
        let marker = marker("keepalive");
        let keepalive = pykernel::Keepalive {
            interval: Duration::from_millis(200),
            timeout: Duration::from_secs(1),
        };
        let kernel =
            start(options(&python, launcher, &marker).with_keepalive(Some(keepalive))).await;
        let execution = kernel.execute("import time\ntime.sleep(300)", ExecuteOptions::new());
        let Some(pid) = launcher_process(&marker) else {
            panic!("{name}: no launcher process among {:?}", marked(&marker));
        };
        let stopped = std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status();
        assert!(stopped.is_ok_and(|status| status.success()), "{name}");
        let outcome = timeout(HANG, execution.outcome()).await;
        let Ok(Err(err)) = outcome else {
            panic!("{name}: the cell did not end with an error: {outcome:?}");
        };
        let message = err.to_string();
        assert!(message.contains("keepalive"), "{name}: {message}");
        assert!(!kernel.is_alive(), "{name}");
        assert_all_gone(&marker, name).await;
    }
}

/// The sandbox, or `None` (with the reason printed) when bubblewrap cannot work on this
/// machine: only when the kernel refuses its namespaces, or when it is missing outside
/// CI (`cargo xtask ci` installs it).
fn sandbox() -> Option<pykernel::Sandbox> {
    let sandbox = pykernel::Sandbox::new();
    match sandbox.check() {
        Ok(_) => Some(sandbox),
        Err(why @ pykernel::SandboxUnavailable::NoNamespaces(_)) => {
            eprintln!("skipping the sandbox test: {why}");
            None
        }
        Err(pykernel::SandboxUnavailable::Missing) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping the sandbox test: bwrap is not installed");
            None
        }
        Err(why) => panic!("the sandbox cannot run: {why}"),
    }
}

/// A working directory under the build's target directory, outside /tmp.
fn project_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap_or_else(|err| panic!("{err}"))
}

fn sandboxed(python: &Path, cwd: &Path, sandbox: pykernel::Sandbox, marker: &str) -> KernelOptions {
    KernelOptions::new()
        .with_python(python)
        .with_cwd(cwd)
        .with_sandbox(sandbox)
        .with_env("PYK_LAUNCHER_TEST", marker)
        .with_startup_timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_hides_every_other_process_and_the_hosts_environment() {
    let (Some(python), Some(sandbox)) = (python(), sandbox()) else {
        return;
    };
    // Cargo gives the test this variable, and the environment filter drops it.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let cwd = project_dir();
    let kernel = start(sandboxed(&python, cwd.path(), sandbox, &marker("env"))).await;
    let code = "import os\n\
                pids = [p for p in os.listdir('/proc') if p.isdigit()]\n\
                leaked = []\n\
                for pid in pids:\n\
                \x20   try:\n\
                \x20       data = open('/proc/%s/environ' % pid, 'rb').read()\n\
                \x20   except OSError:\n\
                \x20       continue\n\
                \x20   if b'CARGO_MANIFEST_DIR' in data:\n\
                \x20       leaked.append(pid)\n\
                print(len(pids) < 10, leaked, 'CARGO_MANIFEST_DIR' in os.environ, os.getppid() < 10)";
    let (text, outcome) = run(&kernel, code).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(text.trim(), "True [] False True");
    kernel.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_writes_only_its_working_directory_and_a_private_tmp() {
    let (Some(python), Some(sandbox)) = (python(), sandbox()) else {
        return;
    };
    let cwd = project_dir();
    let marker = marker("writes");
    let kernel = start(sandboxed(&python, cwd.path(), sandbox, &marker)).await;
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    let tmp_name = format!("/tmp/pyk-sandbox-{}", std::process::id());
    let code = format!(
        "import os, sys\n\
         def attempt(path):\n\
         \x20   try:\n\
         \x20       with open(path, 'w') as f:\n\
         \x20           f.write('x')\n\
         \x20       return 'ok'\n\
         \x20   except OSError as err:\n\
         \x20       return type(err).__name__\n\
         print(attempt('inside.txt'), attempt({tmp_name:?}), attempt({home:?} + '/pyk-escape'), \
         attempt('/etc/pyk-escape'), attempt(os.path.dirname(sys.executable) + '/pyk-escape'))"
    );
    let (text, outcome) = run(&kernel, &code).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    insta::assert_snapshot!(text.trim(), @"ok ok OSError OSError OSError");
    kernel.shutdown().await;
    assert!(cwd.path().join("inside.txt").is_file());
    // The sandbox's /tmp was its own.
    assert!(!Path::new(&tmp_name).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setsid_daemon_dies_with_the_sandbox() {
    let (Some(python), Some(sandbox)) = (python(), sandbox()) else {
        return;
    };
    let cwd = project_dir();
    let marker = marker("sandbox-daemon");
    let kernel = start(sandboxed(&python, cwd.path(), sandbox, &marker)).await;
    let execution = start_leftovers(&kernel, "sandbox").await;
    assert!(marked(&marker).len() >= 3, "{:?}", marked(&marker));
    let report = timeout(HANG, kernel.kill()).await;
    assert!(report.is_ok_and(|report| report.confirmed()));
    let _ = timeout(HANG, execution.outcome()).await;
    assert_all_gone(&marker, "sandbox").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_network_the_sandbox_reaches_no_host_port() {
    let (Some(python), Some(sandbox)) = (python(), sandbox()) else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0");
    let Ok(port) = listener
        .as_ref()
        .map(|listener| listener.local_addr().map(|addr| addr.port()))
    else {
        panic!("cannot listen on loopback");
    };
    let port = port.unwrap_or_else(|err| panic!("{err}"));
    let code = format!(
        "import socket\n\
         try:\n\
         \x20   socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n\
         \x20   print('connected')\n\
         except OSError as err:\n\
         \x20   print('refused')"
    );
    let cwd = project_dir();
    for (network, expected) in [(true, "connected"), (false, "refused")] {
        let options = sandboxed(
            &python,
            cwd.path(),
            sandbox.clone().with_network(network),
            "net",
        );
        let kernel = start(options).await;
        let (text, _) = run(&kernel, &code).await;
        assert_eq!(text.trim(), expected, "network: {network}");
        kernel.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_is_placed_by_its_name() {
    let Some(python) = python() else { return };
    // `env NAME=VALUE` stands in for `kubectl run ... pyk-{session}`: the name reaches
    // the far side.
    let launcher = Launcher::new(vec![
        "env".to_owned(),
        "PYK_PLACED=pyk-{session}".to_owned(),
    ])
    .unwrap_or_else(|err| panic!("{err}"));
    let options = options(&python, launcher, &marker("placed"));
    let sessions =
        pykernel::Sessions::new(pykernel::SessionsOptions::new(options).with_pool_size(1));
    let mut placed = Vec::new();
    for name in ["Data Sci/1", "chat-42"] {
        let kernel = match timeout(HANG * 2, sessions.kernel(&pykernel::SessionId::new(name))).await
        {
            Ok(Ok(kernel)) => kernel,
            other => panic!("{name}: {other:?}"),
        };
        let (text, _) = run(&kernel, "import os; os.environ['PYK_PLACED']").await;
        placed.push(text);
    }
    insta::assert_snapshot!(placed.join("\n"), @r"
    'pyk-data-sci-1'
    'pyk-chat-42'
    ");
    sessions.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runners_settings_cross_a_launcher_that_carries_no_environment() {
    let Some(python) = python() else { return };
    // `env -i` clears the environment as ssh does: the runner's own settings (here stream
    // payloads and the engine) arrive only if the bootstrap carries them.
    let ipython = std::process::Command::new(&python)
        .args(["-c", "import IPython"])
        .status()
        .is_ok_and(|status| status.success());
    let launcher = Launcher::new(vec!["env".into(), "-i".into()])
        .unwrap_or_else(|err| panic!("launcher: {err}"));
    let mut options = options(&python, launcher, &marker("settings"));
    let engine = if ipython {
        pykernel::Engine::IPython
    } else {
        println!(
            "IPython is not importable by {}: checking the light engine",
            python.display()
        );
        pykernel::Engine::Light
    };
    options = options.with_engine(engine);
    let kernel = start(options).await;
    let features = &kernel.info().features;
    assert!(
        features.iter().any(|f| f == "stream_payloads"),
        "{features:?}"
    );
    assert!(
        features.iter().any(|f| *f == engine.feature()),
        "{features:?}"
    );
    let (text, outcome) = run(&kernel, "6 * 7").await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(text, "42");
    kernel.shutdown().await;
}

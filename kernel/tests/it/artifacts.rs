//! Saved outputs read back from Python through the `output` host function, and a cell's
//! timeout held while a host call is in progress: over the memory transport with a fake
//! runner (paused time), and over a real Python (gated by `PYKERNEL_TEST_PYTHON`).

use std::{
    sync::{Arc, mpsc},
    time::Duration,
};

use pykernel::{Artifacts, ExecuteOptions, Kernel, KernelOptions, Outcome, Output};
use pykernel_transport::{FakeRunner, MemoryTransport, Script};
use serde_json::Value;
use tokio::time;

/// A kernel over a fake runner whose cells are one host call, `call NAME JSON`, or
/// `sleep` (a minute).
async fn fake_kernel(options: KernelOptions) -> Kernel {
    let (transport, handle) = MemoryTransport::pair();
    // The runner's task ends with its transport; nothing waits for it.
    let _runner = FakeRunner::new(handle)
        .on_execute(|execute| {
            if execute.code == "sleep" {
                return Script::new().sleep(Duration::from_secs(60));
            }
            // Anything else without a call (the init cell) just succeeds.
            let Some(call) = execute.code.strip_prefix("call ") else {
                return Script::new();
            };
            let (name, args) = call.split_once(' ').unwrap_or((call, "null"));
            Script::new().call(name, serde_json::from_str(args).unwrap_or(Value::Null))
        })
        .spawn();
    let options = options.with_cwd("/pyk-test").with_prelude(false);
    match Kernel::start_with_transport(Box::new(transport), options).await {
        Ok(kernel) => kernel,
        Err(err) => panic!("start failed: {err}"),
    }
}

/// Runs `code` and renders its stdout, its exceptions and how it ended.
async fn check(kernel: &Kernel, code: &str, options: ExecuteOptions) -> String {
    let mut execution = kernel.execute(code, options);
    let mut rendered = String::new();
    while let Some(output) = execution.next_output().await {
        match output {
            Output::Stdout(text) => rendered.push_str(&text),
            Output::Error(error) => {
                rendered.push_str(&format!("{}: {}\n", error.ename, error.evalue));
            }
            _ => {}
        }
    }
    rendered + &render_outcome(execution.outcome().await)
}

fn render_outcome(result: Result<Outcome, pykernel::KernelError>) -> String {
    match result {
        Ok(outcome) if outcome.is_ok() => "=> ok\n".to_owned(),
        Ok(outcome) => format!(
            "=> error timed_out={} cancelled={}\n",
            outcome.timed_out(),
            outcome.cancelled()
        ),
        Err(err) => format!("=> Err({err})\n"),
    }
}

#[tokio::test(start_paused = true)]
async fn output_reads_a_saved_artifact_back_over_the_memory_transport() {
    let store = Arc::new(Artifacts::create_private().expect("a private directory"));
    let saved = store
        .save("first line\nsecond line\nthird line\n")
        .expect("saved");
    assert_eq!(saved.id.as_str(), "out-1");
    let kernel = fake_kernel(KernelOptions::new().with_artifacts(Arc::clone(&store))).await;
    let mut transcript = String::new();
    for code in [
        r#"call output {"id": "out-1", "query": null, "offset": 1, "limit": 1, "format": "text"}"#,
        r#"call output {"id": "out-1", "query": "line", "offset": 0, "limit": null, "format": "json"}"#,
        r#"call output {"id": "out-7", "query": null, "offset": 0, "limit": null, "format": "text"}"#,
    ] {
        transcript += &check(&kernel, code, ExecuteOptions::new()).await;
    }
    let dir = store.dir().display().to_string();
    insta::assert_snapshot!(transcript.replace(&dir, "<dir>"), @r#"
    "second line\n"
    => ok
    {"char_count":34,"content":"first line\nsecond line\nthird line\n","id":"out-1","line_count":3,"path":"<dir>/out-1.txt","query":"line"}
    => ok
    HostCallError: no output named "out-7"; saved outputs: out-1
    => error timed_out=false cancelled=false
    "#);
    kernel.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_host_call_slower_than_the_timeout_does_not_time_the_cell_out() {
    // The host function blocks until the test lets it go, long after the cell's timeout.
    let (release, released) = mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let slow: pykernel::HostFunction = Arc::new(move |_| {
        let released = released.lock().map_err(|err| err.to_string())?;
        released.recv().map_err(|err| err.to_string())?;
        Ok(Value::from("slow answer"))
    });
    let kernel = fake_kernel(KernelOptions::new().with_host_function("slow", slow)).await;
    let timeout = ExecuteOptions::new().with_timeout(Duration::from_secs(1));
    let cell = tokio::spawn({
        let kernel = kernel.clone();
        let timeout = timeout.clone();
        async move { check(&kernel, "call slow null", timeout).await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    time::advance(Duration::from_secs(10)).await;
    release.send(()).expect("the host function waits");
    let slow_cell = cell.await.expect("the cell task");
    // Without a host call the same timeout does fire: the pause is what kept the cell.
    let plain = check(&kernel, "sleep", timeout).await;
    insta::assert_snapshot!(slow_cell + &plain, @r#"
    "slow answer"
    => ok
    KeyboardInterrupt: 
    => error timed_out=true cancelled=true
    "#);
    kernel.shutdown().await;
}

#[cfg(target_os = "linux")]
mod python {
    use std::{sync::Arc, time::Duration};

    use pykernel::{Artifacts, ExecuteOptions, Kernel, KernelOptions};
    use pykernel_runner::testing::test_python;
    use serde_json::Value;
    use tokio::time::timeout;

    /// A bound that only catches a hang.
    const HANG: Duration = Duration::from_secs(60);

    async fn start(options: KernelOptions) -> (Kernel, tempfile::TempDir) {
        let Some(python) = test_python() else {
            panic!("gated by the caller");
        };
        let cwd = tempfile::tempdir().expect("a scratch directory");
        let options = options
            .with_python(python)
            .with_cwd(cwd.path())
            .with_startup_timeout(HANG);
        match timeout(HANG, Kernel::start(options)).await {
            Ok(Ok(kernel)) => (kernel, cwd),
            Ok(Err(err)) => panic!("start failed: {err}"),
            Err(_) => panic!("start hung"),
        }
    }

    async fn run(kernel: &Kernel, code: &str, options: ExecuteOptions) -> String {
        match timeout(HANG, super::check(kernel, code, options)).await {
            Ok(rendered) => rendered,
            Err(_) => panic!("{code:?} hung"),
        }
    }

    #[tokio::test]
    async fn output_reads_a_saved_artifact_back_over_a_real_python() {
        if test_python().is_none() {
            return;
        }
        let store = Arc::new(Artifacts::create_private().expect("a private directory"));
        let whole: String = (1..=500).map(|n| format!("row {n}\n")).collect();
        let saved = store.save(&whole).expect("saved");
        let (kernel, _cwd) = start(KernelOptions::new().with_artifacts(Arc::clone(&store))).await;
        let code = format!(
            "import os\n\
             print(os.environ.get('PYKERNEL_HOST_FUNCTIONS'))\n\
             page = host_call('output', {{'id': {id:?}, 'query': None, 'offset': 10, 'limit': 2, 'format': 'text'}})\n\
             print(repr(page))\n\
             info = host_call('output', {{'id': {id:?}, 'query': 'row 49', 'offset': 0, 'limit': None, 'format': 'json'}})\n\
             print(info['line_count'], info['char_count'], repr(info['content']))\n\
             try:\n\
             \x20   host_call('output', {{'id': 'out-99'}})\n\
             except HostCallError as err:\n\
             \x20   print('error:', err)\n",
            id = saved.id.as_str()
        );
        let rendered = run(&kernel, &code, ExecuteOptions::new()).await;
        insta::assert_snapshot!(rendered, @r#"
        output
        'row 11\nrow 12\n'
        500 3892 'row 49\nrow 490\nrow 491\nrow 492\nrow 493\nrow 494\nrow 495\nrow 496\nrow 497\nrow 498\nrow 499\n'
        error: no output named "out-99"; saved outputs: out-1
        => ok
        "#);
        kernel.shutdown().await;
    }

    #[tokio::test]
    async fn a_host_function_slower_than_the_timeout_does_not_time_the_cell_out() {
        if test_python().is_none() {
            return;
        }
        let slow: pykernel::HostFunction = Arc::new(|_| {
            std::thread::sleep(Duration::from_millis(2500));
            Ok(Value::from("done waiting"))
        });
        let (kernel, _cwd) = start(KernelOptions::new().with_host_function("slow", slow)).await;
        let timeout_1s = ExecuteOptions::new().with_timeout(Duration::from_secs(1));
        let slow_cell = run(&kernel, "print(host_call('slow'))", timeout_1s.clone()).await;
        // The same timeout fires on a cell that sleeps in Python instead.
        let sleeping = run(&kernel, "import time; time.sleep(30)", timeout_1s).await;
        insta::assert_snapshot!(slow_cell + &sleeping, @r#"
        done waiting
        => ok
        KeyboardInterrupt: 
        => error timed_out=true cancelled=true
        "#);
        kernel.shutdown().await;
    }
}

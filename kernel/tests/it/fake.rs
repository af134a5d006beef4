//! The kernel's behaviour over a [`MemoryTransport`] and a [`FakeRunner`], in paused time.
//!
//! Cells are written in a tiny language that [`script_for`] turns into the fake runner's
//! script: `print TEXT`, `sleep SECS`, `wait` (until interrupted), `flood N` (N lines,
//! then wait), `stubborn` (ignores
//! interrupts), `unkillable` (ignores interrupts and SIGTERM), `raise`, `die`, `input`,
//! `call NAME JSON`, `noise` (malformed and stray lines, then output); anything else
//! just succeeds.

use std::{
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use pykernel::{
    ExecuteOptions, Execution, Kernel, KernelError, KernelOptions, Output, ShutdownReport,
};
use pykernel_protocol::{CommMsg, CommOpen, Event, ExecId, Execute, Hello, Request, StreamData};
use pykernel_transport::{
    ExitStatus, FakeRunner, MemoryTransport, RunnerLog, Script, Signal, Step,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// A started kernel over a fake runner.
struct Fake {
    kernel: Kernel,
    log: RunnerLog,
    runner: JoinHandle<ExitStatus>,
}

/// Options every test starts from: a fixed working directory, no prelude, the default graces.
fn options() -> KernelOptions {
    KernelOptions::new()
        .with_cwd("/pyk-test")
        .with_prelude(false)
}

async fn start(options: KernelOptions) -> Fake {
    match try_start(FakeRunner::new, options).await {
        (Ok(kernel), log, runner) => Fake {
            kernel,
            log,
            runner,
        },
        (Err(err), ..) => panic!("start failed: {err}"),
    }
}

/// Starts over a fake runner built by `build` (which may change its hello).
async fn try_start(
    build: impl FnOnce(pykernel_transport::RunnerHandle) -> FakeRunner,
    options: KernelOptions,
) -> (
    Result<Kernel, KernelError>,
    RunnerLog,
    JoinHandle<ExitStatus>,
) {
    let (transport, handle) = MemoryTransport::pair();
    let log = handle.log();
    let runner = build(handle).on_execute(script_for).spawn();
    let result = Kernel::start_with_transport(Box::new(transport), options).await;
    (result, log, runner)
}

fn script_for(execute: &Execute) -> Script {
    let (verb, rest) = execute.code.split_once(' ').unwrap_or((&execute.code, ""));
    match verb {
        "print" => Script::new().stdout(format!("{rest}\n")),
        "sleep" => Script::new().sleep(Duration::from_secs(rest.parse().unwrap_or(1))),
        "wait" => Script::new().wait_for_interrupt(),
        "flood" => (0..rest.parse().unwrap_or(1))
            .fold(Script::new(), |script, n| {
                script.stdout(format!("line {n}\n"))
            })
            .wait_for_interrupt(),
        "stubborn" => Script::new().ignore_interrupts().wait_for_interrupt(),
        "unkillable" => Script::new()
            .ignore_interrupts()
            .ignore_terminate()
            .wait_for_interrupt(),
        "raise" => Script::new().error("ValueError", "boom"),
        "die" => Script::new().stdout("dying\n").exit(
            ExitStatus::Code(3),
            "Traceback (most recent call last):\nSystemError: boom\n",
        ),
        "input" => Script::new().input("name? "),
        // A widget opens its comm, then its `Output` names this execution.
        "widget" => {
            let object = |value: Value| value.as_object().cloned().unwrap_or_default();
            Script::new()
                .step(Step::Emit(Event::CommOpen(CommOpen {
                    id: execute.id.clone(),
                    comm_id: "c1".into(),
                    target_name: "jupyter.widget".into(),
                    data: object(json!({"state": {"msg_id": ""}})),
                    metadata: object(json!({"version": "2.1.0"})),
                    buffers: vec!["AAE=".into()],
                })))
                .step(Step::Emit(Event::CommMsg(CommMsg {
                    id: execute.id.clone(),
                    comm_id: "c1".into(),
                    data: object(json!({"method": "update", "state": {"msg_id": execute.id}})),
                    metadata: serde_json::Map::new(),
                    buffers: Vec::new(),
                })))
                .stdout("inside\n")
        }
        "call" => {
            let (name, args) = rest.split_once(' ').unwrap_or((rest, "null"));
            Script::new().call(name, serde_json::from_str(args).unwrap_or(Value::Null))
        }
        "noise" => Script::new()
            .step(Step::Line("this is not json".into()))
            .step(Step::Line(r#"{"type":"mystery","id":"x"}"#.into()))
            .step(Step::Emit(Event::Stdout(StreamData {
                id: ExecId::new("someone-else"),
                data: "stray\n".into(),
            })))
            .stdout("kept\n"),
        _ => Script::new(),
    }
}

/// Lets every task run until it waits (time stays where it is).
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

/// Takes every output, then the outcome, and renders both.
async fn collect(mut execution: Execution) -> String {
    let mut out = String::new();
    while let Some(output) = execution.next_output().await {
        let _ = writeln!(out, "{}", render_output(&output));
    }
    out.push_str(&render_outcome(execution.outcome().await));
    out
}

fn render_output(output: &Output) -> String {
    match output {
        Output::Stdout(text) => format!("stdout {text:?}"),
        Output::Stderr(text) => format!("stderr {text:?}"),
        Output::Error(error) => format!("error {}: {}", error.ename, error.evalue),
        other => format!("{other:?}"),
    }
}

fn render_outcome(result: Result<pykernel::Outcome, KernelError>) -> String {
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => return format!("=> Err({err})\n"),
    };
    let mut line = format!("=> {:?}", outcome.status);
    if let Some(count) = outcome.execution_count {
        let _ = write!(line, " count={count}");
    }
    for (flag, set) in [
        ("cancelled", outcome.cancelled()),
        ("timed_out", outcome.timed_out()),
        ("stdin_requested", outcome.stdin_requested()),
        ("kernel_killed", outcome.kernel_killed()),
    ] {
        if set {
            let _ = write!(line, " {flag}");
        }
    }
    if let Some(error) = &outcome.error {
        let _ = write!(line, " error={}", error.ename);
    }
    line.push('\n');
    line
}

/// What the runner saw: requests (execute by id and code), signals, input closing, exit.
fn render_log(log: &RunnerLog) -> String {
    let mut out = String::new();
    for request in log.requests() {
        let line = match request {
            Request::Execute(execute) if execute.silent => {
                format!("execute {} (silent)", execute.id)
            }
            Request::Execute(execute) => format!("execute {} {:?}", execute.id, execute.code),
            Request::Exit => "exit".to_owned(),
            Request::Interrupt => "interrupt (in band)".to_owned(),
            Request::Kill => "kill (in band)".to_owned(),
            Request::Ping => "ping".to_owned(),
            Request::InputReply(reply) if reply.eof => format!("input_reply {} eof", reply.id),
            Request::InputReply(reply) => format!("input_reply {} {:?}", reply.id, reply.value),
            Request::CallReply(reply) => format!("reply {} {:?}", reply.call_id, reply.result),
            Request::Complete(complete) => format!(
                "complete {} {:?} at {}",
                complete.id, complete.code, complete.cursor
            ),
            Request::CommMsg(message) => format!(
                "comm_msg {} {}",
                message.comm_id,
                Value::Object(message.data.clone())
            ),
        };
        let _ = writeln!(out, "> {line}");
    }
    for signal in log.signals() {
        let _ = writeln!(out, "! {signal:?}");
    }
    if log.input_closed() {
        out.push_str("! input closed\n");
    }
    if let Some(status) = log.exit_status() {
        let _ = writeln!(out, "exit: {status}");
    }
    out
}

fn report(report: ShutdownReport) -> String {
    format!(
        "confirmed={} status={:?}",
        report.confirmed(),
        report.status
    )
}

#[test]
fn handles_can_move_between_tasks() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    fn clone<T: Clone>() {}
    send_sync::<Kernel>();
    send_sync::<KernelError>();
    // Every caller that waited on one failed start gets its own copy.
    clone::<KernelError>();
    send::<Execution>();
}

#[tokio::test(start_paused = true)]
async fn start_runs_init_and_prelude_then_cells_stream_in_order() {
    let fake = start(options().with_prelude(true).with_env("PYK_X", "1")).await;
    let info = fake.kernel.info();
    assert_eq!(
        (
            info.python_version.as_str(),
            info.protocol,
            info.python.is_none()
        ),
        ("3.12.0", 2, true)
    );
    let transcript = collect(fake.kernel.execute("print hello", ExecuteOptions::new())).await;
    insta::assert_snapshot!(transcript, @r#"
    stdout "hello\n"
    => Ok count=1
    "#);
    let init = fake
        .log
        .requests()
        .into_iter()
        .find_map(|request| match request {
            Request::Execute(execute) if execute.id.as_str() == "init" => Some(execute.code),
            _ => None,
        });
    insta::assert_snapshot!(init.unwrap_or_default(), @r#"
    def __pykernel_init(cwd, env):
        import os, sys
        os.chdir(cwd)
        cwd = os.getcwd()
        os.environ.update(env)
        if cwd in sys.path:
            sys.path.remove(cwd)
        sys.path.insert(0, cwd)
    __pykernel_init("/pyk-test", {"PYK_X":"1"})
    del __pykernel_init
    "#);
    insta::assert_snapshot!(render_log(&fake.log), @r#"
    > execute init (silent)
    > execute prelude (silent)
    > execute 1 "print hello"
    "#);
}

#[tokio::test(start_paused = true)]
async fn outputs_arrive_before_the_cell_ends_and_errors_are_outcomes() {
    let fake = start(options()).await;
    let mut execution = fake.kernel.execute("print early", ExecuteOptions::new());
    let first = execution.next().await;
    assert_eq!(first, Some(Output::Stdout("early\n".into())));
    let transcript = collect(fake.kernel.execute("raise", ExecuteOptions::new())).await;
    insta::assert_snapshot!(transcript, @r#"
    error ValueError: boom
    => Error count=2 error=ValueError
    "#);
    drop(execution);
}

#[tokio::test(start_paused = true)]
async fn malformed_lines_and_frames_for_unknown_ids_are_skipped() {
    let fake = start(options()).await;
    let transcript = collect(fake.kernel.execute("noise", ExecuteOptions::new())).await;
    insta::assert_snapshot!(transcript, @r#"
    stdout "kept\n"
    => Ok count=1
    "#);
    assert!(fake.kernel.is_alive());
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_run_one_at_a_time_in_submission_order() {
    let fake = start(options()).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in 0..5 {
        let kernel = fake.kernel.clone();
        let order = Arc::clone(&order);
        tasks.push(tokio::spawn(async move {
            // Later tasks submit first, so submission order differs from spawn order.
            tokio::time::sleep(Duration::from_millis(100 * (5 - n))).await;
            let execution = kernel.execute(format!("print {n}"), ExecuteOptions::new());
            order
                .lock()
                .map(|mut order| order.push(n))
                .unwrap_or_default();
            collect(execution).await
        }));
    }
    let mut transcripts = Vec::new();
    for task in tasks {
        transcripts.push(
            task.await
                .unwrap_or_else(|err| format!("task failed: {err}")),
        );
    }
    insta::assert_snapshot!(transcripts.concat(), @r#"
    stdout "0\n"
    => Ok count=5
    stdout "1\n"
    => Ok count=4
    stdout "2\n"
    => Ok count=3
    stdout "3\n"
    => Ok count=2
    stdout "4\n"
    => Ok count=1
    "#);
    let submitted = order.lock().map(|order| order.clone()).unwrap_or_default();
    let sent: Vec<String> = fake
        .log
        .requests()
        .into_iter()
        .filter_map(|request| match request {
            Request::Execute(execute) if !execute.silent => Some(execute.code),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = submitted.iter().map(|n| format!("print {n}")).collect();
    assert_eq!(sent, expected);
}

#[tokio::test(start_paused = true)]
async fn the_next_cell_is_written_only_after_the_previous_is_done() {
    let fake = start(options()).await;
    let first = fake.kernel.execute("sleep 10", ExecuteOptions::new());
    let second = fake.kernel.execute("print second", ExecuteOptions::new());
    settle().await;
    insta::assert_snapshot!(render_log(&fake.log), @r#"
    > execute init (silent)
    > execute 1 "sleep 10"
    "#);
    let transcript = collect(first).await + &collect(second).await;
    insta::assert_snapshot!(transcript, @r#"
    => Ok count=1
    stdout "second\n"
    => Ok count=2
    "#);
}

#[tokio::test(start_paused = true)]
async fn a_queued_cell_cancelled_or_dropped_is_never_sent() {
    let fake = start(options()).await;
    let running = fake.kernel.execute("sleep 5", ExecuteOptions::new());
    let cancelled = fake
        .kernel
        .execute("print cancelled", ExecuteOptions::new());
    let dropped = fake.kernel.execute("print dropped", ExecuteOptions::new());
    let last = fake.kernel.execute("print last", ExecuteOptions::new());
    cancelled.cancel();
    drop(dropped);
    let transcript = collect(running).await + &collect(cancelled).await + &collect(last).await;
    insta::assert_snapshot!(transcript, @r#"
    => Ok count=1
    => Error cancelled
    stdout "last\n"
    => Ok count=2
    "#);
    insta::assert_snapshot!(render_log(&fake.log), @r#"
    > execute init (silent)
    > execute 1 "sleep 5"
    > execute 4 "print last"
    "#);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_running_execution_interrupts_it() {
    let fake = start(options()).await;
    let running = fake.kernel.execute("wait", ExecuteOptions::new());
    settle().await;
    drop(running);
    let transcript = collect(fake.kernel.execute("print after", ExecuteOptions::new())).await;
    insta::assert_snapshot!(transcript, @r#"
    stdout "after\n"
    => Ok count=2
    "#);
    insta::assert_snapshot!(render_log(&fake.log), @r#"
    > execute init (silent)
    > execute 1 "wait"
    > execute 2 "print after"
    ! Interrupt
    "#);
}

#[tokio::test(start_paused = true)]
async fn escalation_happens_at_exactly_the_interrupt_grace() {
    let grace = Duration::from_secs(5);
    let fake = start(options().with_interrupt_grace(grace)).await;
    let execution = fake.kernel.execute("stubborn", ExecuteOptions::new());
    let queued = fake.kernel.execute("print never", ExecuteOptions::new());
    settle().await;
    execution.cancel();
    settle().await;
    tokio::time::advance(grace - Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(
        fake.log.signals(),
        [Signal::Interrupt],
        "no escalation before the grace"
    );
    assert!(fake.kernel.is_alive());
    tokio::time::advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(fake.log.signals(), [Signal::Interrupt, Signal::Terminate]);
    let transcript = collect(execution).await + &collect(queued).await;
    insta::assert_snapshot!(transcript, @r"
    => Error cancelled kernel_killed
    => Error cancelled kernel_killed
    ");
    assert!(!fake.kernel.is_alive());
    insta::assert_snapshot!(report(fake.kernel.shutdown().await), @"confirmed=true status=Some(Signal(15))");
    let later = collect(fake.kernel.execute("print later", ExecuteOptions::new())).await;
    insta::assert_snapshot!(later, @"=> Err(kernel is not running)");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_interrupts_and_the_kernel_stays_usable() {
    let fake = start(options()).await;
    let options = ExecuteOptions::new().with_timeout(Duration::from_secs(2));
    let timed_out = collect(fake.kernel.execute("sleep 60", options)).await;
    insta::assert_snapshot!(timed_out, @r"
    error KeyboardInterrupt: 
    => Error count=1 cancelled timed_out error=KeyboardInterrupt
    ");
    let after = collect(fake.kernel.execute("print fine", ExecuteOptions::new())).await;
    insta::assert_snapshot!(after, @r#"
    stdout "fine\n"
    => Ok count=2
    "#);
}

#[tokio::test(start_paused = true)]
async fn death_mid_cell_ends_running_and_queued_with_died() {
    let fake = start(options()).await;
    let running = fake.kernel.execute("die", ExecuteOptions::new());
    let queued = fake.kernel.execute("print never", ExecuteOptions::new());
    let transcript = collect(running).await + &collect(queued).await;
    insta::assert_snapshot!(transcript, @r#"
    stdout "dying\n"
    => Err(kernel died (exit code 3); stderr:
    Traceback (most recent call last):
    SystemError: boom)
    => Err(kernel died (exit code 3); stderr:
    Traceback (most recent call last):
    SystemError: boom)
    "#);
    assert!(!fake.kernel.is_alive());
    let later = collect(fake.kernel.execute("print later", ExecuteOptions::new())).await;
    insta::assert_snapshot!(later, @r"
    => Err(kernel died (exit code 3); stderr:
    Traceback (most recent call last):
    SystemError: boom)
    ");
    let interrupt = fake.kernel.interrupt().map_err(|err| err.to_string());
    assert!(interrupt.is_err_and(|err| err.starts_with("kernel died (exit code 3)")));
    insta::assert_snapshot!(report(fake.kernel.shutdown().await), @"confirmed=true status=Some(Code(3))");
}

#[tokio::test(start_paused = true)]
async fn shutdown_escalates_exit_term_kill_at_the_graces_and_is_idempotent() {
    let grace = Duration::from_secs(1);
    let fake = start(options().with_shutdown_grace(grace)).await;
    let running = fake.kernel.execute("unkillable", ExecuteOptions::new());
    settle().await;
    let first = tokio::spawn({
        let kernel = fake.kernel.clone();
        async move { kernel.shutdown().await }
    });
    let second = tokio::spawn({
        let kernel = fake.kernel.clone();
        async move { kernel.shutdown().await }
    });
    settle().await;
    assert!(!fake.kernel.is_alive());
    assert_eq!(fake.log.signals(), []);
    tokio::time::advance(grace - Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(fake.log.signals(), []);
    tokio::time::advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(fake.log.signals(), [Signal::Terminate]);
    tokio::time::advance(grace).await;
    settle().await;
    let reports = [first.await, second.await].map(|report| match report {
        Ok(report) => self::report(report),
        Err(err) => err.to_string(),
    });
    insta::assert_snapshot!(reports.join("\n"), @r"
    confirmed=true status=Some(Signal(9))
    confirmed=true status=Some(Signal(9))
    ");
    insta::assert_snapshot!(report(fake.kernel.shutdown().await), @"confirmed=true status=Some(Signal(9))");
    insta::assert_snapshot!(collect(running).await, @"=> Error cancelled kernel_killed");
    insta::assert_snapshot!(render_log(&fake.log), @r#"
    > execute init (silent)
    > execute 1 "unkillable"
    > exit
    ! Terminate
    ! Kill
    ! input closed
    exit: signal 9
    "#);
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_of_an_idle_kernel_is_confirmed() {
    let fake = start(options()).await;
    insta::assert_snapshot!(report(fake.kernel.shutdown().await), @"confirmed=true status=Some(Code(0))");
    assert_eq!(fake.runner.await.ok(), Some(ExitStatus::Code(0)));
    assert!(fake.kernel.interrupt().is_err());
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_shuts_the_runner_down() {
    let fake = start(options()).await;
    let clone = fake.kernel.clone();
    drop(fake.kernel);
    settle().await;
    assert_eq!(
        fake.log.exit_status(),
        None,
        "a clone still holds the kernel"
    );
    drop(clone);
    let status = tokio::time::timeout(Duration::from_secs(10), fake.runner).await;
    assert!(matches!(status, Ok(Ok(ExitStatus::Code(0)))), "{status:?}");
    insta::assert_snapshot!(render_log(&fake.log), @r"
    > execute init (silent)
    > exit
    ! input closed
    exit: exit code 0
    ");
}

#[tokio::test(start_paused = true)]
async fn protocol_mismatch_fails_the_start_and_kills_the_runner() {
    let old = |handle| {
        FakeRunner::new(handle).hello(Some(Hello {
            protocol: 1,
            runner: "old".into(),
            python: "3.8.0".into(),
            pid: 7,
            features: Vec::new(),
            hash: None,
        }))
    };
    let (result, log, _runner) = try_start(old, options()).await;
    insta::assert_snapshot!(result.map(|_| ()).unwrap_err(), @"runner speaks protocol 1, host speaks 2");
    insta::assert_snapshot!(render_log(&log), @"
    ! Kill
    ! input closed
    exit: signal 9
    ");
}

#[tokio::test(start_paused = true)]
async fn a_silent_runner_times_the_start_out_and_is_killed() {
    let silent = |handle| FakeRunner::new(handle).hello(None);
    let options = options().with_startup_timeout(Duration::from_secs(3));
    let (result, log, _runner) = try_start(silent, options).await;
    insta::assert_snapshot!(result.map(|_| ()).unwrap_err(), @"kernel handshake timed out");
    insta::assert_snapshot!(render_log(&log), @"
    ! Kill
    ! input closed
    exit: signal 9
    ");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_start_kills_the_runner() {
    let (transport, handle) = MemoryTransport::pair();
    let log = handle.log();
    let runner = FakeRunner::new(handle).hello(None).spawn();
    let start = Kernel::start_with_transport(Box::new(transport), options());
    let abandoned = tokio::time::timeout(Duration::from_millis(50), start).await;
    assert!(
        abandoned.is_err(),
        "the start cannot finish without a hello"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), runner).await;
    assert!(
        matches!(status, Ok(Ok(ExitStatus::Signal(9)))),
        "{status:?}"
    );
    assert_eq!(log.signals(), [Signal::Kill]);
}

#[tokio::test(start_paused = true)]
async fn input_is_relayed_when_allowed_and_refused_otherwise() {
    let fake = start(options()).await;
    let mut asking = fake
        .kernel
        .execute("input", ExecuteOptions::new().with_stdin(true));
    let request = asking.next_output().await;
    insta::assert_snapshot!(format!("{request:?}"), @r#"Some(InputRequest { prompt: "name? ", password: false })"#);
    let replied = asking.reply_input("Ada");
    assert!(replied.is_ok());
    insta::assert_snapshot!(collect(asking).await, @r#"
    stdout "Ada\n"
    => Ok count=1
    "#);
    let refused = collect(fake.kernel.execute("input", ExecuteOptions::new())).await;
    insta::assert_snapshot!(refused, @r"
    error KeyboardInterrupt: 
    => Error count=2 stdin_requested error=KeyboardInterrupt
    ");
}

#[tokio::test(start_paused = true)]
async fn host_functions_answer_calls_and_unknown_names_raise() {
    let add: pykernel::HostFunction = Arc::new(|args: Value| {
        let numbers: Vec<i64> = serde_json::from_value(args).map_err(|err| err.to_string())?;
        Ok(json!(numbers.iter().sum::<i64>()))
    });
    let failing: pykernel::HostFunction = Arc::new(|_| Err("nope".to_owned()));
    let options = options()
        .with_host_function("add", add)
        .with_host_function("fail", failing);
    let fake = start(options).await;
    let transcript = collect(
        fake.kernel
            .execute("call add [1, 2, 39]", ExecuteOptions::new()),
    )
    .await
        + &collect(fake.kernel.execute("call fail null", ExecuteOptions::new())).await
        + &collect(
            fake.kernel
                .execute("call missing {}", ExecuteOptions::new()),
        )
        .await;
    insta::assert_snapshot!(transcript, @r#"
    stdout "42\n"
    => Ok count=1
    error HostCallError: nope
    => Error count=2 error=HostCallError
    error HostCallError: no host function named "missing"
    => Error count=3 error=HostCallError
    "#);
}

#[tokio::test(start_paused = true)]
async fn a_host_fallback_answers_names_not_offered() {
    let add: pykernel::HostFunction = Arc::new(|_| Ok(json!("named")));
    let fallback: pykernel::HostFallback = Arc::new(|name: &str, args: Value| match name {
        "echo" => Ok(json!({ "name": name, "args": args })),
        _ => Err(format!("{name} refused")),
    });
    let options = options()
        .with_host_function("add", add)
        .with_host_fallback(fallback);
    let fake = start(options).await;
    let mut transcript = String::new();
    for cell in ["call add [1]", "call echo [7]", "call other {}"] {
        transcript += &collect(fake.kernel.execute(cell, ExecuteOptions::new())).await;
    }
    insta::assert_snapshot!(transcript, @r#"
    stdout "\"named\"\n"
    => Ok count=1
    stdout "{\"args\":[7],\"name\":\"echo\"}\n"
    => Ok count=2
    error HostCallError: other refused
    => Error count=3 error=HostCallError
    "#);
}

#[tokio::test(start_paused = true)]
async fn a_consumer_that_stops_reading_delays_nothing_else() {
    let fake = start(options()).await;
    let mut unread = fake.kernel.execute("flood 1000", ExecuteOptions::new());
    assert_eq!(
        unread.next_output().await,
        Some(Output::Stdout("line 0\n".into()))
    );
    settle().await;
    // Dropping a flooding execution cancels it and frees the driver for the next cell.
    drop(unread);
    let next = collect(fake.kernel.execute("print next", ExecuteOptions::new())).await;
    insta::assert_snapshot!(next, @r#"
    stdout "next\n"
    => Ok count=2
    "#);
    // A consumer that never reads does not hold up shutdown.
    let _stalled = fake.kernel.execute("flood 1000", ExecuteOptions::new());
    settle().await;
    let report = tokio::time::timeout(Duration::from_secs(10), fake.kernel.shutdown()).await;
    insta::assert_snapshot!(format!("{report:?}"), @"Ok(ShutdownReport { status: Some(Signal(15)) })");
}

#[tokio::test(start_paused = true)]
async fn kill_sends_sigkill_at_once_and_ends_running_and_queued() {
    let fake = start(options()).await;
    let running = fake.kernel.execute("unkillable", ExecuteOptions::new());
    let queued = fake.kernel.execute("print never", ExecuteOptions::new());
    settle().await;
    let before = tokio::time::Instant::now();
    insta::assert_snapshot!(report(fake.kernel.kill().await), @"confirmed=true status=Some(Signal(9))");
    assert_eq!(
        tokio::time::Instant::now(),
        before,
        "a kill waits for no grace"
    );
    assert!(!fake.kernel.is_alive());
    let transcript = collect(running).await + &collect(queued).await;
    insta::assert_snapshot!(transcript, @r"
    => Error cancelled kernel_killed
    => Error cancelled kernel_killed
    ");
    // Idempotent, and shared with shutdown.
    insta::assert_snapshot!(report(fake.kernel.kill().await), @"confirmed=true status=Some(Signal(9))");
    insta::assert_snapshot!(report(fake.kernel.shutdown().await), @"confirmed=true status=Some(Signal(9))");
    insta::assert_snapshot!(render_log(&fake.log), @r#"
    > execute init (silent)
    > execute 1 "unkillable"
    ! Kill
    ! input closed
    exit: signal 9
    "#);
}

#[tokio::test(start_paused = true)]
async fn kill_cuts_a_graceful_shutdown_short_and_both_get_its_report() {
    let fake = start(options().with_shutdown_grace(Duration::from_secs(30))).await;
    let running = fake.kernel.execute("unkillable", ExecuteOptions::new());
    settle().await;
    let shutdown = tokio::spawn({
        let kernel = fake.kernel.clone();
        async move { kernel.shutdown().await }
    });
    settle().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(fake.log.signals(), [], "the shutdown waits for the runner");
    let killed = fake.kernel.kill().await;
    let shut_down = match shutdown.await {
        Ok(report) => self::report(report),
        Err(err) => err.to_string(),
    };
    insta::assert_snapshot!(format!("{}\n{shut_down}", report(killed)), @r"
    confirmed=true status=Some(Signal(9))
    confirmed=true status=Some(Signal(9))
    ");
    insta::assert_snapshot!(collect(running).await, @"=> Error cancelled kernel_killed");
    insta::assert_snapshot!(render_log(&fake.log), @r#"
    > execute init (silent)
    > execute 1 "unkillable"
    > exit
    ! Kill
    ! input closed
    exit: signal 9
    "#);
}

#[tokio::test(start_paused = true)]
async fn idle_since_is_none_while_a_cell_runs_or_waits() {
    let fake = start(options()).await;
    let origin = tokio::time::Instant::now().into_std();
    let mut seen = Vec::new();
    let mut look = |when: &str, kernel: &Kernel| {
        let since = kernel
            .idle_since()
            .map(|since| since.saturating_duration_since(origin));
        seen.push(format!("{when}: {since:?}"));
    };
    look("ready", &fake.kernel);
    tokio::time::advance(Duration::from_secs(1)).await;
    let first = fake.kernel.execute("sleep 10", ExecuteOptions::new());
    look("submitted", &fake.kernel);
    let second = fake.kernel.execute("sleep 5", ExecuteOptions::new());
    settle().await;
    tokio::time::advance(Duration::from_secs(5)).await;
    settle().await;
    look("first runs", &fake.kernel);
    let first = collect(first).await;
    look("second runs", &fake.kernel);
    let second = collect(second).await;
    look("both ended", &fake.kernel);
    tokio::time::advance(Duration::from_secs(100)).await;
    look("later", &fake.kernel);
    let cancelled = fake.kernel.execute("sleep 1000", ExecuteOptions::new());
    drop(cancelled);
    look("dropped", &fake.kernel);
    settle().await;
    look("dropped, interrupted", &fake.kernel);
    fake.kernel.shutdown().await;
    look("shut down", &fake.kernel);
    insta::assert_snapshot!(first + &second + &seen.join("\n"), @r"
    => Ok count=1
    => Ok count=2
    ready: Some(0ns)
    submitted: None
    first runs: None
    second runs: None
    both ended: Some(16s)
    later: Some(16s)
    dropped: None
    dropped, interrupted: Some(116s)
    shut down: Some(116s)
    ");
}

#[tokio::test(start_paused = true)]
async fn the_end_of_input_goes_to_the_runner_as_eof() {
    let fake = start(options()).await;
    let mut asking = fake
        .kernel
        .execute("input", ExecuteOptions::new().with_stdin(true));
    let request = asking.next_output().await;
    assert!(
        matches!(request, Some(Output::InputRequest { .. })),
        "{request:?}"
    );
    assert!(asking.reply_input_eof().is_ok());
    let _ = collect(asking).await;
    insta::assert_snapshot!(render_log(&fake.log), @r#"
    > execute init (silent)
    > execute 1 "input"
    > input_reply 1 eof
    "#);
    fake.kernel.shutdown().await;
    let later = fake
        .kernel
        .execute("input", ExecuteOptions::new().with_stdin(true));
    let replied = later.reply_input_eof().map_err(|err| err.to_string());
    insta::assert_snapshot!(format!("{replied:?}"), @r#"Err("kernel is not running")"#);
}

/// A fake runner that completes `imp` to `import`, answers nothing for `stuck`, and
/// offers every name that starts with the word before the cursor otherwise.
fn completing(handle: pykernel_transport::RunnerHandle) -> FakeRunner {
    FakeRunner::new(handle).on_complete(|complete| {
        let cursor = usize::try_from(complete.cursor).unwrap_or(usize::MAX);
        let before: String = complete.code.chars().take(cursor).collect();
        if before == "stuck" {
            return None;
        }
        let word_start = before
            .rfind(|c: char| !c.is_alphanumeric() && c != '_')
            .map_or(0, |index| index + 1);
        let word = &before[word_start..];
        let matches = ["import", "in", "x_long_name"]
            .into_iter()
            .filter(|name| name.starts_with(word))
            .map(str::to_owned)
            .collect();
        Some(pykernel_protocol::Completions {
            id: complete.id.clone(),
            matches,
            cursor_start: before[..word_start].chars().count() as u64,
            cursor_end: complete.cursor,
        })
    })
}

#[tokio::test(start_paused = true)]
async fn complete_answers_beside_a_running_cell() {
    let (kernel, log, _runner) = match try_start(completing, options()).await {
        (Ok(kernel), log, runner) => (kernel, log, runner),
        (Err(err), ..) => panic!("start failed: {err}"),
    };
    let idle = kernel.complete("é = imp", 7).await;
    let running = kernel.execute("wait", ExecuteOptions::new());
    let busy = kernel.complete("x_l", 3).await;
    running.cancel();
    let outcome = running.outcome().await;
    let mut out = format!("{idle:?}\n{busy:?}\n");
    out.push_str(&render_outcome(outcome));
    out.push_str(&render_log(&log));
    insta::assert_snapshot!(out, @r#"
    Ok(Completions { matches: ["import"], cursor_start: 4, cursor_end: 7 })
    Ok(Completions { matches: ["x_long_name"], cursor_start: 0, cursor_end: 3 })
    => Error count=1 cancelled error=KeyboardInterrupt
    > execute init (silent)
    > complete c-1 "é = imp" at 7
    > execute 1 "wait"
    > complete c-2 "x_l" at 3
    ! Interrupt
    "#);
}

#[tokio::test(start_paused = true)]
async fn complete_gives_up_on_a_runner_that_does_not_answer() {
    let (kernel, _log, _runner) = match try_start(completing, options()).await {
        (Ok(kernel), log, runner) => (kernel, log, runner),
        (Err(err), ..) => panic!("start failed: {err}"),
    };
    let stuck = kernel.complete("stuck", 5).await;
    // The kernel still serves cells and completions afterwards.
    let later = kernel.complete("in", 2).await;
    let outcome = kernel
        .execute("print ok", ExecuteOptions::new())
        .outcome()
        .await;
    insta::assert_snapshot!(format!("{stuck:?}\n{later:?}\n{}", render_outcome(outcome)), @r#"
    Err(CompletionTimeout)
    Ok(Completions { matches: ["in"], cursor_start: 0, cursor_end: 2 })
    => Ok count=1
    "#);
}

#[tokio::test(start_paused = true)]
async fn complete_needs_a_runner_that_announced_it() {
    let fake = start(options()).await;
    let unsupported = fake.kernel.complete("imp", 3).await;
    fake.kernel.shutdown().await;
    let stopped = fake.kernel.complete("imp", 3).await;
    let log = render_log(&fake.log);
    insta::assert_snapshot!(format!("{unsupported:?}\n{stopped:?}\n{log}"), @r#"
    Err(Unsupported { feature: "complete" })
    Err(NotRunning)
    > execute init (silent)
    > exit
    ! input closed
    exit: exit code 0
    "#);
}

#[tokio::test(start_paused = true)]
async fn comm_messages_come_out_and_frontend_messages_go_in_at_once() {
    let fake = start(options()).await;
    let opened = collect(fake.kernel.execute("widget", ExecuteOptions::new())).await;
    let running = fake.kernel.execute("wait", ExecuteOptions::new());
    settle().await;
    let update = json!({"method": "update", "state": {"value": 7}});
    let sent = fake.kernel.send_comm_msg(pykernel::CommMessage::to_runner(
        "c1",
        update.as_object().cloned().unwrap_or_default(),
    ));
    settle().await;
    running.cancel();
    let _ = running.outcome().await;
    let mut out = format!("{opened}sent: {sent:?}\n");
    out.push_str(&render_log(&fake.log));
    insta::assert_snapshot!(out, @r#"
    Comm(CommMessage { kind: Open { target_name: "jupyter.widget" }, comm_id: "c1", data: {"state": Object {"msg_id": String("")}}, metadata: {"version": String("2.1.0")}, buffers: ["AAE="] })
    Comm(CommMessage { kind: Msg, comm_id: "c1", data: {"method": String("update"), "state": Object {"msg_id": String("1")}}, metadata: {}, buffers: [] })
    stdout "inside\n"
    => Ok count=1
    sent: Ok(())
    > execute init (silent)
    > execute 1 "widget"
    > execute 2 "wait"
    > comm_msg c1 {"method":"update","state":{"value":7}}
    ! Interrupt
    "#);
}

//! The memory transport and the fake runner, on paused tokio time.

use std::time::Duration;

use pykernel_protocol::{
    CallReply, Decoded, Event, ExecId, Execute, InputReply, Malformed, MalformedKind, Request,
    StreamData,
};
use pykernel_transport::{
    ExitStatus, FakeRunner, Incoming, MemoryTransport, RunnerInput, RunnerLog, Script, Signal,
    Step, Transport, TransportError,
};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::{drain, render};

/// Far longer than any script's sleep; paused time reaches it only when something hangs.
const HANG: Duration = Duration::from_secs(24 * 3600);

fn stdout(id: &str, data: &str) -> Event {
    Event::Stdout(StreamData {
        id: ExecId::new(id),
        data: data.to_owned(),
    })
}

fn execute(id: &str, code: &str) -> Request {
    Request::Execute(Execute::new(ExecId::new(id), code))
}

/// The host's side of a conversation with a [`FakeRunner`], written down as a transcript:
/// `> request`, `~ signal`, `< frame`, `! malformed line`, `exit ...`.
struct Host {
    transport: MemoryTransport,
    log: RunnerLog,
    runner: JoinHandle<ExitStatus>,
    lines: Vec<String>,
}

impl Host {
    /// Spawns `runner` (built on a fresh pair's handle) and connects to it.
    fn start(runner: impl FnOnce(FakeRunner) -> FakeRunner) -> Self {
        let (transport, handle) = MemoryTransport::pair();
        let log = handle.log();
        let runner = runner(FakeRunner::new(handle)).spawn();
        Self {
            transport,
            log,
            runner,
            lines: Vec::new(),
        }
    }

    async fn send(&mut self, request: Request) {
        self.lines.push(format!(
            "> {}",
            serde_json::to_string(&request).expect("requests encode")
        ));
        if let Err(err) = self.transport.send(&request).await {
            self.lines.push(format!("send failed: {err}"));
        }
    }

    fn signal(&mut self, signal: Signal) {
        self.lines.push(format!("~ {signal:?}"));
        self.transport
            .signal(signal)
            .expect("memory signals never fail");
    }

    async fn close_input(&mut self) {
        self.lines.push("> (close input)".to_owned());
        self.transport
            .close_input()
            .await
            .expect("closing never fails");
    }

    /// Receives until a frame of type `kind` (or the exit) has been written down.
    async fn until(&mut self, kind: &str) {
        loop {
            let incoming = tokio::time::timeout(HANG, self.transport.recv())
                .await
                .expect("the runner answers")
                .expect("the transport has not ended");
            self.lines.push(render(&incoming));
            match incoming {
                Incoming::Frame(Decoded::Frame(event)) if event.kind() == kind => return,
                Incoming::Exited(_) => return,
                Incoming::Frame(_) => {}
            }
        }
    }

    /// Receives to the end and returns the transcript, checking the runner task's result.
    async fn finish(mut self) -> String {
        let rest = tokio::time::timeout(HANG, drain(&mut self.transport))
            .await
            .expect("it ends");
        if !rest.is_empty() {
            self.lines.push(rest);
        }
        let status = self.runner.await.expect("the runner task does not panic");
        assert_eq!(
            Some(status),
            self.log.exit_status(),
            "run() returns the exit it reported"
        );
        self.lines.join("\n")
    }
}

#[tokio::test(start_paused = true)]
async fn frames_arrive_in_order_and_the_exit_after_them() {
    let (mut transport, mut runner) = MemoryTransport::pair();
    runner.send(Event::Started {
        id: ExecId::new("a"),
    });
    runner.send_line("not json");
    runner.send_malformed(Malformed {
        kind: MalformedKind::InvalidUtf8,
        preview: "\u{fffd}".to_owned(),
        len: 1,
    });
    runner
        .send_line("{\"type\":\"stdout\",\"id\":\"a\",\"data\":\"hi\\n\"}\n\n{\"type\":\"done\"}");
    runner.exit(ExitStatus::Code(3), "boom\n");
    runner.send(stdout("a", "after the exit\n"));
    runner.exit(ExitStatus::Code(4), "a second exit is ignored");
    insta::assert_snapshot!(drain(&mut transport).await, @r#"
    < {"type":"started","id":"a"}
    ! line is not json: expected ident at line 1 column 2 (starts "not json")
    ! line is not valid utf-8 (starts "�")
    < {"type":"stdout","id":"a","data":"hi\n"}
    ! line is not a frame: `done` frame is missing `id` (starts "{\"type\":\"done\"}")
    exit exit code 3 stderr="boom\n"
    "#);
}

#[tokio::test(start_paused = true)]
async fn requests_arrive_decoded_and_are_logged() {
    let (mut transport, mut runner) = MemoryTransport::pair();
    let mut silent = Execute::new(ExecId::new("a"), "x = 1");
    silent.silent = true;
    silent.store_history = None;
    let requests = [Request::Execute(silent), Request::Interrupt, Request::Exit];
    for request in &requests {
        transport.send(request).await.expect("the runner is alive");
    }
    for request in &requests {
        assert_eq!(runner.next_request().await.as_ref(), Some(request));
    }
    assert_eq!(runner.try_next_request(), None);
    assert_eq!(runner.log().requests(), requests);
}

#[tokio::test(start_paused = true)]
async fn inputs_keep_the_host_order_and_typed_reads_skip_ahead() {
    let (mut transport, mut runner) = MemoryTransport::pair();
    transport
        .send(&execute("a", ""))
        .await
        .expect("the runner is alive");
    transport
        .signal(Signal::Interrupt)
        .expect("signals never fail");
    transport
        .send(&Request::Exit)
        .await
        .expect("the runner is alive");
    transport.close_input().await.expect("closing never fails");
    transport
        .signal(Signal::Terminate)
        .expect("signals never fail");

    let reader = &mut runner;
    assert_eq!(reader.next_signal().await, Some(Signal::Interrupt));
    assert_eq!(reader.next_request().await, Some(execute("a", "")));
    assert_eq!(reader.try_next_signal(), Some(Signal::Terminate));
    assert_eq!(
        reader.next_input().await,
        Some(RunnerInput::Request(Request::Exit))
    );
    assert_eq!(reader.next_request().await, None, "input is closed");
    assert_eq!(reader.try_next_request(), None, "and stays closed");
    assert_eq!(reader.next_input().await, Some(RunnerInput::InputClosed));
    assert_eq!(reader.try_next_input(), None);
    drop(transport);
    assert_eq!(reader.next_input().await, None, "the transport is gone");
    assert_eq!(reader.next_signal().await, None);
}

#[tokio::test(start_paused = true)]
async fn sends_fail_once_the_runner_exited_and_signals_are_then_ignored() {
    let (mut transport, mut runner) = MemoryTransport::pair();
    transport
        .send(&execute("a", "1 + 1"))
        .await
        .expect("the runner is alive");
    transport
        .signal(Signal::Interrupt)
        .expect("signals never fail");
    assert_eq!(runner.next_request().await, Some(execute("a", "1 + 1")));
    assert_eq!(runner.next_signal().await, Some(Signal::Interrupt));

    runner.exit(ExitStatus::Signal(9), "");
    let res = transport.send(&Request::Exit).await;
    assert!(matches!(res, Err(TransportError::Closed)), "{res:?}");
    transport
        .signal(Signal::Kill)
        .expect("a gone runner is not an error");
    assert_eq!(runner.signals(), [Signal::Interrupt]);
    assert_eq!(runner.try_next_signal(), None);
    assert_eq!(transport.pid(), None);
}

#[tokio::test(start_paused = true)]
async fn closing_input_ends_the_requests_and_later_sends_fail() {
    let (mut transport, mut runner) = MemoryTransport::pair();
    transport
        .send(&Request::Exit)
        .await
        .expect("the runner is alive");
    assert!(!runner.input_closed());
    transport.close_input().await.expect("closing never fails");
    let res = transport.send(&Request::Exit).await;
    assert!(matches!(res, Err(TransportError::Closed)), "{res:?}");
    assert!(runner.input_closed());
    assert_eq!(
        runner.next_request().await,
        Some(Request::Exit),
        "earlier requests still arrive"
    );
    assert_eq!(runner.next_request().await, None);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_handle_reads_as_an_unknown_exit_and_a_dropped_transport_as_closed_input() {
    let (mut transport, runner) = MemoryTransport::pair();
    runner.send(Event::Started {
        id: ExecId::new("a"),
    });
    let log = runner.log();
    drop(runner);
    let res = transport.send(&Request::Exit).await;
    assert!(matches!(res, Err(TransportError::Closed)), "{res:?}");
    insta::assert_snapshot!(drain(&mut transport).await, @r#"
    < {"type":"started","id":"a"}
    exit unknown status stderr=""
    "#);
    drop(transport);
    assert!(log.input_closed());
}

#[tokio::test(start_paused = true)]
async fn fake_runner_says_hello_runs_cells_in_order_and_exits_on_request() {
    let mut host = Host::start(|runner| {
        runner.on_execute(|execute| match execute.code.as_str() {
            "fail" => Script::new()
                .stdout("about to fail\n")
                .error("ValueError", "bad"),
            code => Script::new()
                .stdout(format!("ran {code}\n"))
                .result_text("42"),
        })
    });
    host.send(execute("a", "first")).await;
    let mut silent = Execute::new(ExecId::new("s"), "silent");
    silent.silent = true;
    silent.store_history = None;
    host.send(Request::Execute(silent)).await;
    host.send(execute("b", "fail")).await;
    host.send(Request::Exit).await;
    host.send(execute("c", "never runs")).await;
    insta::assert_snapshot!(host.finish().await, @r#"
    > {"id":"a","code":"first","silent":false,"storeHistory":true}
    > {"id":"s","code":"silent","silent":true}
    > {"id":"b","code":"fail","silent":false,"storeHistory":true}
    > {"type":"exit"}
    > {"id":"c","code":"never runs","silent":false,"storeHistory":true}
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    < {"type":"stdout","id":"a","data":"ran first\n"}
    < {"type":"result","id":"a","bundle":{"text/plain":"42"}}
    < {"type":"done","id":"a","status":"ok","executionCount":1,"cancelled":false}
    < {"type":"started","id":"s"}
    < {"type":"stdout","id":"s","data":"ran silent\n"}
    < {"type":"result","id":"s","bundle":{"text/plain":"42"}}
    < {"type":"done","id":"s","status":"ok","executionCount":1,"cancelled":false}
    < {"type":"started","id":"b"}
    < {"type":"stdout","id":"b","data":"about to fail\n"}
    < {"type":"error","id":"b","ename":"ValueError","evalue":"bad","traceback":[]}
    < {"type":"done","id":"b","status":"error","executionCount":2,"cancelled":false}
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_interrupted_while_sleeping_raises_keyboard_interrupt() {
    let mut host = Host::start(|runner| {
        runner.on_execute(|_| {
            Script::new()
                .stdout("working\n")
                .sleep(Duration::from_secs(3600))
        })
    });
    host.signal(Signal::Interrupt);
    host.send(execute("a", "sleep")).await;
    host.until("stdout").await;
    host.signal(Signal::Interrupt);
    host.until("done").await;
    host.close_input().await;
    insta::assert_snapshot!(host.finish().await, @r#"
    ~ Interrupt
    > {"id":"a","code":"sleep","silent":false,"storeHistory":true}
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    < {"type":"stdout","id":"a","data":"working\n"}
    ~ Interrupt
    < {"type":"error","id":"a","ename":"KeyboardInterrupt","evalue":"","traceback":[]}
    < {"type":"done","id":"a","status":"error","executionCount":1,"cancelled":true}
    > (close input)
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_sees_a_signal_in_the_order_the_host_sent_it() {
    let script = |_: &Execute| {
        Script::new()
            .sleep(Duration::from_secs(60))
            .stdout("slept\n")
    };
    // An interrupt before the execute finds the runner idle and is ignored.
    let mut host = Host::start(|runner| runner.on_execute(script));
    host.signal(Signal::Interrupt);
    host.send(execute("a", "")).await;
    host.until("done").await;
    // One right after it interrupts the cell, even though the runner had not started it.
    host.send(execute("b", "")).await;
    host.signal(Signal::Interrupt);
    host.until("done").await;
    host.close_input().await;
    insta::assert_snapshot!(host.finish().await, @r#"
    ~ Interrupt
    > {"id":"a","code":"","silent":false,"storeHistory":true}
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    < {"type":"stdout","id":"a","data":"slept\n"}
    < {"type":"done","id":"a","status":"ok","executionCount":1,"cancelled":false}
    > {"id":"b","code":"","silent":false,"storeHistory":true}
    ~ Interrupt
    < {"type":"started","id":"b"}
    < {"type":"error","id":"b","ename":"KeyboardInterrupt","evalue":"","traceback":[]}
    < {"type":"done","id":"b","status":"error","executionCount":2,"cancelled":true}
    > (close input)
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_sleeps_in_tokio_time_and_queues_requests_meanwhile() {
    let mut host = Host::start(|runner| {
        runner.on_execute(|execute| {
            let secs = execute.code.parse().unwrap_or(0);
            Script::new()
                .sleep(Duration::from_secs(secs))
                .stdout(format!("slept {secs}s\n"))
        })
    });
    host.send(execute("a", "60")).await;
    host.send(execute("b", "1")).await;
    host.close_input().await;
    insta::assert_snapshot!(host.finish().await, @r#"
    > {"id":"a","code":"60","silent":false,"storeHistory":true}
    > {"id":"b","code":"1","silent":false,"storeHistory":true}
    > (close input)
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    < {"type":"stdout","id":"a","data":"slept 60s\n"}
    < {"type":"done","id":"a","status":"ok","executionCount":1,"cancelled":false}
    < {"type":"started","id":"b"}
    < {"type":"stdout","id":"b","data":"slept 1s\n"}
    < {"type":"done","id":"b","status":"ok","executionCount":2,"cancelled":false}
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_in_band_interrupt_needs_protocol_two() {
    let script = |_: &Execute| Script::new().wait_for_interrupt();
    let mut host = Host::start(|runner| runner.on_execute(script));
    host.send(execute("a", "wait")).await;
    host.until("started").await;
    host.send(Request::Interrupt).await;
    host.until("done").await;
    host.send(Request::Exit).await;
    insta::assert_snapshot!(host.finish().await, @r#"
    > {"id":"a","code":"wait","silent":false,"storeHistory":true}
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    > {"type":"interrupt"}
    < {"type":"error","id":"a","ename":"KeyboardInterrupt","evalue":"","traceback":[]}
    < {"type":"done","id":"a","status":"error","executionCount":1,"cancelled":true}
    > {"type":"exit"}
    exit exit code 0 stderr=""
    "#);

    let mut host = Host::start(|runner| runner.hello(None).on_execute(script));
    host.send(execute("a", "wait")).await;
    host.until("started").await;
    host.send(Request::Interrupt).await;
    host.signal(Signal::Terminate);
    insta::assert_snapshot!(host.finish().await, @r#"
    > {"id":"a","code":"wait","silent":false,"storeHistory":true}
    < {"type":"started","id":"a"}
    > {"type":"interrupt"}
    ~ Terminate
    exit signal 15 stderr=""
    "#);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_ignoring_interrupt_and_terminate_dies_only_by_kill() {
    let mut host = Host::start(|runner| {
        runner.on_execute(|_| {
            Script::new()
                .ignore_interrupts()
                .ignore_terminate()
                .wait_for_interrupt()
        })
    });
    host.send(execute("a", "stubborn")).await;
    host.until("started").await;
    host.signal(Signal::Interrupt);
    host.send(Request::Interrupt).await;
    host.send(Request::Exit).await;
    host.close_input().await;
    host.signal(Signal::Terminate);
    host.signal(Signal::Kill);
    host.signal(Signal::Kill);
    let log = host.log.clone();
    insta::assert_snapshot!(host.finish().await, @r#"
    > {"id":"a","code":"stubborn","silent":false,"storeHistory":true}
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    ~ Interrupt
    > {"type":"interrupt"}
    > {"type":"exit"}
    > (close input)
    ~ Terminate
    ~ Kill
    ~ Kill
    exit signal 9 stderr=""
    "#);
    assert_eq!(
        log.signals(),
        [
            Signal::Interrupt,
            Signal::Terminate,
            Signal::Kill,
            Signal::Kill
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn fake_runner_terminated_while_idle_exits_by_signal() {
    let mut host = Host::start(|runner| runner);
    host.until("hello").await;
    host.signal(Signal::Terminate);
    host.until("exit").await;
    host.send(execute("a", "too late")).await;
    insta::assert_snapshot!(host.finish().await, @r#"
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    ~ Terminate
    exit signal 15 stderr=""
    > {"id":"a","code":"too late","silent":false,"storeHistory":true}
    send failed: runner channel is closed
    "#);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_asks_for_input_and_calls_the_host() {
    let mut host = Host::start(|runner| {
        runner.on_execute(|_| {
            Script::new()
                .input("name? ")
                .call("lookup", json!({"key": 1}))
                .call("fail", json!(null))
        })
    });
    host.send(execute("a", "ask")).await;
    host.until("input_request").await;
    host.send(Request::InputReply(InputReply::line(
        ExecId::new("other"),
        "no",
    )))
    .await;
    host.send(Request::InputReply(InputReply::line(
        ExecId::new("a"),
        "Ada",
    )))
    .await;
    host.until("call").await;
    let reply = |id: &str, result| {
        Request::CallReply(CallReply {
            call_id: pykernel_protocol::CallId::new(id),
            result,
        })
    };
    host.send(reply("a-call-1", Ok(json!([1, 2])))).await;
    host.until("call").await;
    host.send(reply("a-call-2", Err("no such tool".to_owned())))
        .await;
    host.until("done").await;
    host.close_input().await;
    insta::assert_snapshot!(host.finish().await, @r#"
    > {"id":"a","code":"ask","silent":false,"storeHistory":true}
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    < {"type":"input_request","id":"a","prompt":"name? ","password":false}
    > {"type":"input_reply","id":"other","value":"no"}
    > {"type":"input_reply","id":"a","value":"Ada"}
    < {"type":"stdout","id":"a","data":"Ada\n"}
    < {"type":"call","id":"a","callId":"a-call-1","name":"lookup","args":{"key":1}}
    > {"type":"reply","callId":"a-call-1","ok":true,"value":[1,2]}
    < {"type":"stdout","id":"a","data":"[1,2]\n"}
    < {"type":"call","id":"a","callId":"a-call-2","name":"fail","args":null}
    > {"type":"reply","callId":"a-call-2","ok":false,"error":"no such tool"}
    < {"type":"error","id":"a","ename":"HostCallError","evalue":"no such tool","traceback":[]}
    < {"type":"done","id":"a","status":"error","executionCount":1,"cancelled":false}
    > (close input)
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_input_raises_eof_error_when_input_closes() {
    let mut host = Host::start(|runner| runner.on_execute(|_| Script::new().input("> ")));
    host.send(execute("a", "input()")).await;
    host.until("input_request").await;
    host.close_input().await;
    insta::assert_snapshot!(host.finish().await, @r#"
    > {"id":"a","code":"input()","silent":false,"storeHistory":true}
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    < {"type":"input_request","id":"a","prompt":"> ","password":false}
    > (close input)
    < {"type":"error","id":"a","ename":"EOFError","evalue":"EOF when reading a line","traceback":[]}
    < {"type":"done","id":"a","status":"error","executionCount":1,"cancelled":false}
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_can_crash_mid_cell_and_emit_anything() {
    let mut host = Host::start(|runner| {
        runner.on_execute(|_| {
            Script::from(vec![
                Step::Emit(stdout("unknown-id", "stray\n")),
                Step::Line("garbage".to_owned()),
                Step::Stderr("dying\n".to_owned()),
                Step::Exit {
                    status: ExitStatus::Signal(11),
                    stderr_tail: "Segmentation fault\n".to_owned(),
                },
                Step::Stdout("never sent\n".to_owned()),
            ])
        })
    });
    host.send(execute("a", "crash")).await;
    host.until("exit").await;
    host.send(execute("b", "after")).await;
    insta::assert_snapshot!(host.finish().await, @r#"
    > {"id":"a","code":"crash","silent":false,"storeHistory":true}
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    < {"type":"stdout","id":"unknown-id","data":"stray\n"}
    ! line is not json: expected value at line 1 column 1 (starts "garbage")
    < {"type":"stderr","id":"a","data":"dying\n"}
    exit signal 11 stderr="Segmentation fault\n"
    > {"id":"b","code":"after","silent":false,"storeHistory":true}
    send failed: runner channel is closed
    "#);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_exits_when_the_transport_is_dropped_mid_wait() {
    let (transport, handle) = MemoryTransport::pair();
    let log = handle.log();
    let runner = FakeRunner::new(handle)
        .on_execute(|_| Script::new().wait_for_interrupt())
        .spawn();
    let mut transport = transport;
    transport
        .send(&execute("a", "wait"))
        .await
        .expect("the runner is alive");
    tokio::task::yield_now().await;
    drop(transport);
    let status = tokio::time::timeout(HANG, runner)
        .await
        .expect("it ends")
        .expect("no panic");
    assert_eq!(status, ExitStatus::Code(0));
    assert!(log.input_closed());
}

//! The memory transport and the fake runner, on paused tokio time.

use std::time::Duration;

use pykernel_protocol::{Event, ExecId, Execute, Request, StreamData};
use pykernel_transport::{
    ExitStatus, FakeRunner, MemoryTransport, Script, Signal, Transport, TransportError,
};

use crate::{drain, render};

fn stdout(id: &str, data: &str) -> Event {
    Event::Stdout(StreamData {
        id: ExecId::new(id),
        data: data.to_owned(),
    })
}

#[tokio::test(start_paused = true)]
async fn frames_arrive_in_order_and_the_exit_after_them() {
    let (mut transport, mut runner) = MemoryTransport::pair();
    runner.send(Event::Started {
        id: ExecId::new("a"),
    });
    runner.send_line("not json");
    runner.send(stdout("a", "hi\n"));
    runner.exit(ExitStatus::Code(3), "boom\n");
    runner.send(stdout("a", "after the exit\n"));
    insta::assert_snapshot!(drain(&mut transport).await, @r#"
    < {"type":"started","id":"a"}
    ! line is not json: expected ident at line 1 column 2 (starts "not json")
    < {"type":"stdout","id":"a","data":"hi\n"}
    exit exit code 3 stderr="boom\n"
    "#);
}

#[tokio::test(start_paused = true)]
async fn sends_fail_once_the_runner_exited_and_signals_are_then_ignored() {
    let (mut transport, mut runner) = MemoryTransport::pair();
    let execute = Request::Execute(Execute::new(ExecId::new("a"), "1 + 1"));
    transport.send(&execute).await.expect("the runner is alive");
    transport
        .signal(Signal::Interrupt)
        .expect("signals never fail");
    assert_eq!(runner.next_request().await, Some(execute));
    assert_eq!(runner.next_signal().await, Some(Signal::Interrupt));

    runner.exit(ExitStatus::Signal(9), "");
    let res = transport.send(&Request::Exit).await;
    assert!(matches!(res, Err(TransportError::Closed)), "{res:?}");
    transport
        .signal(Signal::Kill)
        .expect("a gone runner is not an error");
    assert_eq!(runner.signals(), [Signal::Interrupt]);
}

#[tokio::test(start_paused = true)]
async fn fake_runner_interrupted_while_sleeping_raises_keyboard_interrupt() {
    let (mut transport, handle) = MemoryTransport::pair();
    let log = handle.log();
    let runner = FakeRunner::new(handle)
        .on_execute(|_| {
            Script::new()
                .stdout("working\n")
                .sleep(Duration::from_secs(3600))
        })
        .spawn();
    transport
        .send(&Request::Execute(Execute::new(ExecId::new("a"), "sleep")))
        .await
        .unwrap();
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.push(render(&transport.recv().await.expect("frames")));
    }
    transport.signal(Signal::Interrupt).unwrap();
    for _ in 0..2 {
        lines.push(render(&transport.recv().await.expect("frames")));
    }
    transport.close_input().await.unwrap();
    lines.push(drain(&mut transport).await);
    insta::assert_snapshot!(lines.join("\n"), @r#"
    < {"type":"hello","protocol":2,"runner":"fake","python":"3.12.0","pid":0}
    < {"type":"started","id":"a"}
    < {"type":"stdout","id":"a","data":"working\n"}
    < {"type":"error","id":"a","ename":"KeyboardInterrupt","evalue":"","traceback":[]}
    < {"type":"done","id":"a","status":"error","executionCount":1,"cancelled":true}
    exit exit code 0 stderr=""
    "#);
    assert_eq!(runner.await.unwrap(), ExitStatus::Code(0));
    assert!(log.input_closed());
}

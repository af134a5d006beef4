//! The stdio transport against real `sh` processes (never Python, so they run anywhere).

use std::{ffi::OsString, time::Duration};

use pykernel_protocol::{Decoded, Event, Request};
use pykernel_transport::{
    ExitStatus, Incoming, Signal, SpawnOptions, StdioTransport, Transport, TransportError,
};
use rustix::{io::Errno, process::Pid};

use crate::{drain, render};

/// A generous bound that only catches hangs.
const HANG: Duration = Duration::from_secs(10);

/// Options to run `script` with `/bin/sh -c`, with the host's `PATH` as the whole
/// environment.
fn sh(script: &str) -> SpawnOptions {
    let mut options = SpawnOptions::new("/bin/sh");
    options.args = vec!["-c".into(), script.into()];
    options.env = std::env::var_os("PATH")
        .map(|path| (OsString::from("PATH"), path))
        .into_iter()
        .collect();
    options
}

/// A shell snippet that starts `sleep 1000` in the background and prints its pid as a
/// `stdout` frame with id `pid`.
const SPAWN_GRANDCHILD: &str =
    r#"sleep 1000 & printf '{"type":"stdout","id":"pid","data":"%s"}\n' "$!""#;

/// Runs `options` to the exit and renders everything received.
async fn check(options: SpawnOptions) -> String {
    let mut transport = StdioTransport::spawn(options).expect("sh starts");
    tokio::time::timeout(HANG, drain(&mut transport))
        .await
        .expect("the transcript ends")
}

/// Receives one item, failing on a hang or an early end.
async fn recv(transport: &mut StdioTransport) -> Incoming {
    let incoming = tokio::time::timeout(HANG, transport.recv())
        .await
        .expect("recv does not hang");
    incoming.expect("the transport has not ended yet")
}

/// Receives the grandchild pid frame printed by [`SPAWN_GRANDCHILD`].
async fn grandchild_pid(transport: &mut StdioTransport) -> Pid {
    let incoming = recv(transport).await;
    let Incoming::Frame(Decoded::Frame(Event::Stdout(frame))) = &incoming else {
        panic!("expected the pid frame, got {}", render(&incoming));
    };
    let pid = frame.data.parse().expect("sh prints a number");
    Pid::from_raw(pid).expect("a pid is positive")
}

/// Receives until the exit and returns it, skipping frames.
async fn exit(transport: &mut StdioTransport) -> (ExitStatus, String) {
    loop {
        if let Incoming::Exited(exit) = recv(transport).await {
            return (exit.status, exit.stderr_tail);
        }
    }
}

/// Whether `pid` names a live process; a zombie waiting for its reaper counts as gone.
fn alive(pid: Pid) -> bool {
    if rustix::process::test_kill_process(pid) == Err(Errno::SRCH) {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_pid())) else {
        // No procfs (not Linux): `kill(pid, 0)` succeeding is all we know.
        return true;
    };
    // The state follows the parenthesised command name.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    !state.is_some_and(|state| state.starts_with(['Z', 'X']))
}

/// Waits until `pid` is gone, failing after [`HANG`].
async fn gone(pid: Pid) {
    let poll = async {
        while alive(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(HANG, poll)
        .await
        .expect("the process dies");
}

#[tokio::test]
async fn frames_printed_by_sh_are_decoded_and_a_malformed_line_is_skipped() {
    let transcript = check(sh(r#"
        printf '%s\n' '{"type":"started","id":"a"}' 'oops' '{"type":"stdout","id":"a","data":"hi\n"}'
        echo boom >&2
        exit 3
    "#))
    .await;
    insta::assert_snapshot!(transcript, @r#"
    < {"type":"started","id":"a"}
    ! line is not json: expected value at line 1 column 1 (starts "oops")
    < {"type":"stdout","id":"a","data":"hi\n"}
    exit exit code 3 stderr="boom\n"
    "#);
}

#[tokio::test]
async fn a_line_over_the_limit_is_malformed_and_the_next_frame_arrives() {
    let mut options = sh(r#"
        printf '%s\n' '{"type":"started","id":"a-very-long-id-beyond-the-limit"}'
        printf '%s' '{"type":"started","id":"b"}'
    "#);
    options.max_line_length = 32;
    insta::assert_snapshot!(check(options).await, @r#"
    ! line of 57 bytes exceeds the limit (starts "{\"type\":\"started\",\"id\":\"a-very-long-id-beyond-the-limit\"}")
    < {"type":"started","id":"b"}
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test]
async fn the_environment_is_exactly_the_given_one_and_cwd_applies() {
    let mut options = sh(
        r#"printf '{"type":"stdout","id":"env","data":"%s|%s|%s"}\n' "$FOO" "${HOME-unset}" "$(pwd)""#,
    );
    options.env.push(("FOO".into(), "bar".into()));
    options.cwd = Some("/".into());
    insta::assert_snapshot!(check(options).await, @r#"
    < {"type":"stdout","id":"env","data":"bar|unset|/"}
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test]
async fn the_child_leads_a_session_of_its_own_without_a_terminal() {
    // Fields 5 to 7 of /proc/PID/stat: process group, session, controlling terminal.
    let options = sh(r#"read -r pid _ _ _ pgrp sid tty _ < /proc/$$/stat
printf '{"type":"stdout","id":"ids","data":"group %s session %s terminal %s"}\n' "$([ "$pgrp" = "$pid" ] && echo leader || echo other)" "$([ "$sid" = "$pid" ] && echo leader || echo other)" "$tty""#);
    insta::assert_snapshot!(check(options).await, @r#"
    < {"type":"stdout","id":"ids","data":"group leader session leader terminal 0"}
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error_naming_it() {
    let err = StdioTransport::spawn(SpawnOptions::new("/nonexistent/python3"))
        .expect_err("there is no such program");
    assert!(matches!(&err, TransportError::Spawn { .. }), "{err:?}");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(source.is_some(), "the os error is the source");
    insta::assert_snapshot!(err, @"failed to start runner `/nonexistent/python3`");

    let mut options = sh("exit 0");
    options.cwd = Some("/nonexistent/dir".into());
    let err = StdioTransport::spawn(options).expect_err("there is no such directory");
    insta::assert_snapshot!(err, @"failed to start runner `/bin/sh`");
}

// On a multi-threaded runtime, as most hosts use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_cat_echoes_the_request_line() {
    let mut transport = StdioTransport::spawn(SpawnOptions::new("/bin/cat")).expect("cat starts");
    transport.send(&Request::Exit).await.expect("cat reads");
    transport.close_input().await.expect("closing works");
    transport
        .close_input()
        .await
        .expect("closing twice is fine");
    let res = transport.send(&Request::Exit).await;
    assert!(matches!(res, Err(TransportError::Closed)), "{res:?}");
    let transcript = tokio::time::timeout(HANG, drain(&mut transport))
        .await
        .expect("cat exits");
    insta::assert_snapshot!(transcript, @r#"
    ! line is not a frame: unknown frame type `exit` (starts "{\"type\":\"exit\"}")
    exit exit code 0 stderr=""
    "#);
}

#[tokio::test]
async fn a_runner_outlives_the_thread_that_spawned_it() {
    let runtime = tokio::runtime::Handle::current();
    let spawning_thread = std::thread::spawn(move || {
        let _runtime = runtime.enter();
        StdioTransport::spawn(SpawnOptions::new("/bin/cat"))
    });
    // The thread has exited once joined: a parent-death signal tied to it has fired.
    let mut transport = spawning_thread
        .join()
        .expect("no panic")
        .expect("cat starts");
    transport
        .send(&Request::Exit)
        .await
        .expect("cat still runs");
    let echo = render(&recv(&mut transport).await);
    assert!(echo.contains("unknown frame type `exit`"), "{echo}");
    transport.close_input().await.expect("closing works");
    assert_eq!(exit(&mut transport).await.0, ExitStatus::Code(0));
}

#[tokio::test]
async fn send_after_the_exit_is_closed_and_pid_is_gone() {
    let mut transport = StdioTransport::spawn(sh("exit 0")).expect("sh starts");
    assert!(transport.pid().is_some(), "the child runs");
    assert_eq!(
        exit(&mut transport).await,
        (ExitStatus::Code(0), String::new())
    );
    assert_eq!(transport.pid(), None, "the child was reaped");
    let res = transport.send(&Request::Exit).await;
    assert!(matches!(res, Err(TransportError::Closed)), "{res:?}");
    transport
        .signal(Signal::Kill)
        .expect("signalling a reaped runner is a no-op");
}

#[tokio::test]
async fn send_to_a_child_that_closed_its_input_is_closed() {
    let mut transport = StdioTransport::spawn(sh(
        r#"exec 0<&-; printf '{"type":"started","id":"a"}\n'; sleep 1000"#,
    ))
    .expect("sh starts");
    recv(&mut transport).await;
    let res = transport.send(&Request::Exit).await;
    assert!(matches!(res, Err(TransportError::Closed)), "{res:?}");
    transport.signal(Signal::Kill).expect("kill works");
    assert_eq!(exit(&mut transport).await.0, ExitStatus::Signal(9));
}

#[tokio::test]
async fn interrupt_reaches_the_child() {
    let mut transport = StdioTransport::spawn(sh(r#"trap 'echo interrupted >&2; exit 7' INT
        printf '{"type":"started","id":"a"}\n'
        while :; do sleep 0.01; done"#))
    .expect("sh starts");
    recv(&mut transport).await;
    transport
        .signal(Signal::Interrupt)
        .expect("interrupt works");
    assert_eq!(
        exit(&mut transport).await,
        (ExitStatus::Code(7), "interrupted\n".to_owned())
    );
}

#[tokio::test]
async fn terminate_reaches_a_grandchild_in_the_group() {
    let mut options = sh(&format!("{SPAWN_GRANDCHILD}; wait"));
    options.kill_group_on_exit = false;
    let mut transport = StdioTransport::spawn(options).expect("sh starts");
    let grandchild = grandchild_pid(&mut transport).await;
    transport
        .signal(Signal::Terminate)
        .expect("terminate works");
    assert_eq!(exit(&mut transport).await.0, ExitStatus::Signal(15));
    gone(grandchild).await;
}

#[tokio::test]
async fn kill_reaches_a_grandchild_in_the_group() {
    let mut options = sh(&format!("{SPAWN_GRANDCHILD}; wait"));
    options.kill_group_on_exit = false;
    let mut transport = StdioTransport::spawn(options).expect("sh starts");
    let grandchild = grandchild_pid(&mut transport).await;
    transport.signal(Signal::Kill).expect("kill works");
    transport
        .signal(Signal::Kill)
        .expect("killing twice is fine");
    assert_eq!(exit(&mut transport).await.0, ExitStatus::Signal(9));
    gone(grandchild).await;
}

/// A daemon in a session of its own, whose parent (a subshell) exits at once: it leaves
/// the runner's process group and is re-parented.
#[cfg(target_os = "linux")]
const SPAWN_DAEMON: &str =
    r#"(setsid sleep 1000 & printf '{"type":"stdout","id":"pid","data":"%s"}\n' "$!"); wait"#;

#[cfg(target_os = "linux")]
#[tokio::test]
async fn kill_and_terminate_reach_a_daemon_that_left_the_group() {
    for signal in [Signal::Kill, Signal::Terminate] {
        let mut options = sh(&format!("{SPAWN_DAEMON}; sleep 1000"));
        options.kill_group_on_exit = false;
        let mut transport = StdioTransport::spawn(options).expect("sh starts");
        let daemon = grandchild_pid(&mut transport).await;
        transport.signal(signal).expect("signalling works");
        exit(&mut transport).await;
        gone(daemon).await;
    }
}

#[tokio::test]
async fn an_exit_is_reported_while_a_grandchild_keeps_stdout_open() {
    let mut options = sh(&format!("{SPAWN_GRANDCHILD}; echo bye >&2; exit 4"));
    options.kill_group_on_exit = false;
    let mut transport = StdioTransport::spawn(options).expect("sh starts");
    let grandchild = grandchild_pid(&mut transport).await;
    assert_eq!(
        exit(&mut transport).await,
        (ExitStatus::Code(4), "bye\n".to_owned())
    );
    assert!(transport.recv().await.is_none(), "nothing follows the exit");
    assert!(alive(grandchild), "the group was left alone");
    rustix::process::kill_process(grandchild, rustix::process::Signal::KILL)
        .expect("the grandchild is ours");
    gone(grandchild).await;
}

#[tokio::test]
async fn the_group_is_killed_once_the_child_exits() {
    let mut transport =
        StdioTransport::spawn(sh(&format!("{SPAWN_GRANDCHILD}; exit 0"))).expect("sh starts");
    let grandchild = grandchild_pid(&mut transport).await;
    assert_eq!(exit(&mut transport).await.0, ExitStatus::Code(0));
    gone(grandchild).await;
}

#[tokio::test]
async fn dropping_the_transport_kills_the_child_and_its_group() {
    let mut transport =
        StdioTransport::spawn(sh(&format!("{SPAWN_GRANDCHILD}; wait"))).expect("sh starts");
    let grandchild = grandchild_pid(&mut transport).await;
    let child = transport
        .pid()
        .and_then(|pid| Pid::from_raw(pid as i32))
        .expect("it runs");
    drop(transport);
    gone(grandchild).await;
    gone(child).await;
}

#[tokio::test]
async fn the_stderr_tail_is_bounded_and_starts_at_a_line() {
    let (status, tail) = exit(
        &mut StdioTransport::spawn(sh(
            r"yes 'héllo wörld' | head -c 1000000 >&2; printf '\nEND\n' >&2",
        ))
        .expect("sh starts"),
    )
    .await;
    assert_eq!(status, ExitStatus::Code(0));
    assert!(tail.len() <= 8 * 1024, "{} bytes", tail.len());
    assert!(tail.starts_with("héllo wörld\n"), "{tail:?}");
    assert!(tail.ends_with("\nEND\n"), "{tail:?}");
}

#[tokio::test]
async fn the_stderr_tail_is_cut_on_a_character_boundary() {
    let mut options = sh("printf 'ééééééééééé' >&2");
    options.stderr_tail_bytes = 9;
    insta::assert_snapshot!(check(options).await, @r#"exit exit code 0 stderr="éééé""#);
}

#[tokio::test]
async fn recv_loses_nothing_when_cancelled() {
    let mut transport = StdioTransport::spawn(sh(&format!(
        r#"for i in 1 2 3 4 5; do printf '{{"type":"started","id":"%s"}}\n' $i; sleep 0.02; done
        {SPAWN_GRANDCHILD}
        echo done >&2"#
    )))
    .expect("sh starts");
    let mut lines = Vec::new();
    let mut n_cancelled = 0;
    let receive_all = async {
        loop {
            tokio::select! {
                incoming = transport.recv() => match incoming {
                    Some(incoming) => lines.push(render(&incoming)),
                    None => break,
                },
                () = tokio::time::sleep(Duration::from_millis(1)) => n_cancelled += 1,
            }
        }
    };
    tokio::time::timeout(HANG, receive_all)
        .await
        .expect("the exit is reported");
    assert!(n_cancelled > 0, "the test cancelled some receives");
    let transcript = lines.join("\n");
    let transcript = transcript
        .split('\n')
        .filter(|line| !line.contains(r#""id":"pid""#));
    insta::assert_snapshot!(transcript.collect::<Vec<_>>().join("\n"), @r#"
    < {"type":"started","id":"1"}
    < {"type":"started","id":"2"}
    < {"type":"started","id":"3"}
    < {"type":"started","id":"4"}
    < {"type":"started","id":"5"}
    exit exit code 0 stderr="done\n"
    "#);
}

//! The keepalive on a virtual clock: when it pings, what an answer does, and how a lost
//! link ends the session.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use pykernel_protocol::{Decoded, Event, ExecId, Execute, Hello, PROTOCOL_VERSION};
use pykernel_transport::{Exit, ExitStatus, Incoming};

use crate::machine::{Command, Session, SessionConfig, SessionEvent, Submit, keepalive::Keepalive};

/// Runs `script` on a ready session with a keepalive of a 10 s interval and a 20 s
/// timeout. Lines: `advance S` (seconds; every deadline on the way fires at its instant),
/// `pong`, `exec ID`, `exit`. The transcript shows `@ S` when a deadline fired, `>` a
/// request, `!` a signal and `=` the session's end or a finished cell.
fn check(script: &str) -> String {
    let start = Instant::now();
    let mut session = Session::new(SessionConfig {
        startup_deadline: start + Duration::from_secs(60),
        startup_cells: Vec::new(),
        interrupt_grace: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(1),
    })
    .with_keepalive(Keepalive {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(20),
    });
    let mut now = start;
    let mut out = String::new();
    let hello = Event::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        runner: "0.1.0".to_owned(),
        python: "3.12.0".to_owned(),
        pid: 1,
        features: Vec::new(),
        hash: None,
    });
    session.handle_incoming(now, Incoming::Frame(Decoded::Frame(hello)));
    drain(&mut session, &mut out);
    for line in script
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
    {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "advance" => {
                let seconds: u64 = rest.parse().unwrap_or_else(|_| panic!("bad line {line:?}"));
                let until = now + Duration::from_secs(seconds);
                while let Some(deadline) = session.poll_timeout().filter(|at| *at <= until) {
                    now = deadline.max(now);
                    let _ = writeln!(out, "@ {}", now.duration_since(start).as_secs());
                    session.handle_timeout(now);
                    drain(&mut session, &mut out);
                }
                now = until;
            }
            "pong" => session.handle_incoming(now, Incoming::Frame(Decoded::Frame(Event::Pong))),
            "exec" => session.handle_command(
                now,
                Command::Execute(Submit {
                    request: Execute {
                        id: ExecId::new(rest),
                        code: "while True: pass".to_owned(),
                        silent: false,
                        store_history: Some(true),
                        cwd: None,
                        env: None,
                        allow_stdin: false,
                    },
                    timeout: None,
                    continue_on_error: false,
                }),
            ),
            "exit" => session.handle_incoming(
                now,
                Incoming::Exited(Exit {
                    status: ExitStatus::Signal(9),
                    stderr_tail: String::new(),
                }),
            ),
            other => panic!("unknown script word {other:?}"),
        }
        drain(&mut session, &mut out);
    }
    out
}

fn drain(session: &mut Session, out: &mut String) {
    while let Some(request) = session.poll_transmit() {
        let _ = writeln!(out, "> {}", request.kind());
    }
    while let Some(signal) = session.poll_signal() {
        let _ = writeln!(out, "! {signal:?}");
    }
    while let Some(event) = session.poll_event() {
        match event {
            SessionEvent::Finished { id, result } => {
                let result = result.map_or_else(|err| err.to_string(), |_| "ok".to_owned());
                let _ = writeln!(out, "= finished {id}: {result}");
            }
            SessionEvent::Stopped(_) => out.push_str("= stopped\n"),
            _ => {}
        }
    }
}

#[test]
fn an_idle_link_is_pinged_and_an_answer_keeps_it() {
    let transcript = check("advance 9\nadvance 1\nadvance 5\npong\nadvance 10");
    insta::assert_snapshot!(transcript, @r"
    @ 10
    > ping
    @ 25
    > ping
    ");
}

#[test]
fn an_unanswered_ping_kills_the_launcher_and_the_exit_names_the_keepalive() {
    let transcript = check("exec 1\nadvance 10\nadvance 19\nadvance 1\nexit");
    insta::assert_snapshot!(transcript, @r"
    > execute
    @ 10
    > ping
    @ 30
    ! Kill
    = finished 1: kernel died (signal 9); stderr:
    pykernel: the link to the runner is dead: no answer to a keepalive ping within 20s
    = stopped
    ");
}

#[test]
fn a_busy_link_with_output_is_never_pinged() {
    let transcript = check("exec 1\nadvance 9\npong\nadvance 9\npong\nadvance 9");
    insta::assert_snapshot!(transcript, @"> execute");
}

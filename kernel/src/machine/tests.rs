//! Session transitions, driven by a script on a virtual clock.
//!
//! Script lines (one per line, `#` starts a comment):
//! - `hello [version] [feature...]`: the runner says hello (default: this host's version,
//!   no features).
//! - `<- JSON` or `<- text`: the runner writes a line (a frame, or a malformed line).
//! - `done ID [error] [cancelled]`: shorthand for a `done` frame.
//! - `exit CODE [tail]`: the runner exits.
//! - `exec ID [timeout=MS] [stdin] CODE`: a caller queues a cell.
//! - `cancel ID`, `interrupt`, `shutdown`, `kill`, `input ID VALUE`, `input-eof ID`,
//!   `reply CALL VALUE`, `complete ID CURSOR CODE`.
//! - `signal-failed NAME`, `send-failed`.
//! - `advance MS`: time passes; every deadline on the way fires at its instant.
//! - `idle?`: shows when the session last ran out of work (`~ idle since MS` or `~ busy`).
//!
//! The transcript shows what the session asks for: `>` a request (its JSON line), `!` a
//! signal or closing input (in the driver's order), `=` an event, `@ MS` the instant a deadline fired.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use pykernel_protocol::{
    CallId, CallReply, Complete, Decoded, Event, ExecId, Execute, InputReply, Malformed,
    MalformedKind, PROTOCOL_VERSION, RequestId,
};
use pykernel_transport::{Exit, ExitStatus, Incoming, Signal};

use crate::{
    StartPhase,
    machine::{Command, Ended, Session, SessionConfig, SessionEvent, StartupCell, Submit},
};

/// Runs `script` against a session with one startup cell (`init`), a 10 s startup budget,
/// a 5 s interrupt grace and a 1 s shutdown grace, and renders what it did.
fn check(script: &str) -> String {
    Harness::new(vec![StartupCell {
        phase: StartPhase::Init,
        id: ExecId::new("init"),
        code: "import os".into(),
    }])
    .run(script)
}

/// Like [`check`], with no startup cells, so `hello` makes the session ready.
fn check_ready(script: &str) -> String {
    Harness::new(Vec::new()).run(&format!("hello\n{script}"))
}

struct Harness {
    session: Session,
    start: Instant,
    now: Instant,
    out: String,
}

impl Harness {
    fn new(startup_cells: Vec<StartupCell>) -> Self {
        let start = Instant::now();
        let session = Session::new(SessionConfig {
            startup_deadline: start + Duration::from_secs(10),
            startup_cells,
            interrupt_grace: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(1),
        });
        Self {
            session,
            start,
            now: start,
            out: String::new(),
        }
    }

    fn run(mut self, script: &str) -> String {
        self.drain();
        for line in script.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            self.step(line);
            self.drain();
        }
        self.out
    }

    fn step(&mut self, line: &str) {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let now = self.now;
        match verb {
            "hello" => {
                let mut protocol = PROTOCOL_VERSION;
                let mut features = Vec::new();
                for word in rest.split_whitespace() {
                    match word.parse() {
                        Ok(version) => protocol = version,
                        Err(_) => features.push(word),
                    }
                }
                let features = serde_json::to_string(&features).unwrap_or_default();
                let json = format!(
                    r#"{{"type":"hello","protocol":{protocol},"runner":"test","python":"3.12.1","pid":42,"features":{features}}}"#
                );
                self.recv(&json);
            }
            "<-" => self.recv(rest),
            "done" => {
                let mut words = rest.split(' ');
                let id = words.next().unwrap_or_default();
                let flags: Vec<&str> = words.collect();
                let status = if flags.contains(&"error") {
                    "error"
                } else {
                    "ok"
                };
                let cancelled = flags.contains(&"cancelled");
                self.recv(&format!(
                    r#"{{"type":"done","id":"{id}","status":"{status}","executionCount":7,"cancelled":{cancelled}}}"#
                ));
            }
            "exit" => {
                let (code, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let exit = Exit {
                    status: ExitStatus::Code(parse(code)),
                    stderr_tail: tail.into(),
                };
                self.session.handle_incoming(now, Incoming::Exited(exit));
            }
            "exec" => {
                let mut words = rest.splitn(2, ' ');
                let id = words.next().unwrap_or_default();
                let mut code = words.next().unwrap_or_default();
                let mut timeout = None;
                let mut allow_stdin = false;
                let mut continue_on_error = false;
                loop {
                    if let Some(tail) = code.strip_prefix("keep-going ") {
                        continue_on_error = true;
                        code = tail;
                    } else if let Some(after) = code.strip_prefix("timeout=") {
                        let (ms, tail) = after.split_once(' ').unwrap_or((after, ""));
                        timeout = Some(Duration::from_millis(parse(ms)));
                        code = tail;
                    } else if let Some(tail) = code.strip_prefix("stdin ") {
                        allow_stdin = true;
                        code = tail;
                    } else {
                        break;
                    }
                }
                let request = Execute {
                    allow_stdin,
                    ..Execute::new(ExecId::new(id), code.to_owned())
                };
                self.command(Command::Execute(Submit {
                    request,
                    timeout,
                    continue_on_error,
                }));
            }
            "cancel" => self.command(Command::Cancel(ExecId::new(rest))),
            "interrupt" => self.command(Command::Interrupt),
            "shutdown" => self.command(Command::Shutdown),
            "kill" => self.command(Command::Kill),
            "input" => {
                let (id, value) = rest.split_once(' ').unwrap_or((rest, ""));
                let reply = InputReply::line(ExecId::new(id), value);
                self.command(Command::InputReply(reply));
            }
            "input-eof" => self.command(Command::InputReply(InputReply::eof(ExecId::new(rest)))),
            "reply" => {
                let (call_id, value) = rest.split_once(' ').unwrap_or((rest, "null"));
                let reply = CallReply {
                    call_id: CallId::new(call_id),
                    result: serde_json::from_str(value).map_err(|err| err.to_string()),
                };
                self.command(Command::CallReply(reply));
            }
            "complete" => {
                let mut words = rest.splitn(3, ' ');
                let id = words.next().unwrap_or_default();
                let cursor = parse(words.next().unwrap_or_default());
                let code = words.next().unwrap_or_default().to_owned();
                let complete = Complete {
                    id: RequestId::new(id),
                    code,
                    cursor,
                };
                self.command(Command::Complete(complete));
            }
            "signal-failed" => {
                let signal = match rest {
                    "Interrupt" => Signal::Interrupt,
                    "Terminate" => Signal::Terminate,
                    _ => Signal::Kill,
                };
                self.session.handle_signal_failed(signal);
            }
            "send-failed" => self.session.handle_send_failed(),
            "advance" => self.advance(Duration::from_millis(parse(rest))),
            "idle?" => {
                let line = match self.session.idle_since() {
                    Some(since) => format!("~ idle since {}", (since - self.start).as_millis()),
                    None => "~ busy".to_owned(),
                };
                let _ = writeln!(self.out, "{line}");
            }
            other => panic!("unknown script verb `{other}`"),
        }
    }

    fn recv(&mut self, line: &str) {
        let decoded = match serde_json::from_str::<serde_json::Value>(line) {
            Err(err) => {
                Decoded::Malformed(malformed(line, MalformedKind::InvalidJson(err.to_string())))
            }
            Ok(_) => match serde_json::from_str::<Event>(line) {
                Ok(event) => Decoded::Frame(event),
                Err(err) => Decoded::Malformed(malformed(
                    line,
                    MalformedKind::InvalidFrame(err.to_string()),
                )),
            },
        };
        self.session
            .handle_incoming(self.now, Incoming::Frame(decoded));
    }

    fn command(&mut self, command: Command) {
        self.session.handle_command(self.now, command);
    }

    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(deadline) = self.session.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            let _ = writeln!(self.out, "@ {}", self.elapsed_ms());
            self.session.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    fn elapsed_ms(&self) -> u128 {
        (self.now - self.start).as_millis()
    }

    fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(request) = self.session.poll_transmit() {
                progress = true;
                let line = serde_json::to_string(&request).unwrap_or_else(|err| err.to_string());
                let _ = writeln!(self.out, "> {line}");
            }
            while let Some(signal) = self.session.poll_signal() {
                progress = true;
                let _ = writeln!(self.out, "! signal {signal:?}");
            }
            if self.session.poll_close_input() {
                progress = true;
                self.out.push_str("! close input\n");
            }
            while let Some(event) = self.session.poll_event() {
                progress = true;
                let _ = writeln!(self.out, "= {}", render_event(&event));
            }
            if !progress {
                break;
            }
        }
    }
}

fn render_event(event: &SessionEvent) -> String {
    match event {
        SessionEvent::Ready(hello) => format!("ready (python {}, pid {})", hello.python, hello.pid),
        SessionEvent::StartFailed(error) => format!("start failed: {error}"),
        SessionEvent::Output { id, output } => format!("output {id}: {output:?}"),
        SessionEvent::LateOutput { id, output } => format!("late output {id}: {output:?}"),
        SessionEvent::Finished {
            id,
            result: Ok(outcome),
        } => {
            let mut line = format!("finished {id}: {:?}", outcome.status);
            if let Some(count) = outcome.execution_count {
                let _ = write!(line, " count={count}");
            }
            for (flag, set) in [
                ("cancelled", outcome.cancelled()),
                ("timed_out", outcome.timed_out()),
                ("stdin_requested", outcome.stdin_requested()),
                ("kernel_killed", outcome.kernel_killed()),
                ("aborted", outcome.aborted()),
            ] {
                if set {
                    let _ = write!(line, " {flag}");
                }
            }
            if let Some(error) = &outcome.error {
                let _ = write!(line, " error={}: {}", error.ename, error.evalue);
            }
            line
        }
        SessionEvent::Finished {
            id,
            result: Err(error),
        } => format!("finished {id}: Err({error})"),
        SessionEvent::HostCall(call) => {
            format!("call {} {}({})", call.call_id, call.name, call.args)
        }
        SessionEvent::Completions {
            id,
            result: Ok(completions),
        } => format!(
            "completions {id}: {:?} {}..{}",
            completions.matches, completions.cursor_start, completions.cursor_end
        ),
        SessionEvent::Completions {
            id,
            result: Err(error),
        } => format!("completions {id}: Err({error})"),
        SessionEvent::Stopped(Ended::Died(exit)) => format!("stopped: died ({})", exit.status),
        SessionEvent::Stopped(Ended::Stopped { exit: Some(exit) }) => {
            format!("stopped: confirmed ({})", exit.status)
        }
        SessionEvent::Stopped(Ended::Stopped { exit: None }) => "stopped: unconfirmed".to_owned(),
    }
}

fn malformed(line: &str, kind: MalformedKind) -> Malformed {
    Malformed {
        kind,
        preview: line.chars().take(40).collect(),
        len: line.len(),
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> T {
    match text.parse() {
        Ok(value) => value,
        Err(_) => panic!("bad number `{text}` in the script"),
    }
}

#[test]
fn start_runs_the_startup_cells_after_hello() {
    let transcript = check(
        "
        hello
        <- {\"type\":\"started\",\"id\":\"init\"}
        <- {\"type\":\"stdout\",\"id\":\"init\",\"data\":\"ignored\"}
        done init
        exec 1 print(1)
        <- {\"type\":\"stdout\",\"id\":\"1\",\"data\":\"1\\n\"}
        done 1
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    > {"id":"init","code":"import os","silent":true,"storeHistory":false}
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"print(1)","silent":false,"storeHistory":true}
    = output 1: Stdout("1\n")
    = finished 1: Ok count=7
    "#);
}

#[test]
fn cells_queued_during_the_start_run_after_it_in_order() {
    let transcript = check(
        "
        exec 1 a
        exec 2 b
        hello
        done init
        done 1
        done 2
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    > {"id":"init","code":"import os","silent":true,"storeHistory":false}
    > {"id":"1","code":"a","silent":false,"storeHistory":true}
    = ready (python 3.12.1, pid 42)
    > {"id":"2","code":"b","silent":false,"storeHistory":true}
    = finished 1: Ok count=7
    = finished 2: Ok count=7
    "#);
}

#[test]
fn protocol_mismatch_fails_the_start_and_kills_the_runner() {
    let transcript = check(
        "
        hello 1
        exit -9
        ",
    );
    insta::assert_snapshot!(transcript, @"
    ! signal Kill
    ! close input
    = start failed: runner speaks protocol 1, host speaks 2
    = stopped: confirmed (exit code -9)
    ");
}

#[test]
fn startup_timeout_names_the_phase_and_kills_the_runner() {
    let handshake = check("advance 10000\nadvance 2000");
    insta::assert_snapshot!(handshake, @"
    @ 10000
    ! signal Kill
    ! close input
    = start failed: kernel handshake timed out
    @ 11000
    = stopped: unconfirmed
    ");
    let init = check("hello\nadvance 9999\nadvance 1\nexit -9");
    insta::assert_snapshot!(init, @r#"
    > {"id":"init","code":"import os","silent":true,"storeHistory":false}
    @ 10000
    ! signal Kill
    ! close input
    = start failed: kernel init timed out
    = stopped: confirmed (exit code -9)
    "#);
}

#[test]
fn a_failing_startup_cell_fails_the_start_with_its_exception() {
    let transcript = check(
        r#"
        hello
        <- {"type":"error","id":"init","ename":"ImportError","evalue":"no module named x","traceback":[]}
        done init error
        "#,
    );
    insta::assert_snapshot!(transcript, @r#"
    > {"id":"init","code":"import os","silent":true,"storeHistory":false}
    ! signal Kill
    ! close input
    = start failed: kernel init failed: ImportError: no module named x
    "#);
}

#[test]
fn exit_before_hello_fails_the_start_with_the_stderr_tail() {
    let transcript = check("exit 1 SyntaxError: invalid syntax");
    insta::assert_snapshot!(transcript, @r"
    = start failed: kernel died (exit code 1); stderr:
    SyntaxError: invalid syntax
    = stopped: died (exit code 1)
    ");
}

#[test]
fn shutdown_while_starting_kills_at_once() {
    let transcript = check("hello\nshutdown\nadvance 1000");
    insta::assert_snapshot!(transcript, @r#"
    > {"id":"init","code":"import os","silent":true,"storeHistory":false}
    ! signal Kill
    ! close input
    = start failed: kernel start cancelled
    @ 1000
    = stopped: unconfirmed
    "#);
}

#[test]
fn malformed_lines_unknown_ids_and_late_frames_are_skipped() {
    let transcript = check_ready(
        r#"
        exec 1 x
        <- not json at all
        <- {"type":"mystery","id":"1"}
        <- {"type":"stdout","id":"nobody","data":"lost"}
        <- {"type":"stdout","id":"1","data":"kept"}
        done 1
        <- {"type":"stdout","id":"1","data":"after done"}
        done 1
        hello
        "#,
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"x","silent":false,"storeHistory":true}
    = output 1: Stdout("kept")
    = finished 1: Ok count=7
    = late output 1: Stdout("after done")
    "#);
}

#[test]
fn outputs_and_errors_route_to_the_running_cell() {
    let transcript = check_ready(
        r#"
        exec 1 x
        <- {"type":"stderr","id":"1","data":"warn"}
        <- {"type":"display","id":"1","bundle":{"text/plain":"shown"}}
        <- {"type":"result","id":"1","bundle":{"text/plain":"42"},"metadata":{"text/plain":{"k":1}}}
        <- {"type":"error","id":"1","ename":"ValueError","evalue":"boom","traceback":["tb"]}
        done 1 error
        "#,
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"x","silent":false,"storeHistory":true}
    = output 1: Stderr("warn")
    = output 1: Display { bundle: MimeBundle({"text/plain": String("shown")}), metadata: {} }
    = output 1: Result { bundle: MimeBundle({"text/plain": String("42")}), metadata: {"text/plain": Object {"k": Number(1)}} }
    = output 1: Error(PyError { ename: "ValueError", evalue: "boom", traceback: ["tb"] })
    = finished 1: Error count=7 error=ValueError: boom
    "#);
}

#[test]
fn a_queued_cell_cancelled_before_it_starts_is_never_sent() {
    let transcript = check_ready(
        "
        exec 1 first
        exec 2 second
        exec 3 third
        cancel 2
        done 1
        done 3
        cancel 3
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"first","silent":false,"storeHistory":true}
    = finished 2: Error cancelled
    > {"id":"3","code":"third","silent":false,"storeHistory":true}
    = finished 1: Ok count=7
    = finished 3: Ok count=7
    "#);
}

#[test]
fn cancel_interrupts_and_the_cell_ends_cancelled() {
    let transcript = check_ready(
        "
        exec 1 loop
        cancel 1
        cancel 1
        advance 200
        done 1 error cancelled
        advance 10000
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"loop","silent":false,"storeHistory":true}
    ! signal Interrupt
    = finished 1: Error count=7 cancelled
    "#);
}

#[test]
fn escalation_kills_exactly_at_the_interrupt_grace() {
    let transcript = check_ready(
        "
        exec 1 stubborn
        exec 2 queued
        cancel 1
        advance 4999
        advance 1
        advance 1000
        advance 500
        exit -9
        exec 3 later
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"stubborn","silent":false,"storeHistory":true}
    ! signal Interrupt
    @ 5000
    ! signal Terminate
    = finished 1: Error cancelled kernel_killed
    = finished 2: Error cancelled kernel_killed
    @ 6000
    ! signal Kill
    = stopped: confirmed (exit code -9)
    = finished 3: Err(kernel is not running)
    "#);
}

#[test]
fn timeout_interrupts_then_escalates() {
    let answered = check_ready(
        "
        exec 1 timeout=2000 sleep
        advance 1999
        advance 1
        done 1 error cancelled
        ",
    );
    insta::assert_snapshot!(answered, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"sleep","silent":false,"storeHistory":true}
    @ 2000
    ! signal Interrupt
    = finished 1: Error count=7 cancelled timed_out
    "#);
    let ignored = check_ready("exec 1 timeout=2000 stubborn\nadvance 7000\nexit 143");
    insta::assert_snapshot!(ignored, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"stubborn","silent":false,"storeHistory":true}
    @ 2000
    ! signal Interrupt
    @ 7000
    ! signal Terminate
    = finished 1: Error cancelled timed_out kernel_killed
    = stopped: confirmed (exit code 143)
    "#);
}

#[test]
fn the_timeout_counts_from_when_the_cell_is_sent() {
    let transcript = check_ready(
        "
        exec 1 first
        exec 2 timeout=1000 second
        advance 5000
        done 1
        advance 999
        done 2
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"first","silent":false,"storeHistory":true}
    > {"id":"2","code":"second","silent":false,"storeHistory":true}
    = finished 1: Ok count=7
    = finished 2: Ok count=7
    "#);
}

#[test]
fn interrupt_signals_only_while_busy_and_falls_back_in_band() {
    let transcript = check_ready(
        "
        interrupt
        exec 1 x
        interrupt
        signal-failed Interrupt
        done 1 error cancelled
        interrupt
        advance 10000
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"x","silent":false,"storeHistory":true}
    ! signal Interrupt
    > {"type":"interrupt"}
    = finished 1: Error count=7 cancelled
    "#);
}

#[test]
fn death_mid_cell_ends_running_and_queued_with_died() {
    let transcript = check_ready(
        "
        exec 1 os._exit(3)
        exec 2 queued
        exit 3 Traceback: oops
        exec 4 later
        shutdown
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"os._exit(3)","silent":false,"storeHistory":true}
    = finished 1: Err(kernel died (exit code 3); stderr:
    Traceback: oops)
    = finished 2: Err(kernel died (exit code 3); stderr:
    Traceback: oops)
    = stopped: died (exit code 3)
    = finished 4: Err(kernel died (exit code 3); stderr:
    Traceback: oops)
    "#);
}

#[test]
fn shutdown_escalates_exit_then_term_then_kill_at_the_graces() {
    let transcript = check_ready(
        "
        exec 1 running
        exec 2 queued
        shutdown
        shutdown
        exec 3 too late
        advance 999
        advance 1
        advance 1000
        advance 1000
        shutdown
        exit 0
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"running","silent":false,"storeHistory":true}
    > {"type":"exit"}
    ! close input
    = finished 1: Error cancelled kernel_killed
    = finished 2: Error cancelled kernel_killed
    = finished 3: Err(kernel is not running)
    @ 1000
    ! signal Terminate
    @ 2000
    ! signal Kill
    @ 3000
    = stopped: unconfirmed
    "#);
}

#[test]
fn graceful_shutdown_confirms_a_clean_exit() {
    let transcript = check_ready("shutdown\nadvance 300\nexit 0\nadvance 5000");
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"type":"exit"}
    ! close input
    = stopped: confirmed (exit code 0)
    "#);
}

#[test]
fn input_is_relayed_when_allowed_and_refused_otherwise() {
    let allowed = check_ready(
        r#"
        exec 1 stdin input()
        input 1 too early
        <- {"type":"input_request","id":"1","prompt":"name? ","password":false}
        input 2 wrong cell
        input 1 Ada
        input 1 once only
        done 1
        "#,
    );
    insta::assert_snapshot!(allowed, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"input()","silent":false,"storeHistory":true,"allowStdin":true}
    = output 1: InputRequest { prompt: "name? ", password: false }
    > {"type":"input_reply","id":"1","value":"Ada"}
    = finished 1: Ok count=7
    "#);
    let refused = check_ready(
        r#"
        exec 1 input()
        <- {"type":"input_request","id":"1","prompt":"name? ","password":false}
        <- {"type":"error","id":"1","ename":"KeyboardInterrupt","evalue":"","traceback":[]}
        done 1 error cancelled
        "#,
    );
    insta::assert_snapshot!(refused, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"input()","silent":false,"storeHistory":true}
    ! signal Interrupt
    = output 1: Error(PyError { ename: "KeyboardInterrupt", evalue: "", traceback: [] })
    = finished 1: Error count=7 stdin_requested error=KeyboardInterrupt:
    "#);
    let refused_by_the_runner = check_ready(
        r#"
        exec 1 input()
        <- {"type":"error","id":"1","ename":"StdinNotImplementedError","evalue":"no","traceback":[]}
        done 1 error
        exec 2 stdin input()
        <- {"type":"error","id":"2","ename":"StdinNotImplementedError","evalue":"no","traceback":[]}
        done 2 error
        "#,
    );
    insta::assert_snapshot!(refused_by_the_runner, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"input()","silent":false,"storeHistory":true}
    = output 1: Error(PyError { ename: "StdinNotImplementedError", evalue: "no", traceback: [] })
    = finished 1: Error count=7 stdin_requested error=StdinNotImplementedError: no
    > {"id":"2","code":"input()","silent":false,"storeHistory":true,"allowStdin":true}
    = output 2: Error(PyError { ename: "StdinNotImplementedError", evalue: "no", traceback: [] })
    = finished 2: Error count=7 error=StdinNotImplementedError: no
    "#);
}

#[test]
fn host_calls_go_to_the_callers_and_stray_calls_get_an_error() {
    let transcript = check_ready(
        r#"
        exec 1 tool()
        <- {"type":"call","id":"1","callId":"c1","name":"lookup","args":{"q":1}}
        reply c1 {"answer":2}
        <- {"type":"call","id":"old","callId":"c2","name":"lookup","args":null}
        done 1
        "#,
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"tool()","silent":false,"storeHistory":true}
    = call c1 lookup({"q":1})
    > {"type":"reply","callId":"c1","ok":true,"value":{"answer":2}}
    > {"type":"reply","callId":"c2","ok":false,"error":"execution old is not running"}
    = finished 1: Ok count=7
    "#);
}

#[test]
fn death_while_idle_then_calls_fail_fast() {
    let transcript = check_ready("exit 137\nexec 1 x\ninterrupt\ncancel 1\nshutdown");
    insta::assert_snapshot!(transcript, @"
    = ready (python 3.12.1, pid 42)
    = stopped: died (exit code 137)
    = finished 1: Err(kernel died (exit code 137))
    ");
}

#[test]
fn a_failed_write_kills_the_runner() {
    let transcript = check_ready("exec 1 x\nsend-failed\nexit -9");
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"x","silent":false,"storeHistory":true}
    ! signal Kill
    = finished 1: Err(kernel died (exit code -9))
    = stopped: died (exit code -9)
    "#);
}

#[test]
fn kill_sends_sigkill_at_once_and_ends_running_and_queued() {
    let transcript = check_ready(
        "
        exec 1 running
        exec 2 queued
        kill
        kill
        shutdown
        exec 3 too late
        exit -9
        kill
        advance 10000
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"running","silent":false,"storeHistory":true}
    ! signal Kill
    ! close input
    = finished 1: Error cancelled kernel_killed
    = finished 2: Error cancelled kernel_killed
    = finished 3: Err(kernel is not running)
    = stopped: confirmed (exit code -9)
    "#);
}

#[test]
fn kill_while_idle_gives_up_after_the_grace_when_no_exit_comes() {
    let transcript = check_ready("kill\nadvance 999\nadvance 1\nadvance 5000");
    insta::assert_snapshot!(transcript, @"
    = ready (python 3.12.1, pid 42)
    ! signal Kill
    ! close input
    @ 1000
    = stopped: unconfirmed
    ");
}

#[test]
fn kill_cuts_a_graceful_shutdown_short() {
    let from_exit = check_ready(
        "
        exec 1 running
        shutdown
        advance 500
        kill
        kill
        advance 999
        exit -9
        ",
    );
    insta::assert_snapshot!(from_exit, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"running","silent":false,"storeHistory":true}
    > {"type":"exit"}
    ! close input
    = finished 1: Error cancelled kernel_killed
    ! signal Kill
    = stopped: confirmed (exit code -9)
    "#);
    let from_terminate = check_ready("shutdown\nadvance 1000\nkill\nadvance 1000\nkill");
    insta::assert_snapshot!(from_terminate, @r#"
    = ready (python 3.12.1, pid 42)
    > {"type":"exit"}
    ! close input
    @ 1000
    ! signal Terminate
    ! signal Kill
    @ 2000
    = stopped: unconfirmed
    "#);
}

#[test]
fn kill_while_starting_cancels_the_start() {
    let transcript = check("hello\nkill\nexit -9");
    insta::assert_snapshot!(transcript, @r#"
    > {"id":"init","code":"import os","silent":true,"storeHistory":false}
    ! signal Kill
    ! close input
    = start failed: kernel start cancelled
    = stopped: confirmed (exit code -9)
    "#);
}

#[test]
fn idle_since_is_when_the_queue_last_drained() {
    let transcript = check(
        "
        idle?
        hello
        advance 20
        done init
        idle?
        advance 80
        exec 1 a
        exec 2 b
        idle?
        advance 100
        done 1
        idle?
        advance 50
        done 2
        idle?
        advance 1000
        idle?
        shutdown
        advance 10
        exit 0
        idle?
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    ~ busy
    > {"id":"init","code":"import os","silent":true,"storeHistory":false}
    = ready (python 3.12.1, pid 42)
    ~ idle since 20
    > {"id":"1","code":"a","silent":false,"storeHistory":true}
    ~ busy
    > {"id":"2","code":"b","silent":false,"storeHistory":true}
    = finished 1: Ok count=7
    ~ busy
    = finished 2: Ok count=7
    ~ idle since 250
    ~ idle since 250
    > {"type":"exit"}
    ! close input
    = stopped: confirmed (exit code 0)
    ~ idle since 250
    "#);
    let killed = check_ready("exec 1 a\nadvance 300\nkill\nidle?\nadvance 20\nexit -9\nidle?");
    insta::assert_snapshot!(killed, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"a","silent":false,"storeHistory":true}
    ! signal Kill
    ! close input
    = finished 1: Error cancelled kernel_killed
    ~ idle since 300
    = stopped: confirmed (exit code -9)
    ~ idle since 300
    "#);
    let died = check_ready("exec 1 a\nadvance 300\nexit 1\nidle?");
    insta::assert_snapshot!(died, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"a","silent":false,"storeHistory":true}
    = finished 1: Err(kernel died (exit code 1))
    = stopped: died (exit code 1)
    ~ idle since 300
    "#);
}

#[test]
fn a_cell_queued_during_the_start_times_out_from_when_it_is_sent() {
    let transcript =
        check("exec 1 timeout=1000 a\nadvance 3000\nhello\ndone init\nadvance 999\nadvance 1");
    insta::assert_snapshot!(transcript, @r#"
    > {"id":"init","code":"import os","silent":true,"storeHistory":false}
    > {"id":"1","code":"a","silent":false,"storeHistory":true}
    = ready (python 3.12.1, pid 42)
    @ 4000
    ! signal Interrupt
    "#);
}

#[test]
fn the_end_of_input_is_relayed_once_like_a_line() {
    let transcript = check_ready(
        r#"
        exec 1 stdin input()
        input-eof 1
        <- {"type":"input_request","id":"1","prompt":"","password":false}
        input-eof 1
        input 1 too late
        done 1 error
        "#,
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"input()","silent":false,"storeHistory":true,"allowStdin":true}
    = output 1: InputRequest { prompt: "", password: false }
    > {"type":"input_reply","id":"1","value":"","eof":true}
    = finished 1: Error count=7
    "#);
}

#[test]
fn completion_goes_out_at_once_even_while_a_cell_runs() {
    let transcript = Harness::new(Vec::new()).run(
        "
        hello complete
        complete c-1 3 imp
        <- {\"type\":\"completions\",\"id\":\"c-1\",\"matches\":[\"import\"],\"cursorStart\":0,\"cursorEnd\":3}
        exec 1 long()
        exec 2 queued()
        complete c-2 2 x.
        <- {\"type\":\"completions\",\"id\":\"c-2\",\"matches\":[\"x.real\"],\"cursorStart\":0,\"cursorEnd\":2}
        idle?
        done 1
        done 2
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"type":"complete","id":"c-1","code":"imp","cursor":3}
    = completions c-1: ["import"] 0..3
    > {"id":"1","code":"long()","silent":false,"storeHistory":true}
    > {"type":"complete","id":"c-2","code":"x.","cursor":2}
    = completions c-2: ["x.real"] 0..2
    ~ busy
    > {"id":"2","code":"queued()","silent":false,"storeHistory":true}
    = finished 1: Ok count=7
    = finished 2: Ok count=7
    "#);
}

#[test]
fn completion_needs_the_runner_feature() {
    // `check_ready` says hello without features: an older runner is never asked.
    let transcript = check_ready("complete c-1 1 x");
    insta::assert_snapshot!(transcript, @"
    = ready (python 3.12.1, pid 42)
    = completions c-1: Err(the runner does not support `complete`)
    ");
}

#[test]
fn completion_after_the_end_fails_at_once() {
    let transcript = Harness::new(Vec::new()).run(
        "
        hello complete
        shutdown
        complete c-1 1 x
        exit 0
        complete c-2 1 x
        # An answer that comes late is passed on; the driver drops it if nobody waits.
        <- {\"type\":\"completions\",\"id\":\"c-9\",\"matches\":[],\"cursorStart\":0,\"cursorEnd\":0}
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"type":"exit"}
    ! close input
    = completions c-1: Err(kernel is not running)
    = stopped: confirmed (exit code 0)
    = completions c-2: Err(kernel is not running)
    = completions c-9: [] 0..0
    "#);
}

#[test]
fn completion_after_death_names_the_death() {
    let transcript = Harness::new(Vec::new()).run(
        "
        hello complete
        exit 3 boom
        complete c-1 1 x
        ",
    );
    insta::assert_snapshot!(transcript, @"
    = ready (python 3.12.1, pid 42)
    = stopped: died (exit code 3)
    = completions c-1: Err(kernel died (exit code 3); stderr:
    boom)
    ");
}

#[test]
fn an_unanswered_completion_times_out_in_the_machine() {
    let transcript = Harness::new(Vec::new()).run(
        "
        hello complete
        complete c-1 1 x
        advance 1000
        complete c-2 1 y
        # c-1 is due at 2 s, c-2 at 3 s; an answer after the timeout is passed on.
        advance 1000
        advance 999
        <- {\"type\":\"completions\",\"id\":\"c-1\",\"matches\":[],\"cursorStart\":0,\"cursorEnd\":0}
        advance 1
        ",
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"type":"complete","id":"c-1","code":"x","cursor":1}
    > {"type":"complete","id":"c-2","code":"y","cursor":1}
    @ 2000
    = completions c-1: Err(the runner did not answer the completion in time)
    = completions c-1: [] 0..0
    @ 3000
    = completions c-2: Err(the runner did not answer the completion in time)
    "#);
}

#[test]
fn a_done_whose_execution_count_jumps_is_ignored() {
    let transcript = check_ready(
        r#"
        exec 1 x = 1
        <- {"type":"done","id":"1","status":"ok","executionCount":1,"cancelled":false}
        exec 2 forge()
        <- {"type":"done","id":"2","status":"ok","executionCount":99,"cancelled":false}
        <- {"type":"done","id":"2","status":"ok","executionCount":0,"cancelled":false}
        <- {"type":"done","id":"2","status":"error","executionCount":2,"cancelled":false}
        "#,
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"x = 1","silent":false,"storeHistory":true}
    = finished 1: Ok count=1
    > {"id":"2","code":"forge()","silent":false,"storeHistory":true}
    = finished 2: Error count=2
    "#);
}

#[test]
fn a_failed_cell_aborts_the_queue_unless_it_keeps_going() {
    let transcript = check_ready(
        r#"
        exec 1 1 / 0
        exec 2 print('queued')
        exec 3 print('queued too')
        <- {"type":"error","id":"1","ename":"ZeroDivisionError","evalue":"division by zero","traceback":[]}
        done 1 error
        exec 4 keep-going 1 / 0
        exec 5 print('runs')
        <- {"type":"error","id":"4","ename":"ZeroDivisionError","evalue":"division by zero","traceback":[]}
        done 4 error
        "#,
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"1 / 0","silent":false,"storeHistory":true}
    = output 1: Error(PyError { ename: "ZeroDivisionError", evalue: "division by zero", traceback: [] })
    = finished 1: Error count=7 error=ZeroDivisionError: division by zero
    = finished 2: Error aborted
    = finished 3: Error aborted
    > {"id":"4","code":"1 / 0","silent":false,"storeHistory":true}
    = output 4: Error(PyError { ename: "ZeroDivisionError", evalue: "division by zero", traceback: [] })
    > {"id":"5","code":"print('runs')","silent":false,"storeHistory":true}
    = finished 4: Error count=7 error=ZeroDivisionError: division by zero
    "#);
}

#[test]
fn a_host_call_in_progress_holds_the_cell_timeout() {
    // The cell times out after 1000 ms of its own time: 400 before the first call, the
    // calls (overlapping, 5000 ms in all) do not count, then 600 after the last reply.
    let transcript = check_ready(
        r#"
        exec 1 timeout=1000 tool()
        advance 400
        <- {"type":"call","id":"1","callId":"c1","name":"slow","args":null}
        advance 3000
        <- {"type":"call","id":"1","callId":"c2","name":"slow","args":null}
        reply c1 1
        advance 2000
        reply c2 2
        advance 599
        advance 1
        done 1 error cancelled
        "#,
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"tool()","silent":false,"storeHistory":true}
    = call c1 slow(null)
    = call c2 slow(null)
    > {"type":"reply","callId":"c1","ok":true,"value":1}
    > {"type":"reply","callId":"c2","ok":true,"value":2}
    @ 6000
    ! signal Interrupt
    = finished 1: Error count=7 cancelled timed_out
    "#);
}

#[test]
fn an_answered_call_gives_back_only_the_time_it_took() {
    // A reply for a call of another cell, or one already answered, resumes nothing.
    let transcript = check_ready(
        r#"
        exec 1 timeout=1000 tool()
        <- {"type":"call","id":"1","callId":"c1","name":"quick","args":null}
        advance 100
        reply c1 1
        reply c1 1
        reply c9 1
        advance 1000
        done 1 error cancelled
        "#,
    );
    insta::assert_snapshot!(transcript, @r#"
    = ready (python 3.12.1, pid 42)
    > {"id":"1","code":"tool()","silent":false,"storeHistory":true}
    = call c1 quick(null)
    > {"type":"reply","callId":"c1","ok":true,"value":1}
    > {"type":"reply","callId":"c1","ok":true,"value":1}
    > {"type":"reply","callId":"c9","ok":true,"value":1}
    @ 1100
    ! signal Interrupt
    = finished 1: Error count=7 cancelled timed_out
    "#);
}

#[test]
fn display_ids_updates_and_clears_become_outputs() {
    insta::assert_snapshot!(check_ready(r#"
exec 1 x
<- {"type":"display","id":"1","bundle":{"text/plain":"0%"},"displayId":"bar","metadata":{"width":5}}
<- {"type":"update_display","id":"1","bundle":{"text/plain":"9%"},"displayId":"bar","metadata":{"width":6}}
<- {"type":"clear_output","id":"1","wait":true}
<- {"type":"display","id":"1","bundle":{"image/png":"iVBORw0KGgo="},"metadata":{"image/png":{"width":50}}}
done 1
"#), @r#"
= ready (python 3.12.1, pid 42)
> {"id":"1","code":"x","silent":false,"storeHistory":true}
= output 1: DisplayWithId { display_id: "bar", bundle: MimeBundle({"text/plain": String("0%")}), metadata: {"width": Number(5)} }
= output 1: UpdateDisplay { display_id: "bar", bundle: MimeBundle({"text/plain": String("9%")}), metadata: {"width": Number(6)} }
= output 1: ClearOutput { wait: true }
= output 1: Display { bundle: MimeBundle({"image/png": String("iVBORw0KGgo=")}), metadata: {"image/png": Object {"width": Number(50)}} }
= finished 1: Ok count=7
"#);
}

#[test]
fn output_for_the_cell_that_ended_last_is_late_output() {
    insta::assert_snapshot!(check_ready(r#"
exec 1 spawn a thread
done 1
<- {"type":"stdout","id":"1","data":"late while idle\n"}
exec 2 x
<- {"type":"stdout","id":"1","data":"late while 2 runs\n"}
<- {"type":"update_display","id":"1","bundle":{"text/plain":"y"},"displayId":"d"}
<- {"type":"result","id":"1","bundle":{"text/plain":"no late results"}}
<- {"type":"stdout","id":"0","data":"never ran: ignored\n"}
done 2
<- {"type":"stdout","id":"1","data":"no longer the last: ignored\n"}
"#), @r#"
= ready (python 3.12.1, pid 42)
> {"id":"1","code":"spawn a thread","silent":false,"storeHistory":true}
= finished 1: Ok count=7
= late output 1: Stdout("late while idle\n")
> {"id":"2","code":"x","silent":false,"storeHistory":true}
= late output 1: Stdout("late while 2 runs\n")
= late output 1: UpdateDisplay { display_id: "d", bundle: MimeBundle({"text/plain": String("y")}), metadata: {} }
= finished 2: Ok count=7
"#);
}

//! The kernel's sans-IO state machine: one runner's lifecycle and its execution queue.
//!
//! [`Session`] never awaits and never reads a clock. The driver feeds it what happened
//! (`handle_*`, each taking `now`) and carries out what it asks for (`poll_*`): requests to
//! write, signals to deliver, closing the runner's input, events for the callers, and the
//! next instant at which [`Session::handle_timeout`] must be called.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use pykernel_protocol::{
    Call, CallId, CallReply, Complete, Completions, Decoded, DisplayData, Done, Event, ExecId,
    Execute, FEATURE_COMPLETE, Hello, HostCommMsg, InputReply, InputRequest, PROTOCOL_VERSION,
    Request, RequestId, Status,
};
use pykernel_transport::{Exit, Incoming, Signal};
use tracing::{debug, warn};

use crate::{
    COMPLETE_TIMEOUT, CommKind, CommMessage, Interrupt, KernelError, Outcome, Output, PyError,
    ShutdownReport, StartPhase, Stop,
};

pub(crate) mod keepalive;

/// What a session needs to know when it is created.
#[derive(Debug)]
pub(crate) struct SessionConfig {
    /// When the whole start (handshake and startup cells) must be over.
    pub(crate) startup_deadline: Instant,
    /// Cells run silently after the handshake, in order, before the kernel is ready.
    pub(crate) startup_cells: Vec<StartupCell>,
    /// How long a cancelled or timed-out cell may take to end before the kernel is killed.
    pub(crate) interrupt_grace: Duration,
    /// How long each shutdown step waits before escalating.
    pub(crate) shutdown_grace: Duration,
}

/// A silent cell run as part of the start, such as `init` or `prelude`.
#[derive(Clone, Debug)]
pub(crate) struct StartupCell {
    /// The step, named in errors.
    pub(crate) phase: StartPhase,
    /// The execution id it is sent with.
    pub(crate) id: ExecId,
    /// The cell source.
    pub(crate) code: String,
}

/// A cell a caller wants to run.
#[derive(Clone, Debug)]
pub(crate) struct Submit {
    /// The request as it will be written; its `allow_stdin` decides how `input()` is answered.
    pub(crate) request: Execute,
    /// How long the cell may run once sent, before it is interrupted.
    pub(crate) timeout: Option<Duration>,
    /// Whether the queued cells still run when this one fails.
    pub(crate) continue_on_error: bool,
}

/// Something a caller asked for.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    /// Queue a cell.
    Execute(Submit),
    /// Drop a queued cell, or interrupt and escalate a running one.
    Cancel(ExecId),
    /// Interrupt the running cell, without escalation; nothing when idle.
    Interrupt,
    /// Stop the runner: gracefully once started, at once while starting.
    Shutdown,
    /// Stop the runner at once (SIGKILL), also cutting a graceful shutdown short.
    Kill,
    /// Answer the running cell's `input()`.
    InputReply(InputReply),
    /// Answer a host call.
    CallReply(CallReply),
    /// Ask the runner for completions; answered by [`SessionEvent::Completions`].
    Complete(Complete),
    /// Send a frontend's message to a comm; the runner handles it between cells.
    CommMsg(HostCommMsg),
}

/// Something the callers must learn.
#[derive(Debug)]
pub(crate) enum SessionEvent {
    /// The handshake and the startup cells are done; the kernel takes cells.
    Ready(Hello),
    /// The start failed; the runner is being killed.
    StartFailed(KernelError),
    /// Output of a cell whose `done` already came (a background thread it started wrote
    /// after it ended); no execution takes it.
    LateOutput {
        /// The execution that ended before the output came.
        id: ExecId,
        /// The output.
        output: Output,
    },
    /// A running cell produced an output.
    Output {
        /// The execution.
        id: ExecId,
        /// The output.
        output: Output,
    },
    /// An execution is over; no event about it follows.
    Finished {
        /// The execution.
        id: ExecId,
        /// Its outcome, or why the session could not give one.
        result: Result<Outcome, KernelError>,
    },
    /// The running cell calls a host function; answer with [`Command::CallReply`].
    HostCall(Call),
    /// The answer to a [`Command::Complete`]: the runner's, or why there is none. A
    /// request the runner never answers gets no event; the caller bounds its wait.
    Completions {
        /// The request.
        id: RequestId,
        /// The runner's answer.
        result: Result<Completions, KernelError>,
    },
    /// The session is over; nothing follows.
    Stopped(Ended),
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The runner exited while nobody asked it to.
    Died(Exit),
    /// The session was shut down (by a caller, a failed start or an escalation); `exit` is
    /// `None` when the runner's exit was never observed.
    Stopped {
        /// The observed exit.
        exit: Option<Exit>,
    },
}

impl Ended {
    /// What `Kernel::shutdown` reports for this end.
    pub(crate) fn report(&self) -> ShutdownReport {
        let exit = match self {
            Self::Died(exit) => Some(exit),
            Self::Stopped { exit } => exit.as_ref(),
        };
        ShutdownReport {
            status: exit.map(|exit| exit.status),
        }
    }

    /// The error for an execution that cannot run because the session ended this way.
    pub(crate) fn error(&self) -> KernelError {
        match self {
            Self::Died(exit) => died(exit),
            Self::Stopped { .. } => KernelError::NotRunning,
        }
    }
}

/// One runner's lifecycle: handshake, startup cells, a queue of cells run one at a time,
/// interrupts with escalation, and shutdown.
///
/// ```text
///  Starting{Handshake}
///     │ hello, version ok               bad version, a startup cell failed,
///     ▼                                 the start deadline, start cancelled
///  Starting{Cell} (init, prelude) ──────────────────────────► ShuttingDown{Kill}
///     │ last startup cell done
///     ▼
///   Idle ──── execute ────► Busy ──┐ done, queue not empty:
///     ▲                      │ ▲ ──┘ the next cell is sent
///     └── done, queue empty ─┤
///                            │ cancel, timeout or refused input(): SIGINT and a kill timer;
///                            │ the kill timer fires (interrupt grace): SIGTERM
///                            └─────────────────────────────────────────────┐
///                                                                          ▼
///  Idle, Busy ── shutdown ──► ShuttingDown{Exit} ── grace: SIGTERM ──► ShuttingDown{Terminate}
///                                                                          │ grace: SIGKILL
///  Idle, Busy, ShuttingDown{Exit, Terminate} ── kill: SIGKILL ────────────►│
///                                                                          ▼
///                                                                      ShuttingDown{Kill}
///                                                                          │ grace: give up (unconfirmed)
///                                                                          ▼
///  Dead(Stopped) ◄── the runner's exit, seen in any ShuttingDown step
///  Dead(Died)    ◄── the runner's exit seen in Starting, Idle or Busy: every pending
///                    execution ends at once with `KernelError::Died`
/// ```
///
/// Each `grace` on the shutdown path is the shutdown grace; a `Dead(Stopped)` reached by
/// giving up reports the shutdown as unconfirmed.
/// Cells wait in a host-side queue and are written one at a time, when the previous one
/// is done, so a queued cell can be dropped without the runner ever seeing it and an
/// interrupt always reaches the cell it was meant for.
/// Shutting down (asked for, or escalated from an unanswered interrupt) ends the running
/// and queued executions at once with `kernel_killed`. A kill skips the graceful steps:
/// SIGKILL at once, also in the middle of a graceful shutdown.
#[derive(Debug)]
pub(crate) struct Session {
    state: State,
    queue: VecDeque<Submit>,
    interrupt_grace: Duration,
    shutdown_grace: Duration,
    transmits: VecDeque<Request>,
    signals: VecDeque<Signal>,
    close_input: bool,
    events: VecDeque<SessionEvent>,
    /// The runner announced [`FEATURE_COMPLETE`] in its `hello`.
    completes: bool,
    /// Completion requests sent and not yet answered, with when each times out; in
    /// deadline order, since every request gets the same [`COMPLETE_TIMEOUT`].
    pending_completions: VecDeque<(RequestId, Instant)>,
    /// The execution count of the last `done` accepted: a `done` whose count goes back or
    /// jumps ahead cannot come from the runner (user code forged it on the frame fd).
    execution_count: Option<u64>,
    /// The last user cell whose `done` came: the runner sends what a background thread
    /// writes after its cell ended under that cell's id.
    last_done: Option<ExecId>,
    /// The keepalive on a launcher's link (see [`Session::with_keepalive`]).
    keepalive: Option<keepalive::Pinger>,
}

#[derive(Debug)]
enum State {
    /// The runner was spawned; the start is not over.
    Starting { deadline: Instant, step: StartStep },
    /// Ready, nothing running, the queue is empty since `since`.
    Idle { since: Instant },
    /// One cell was written and its `done` has not come.
    Busy(Running),
    /// Stopping the runner; each step waits until `deadline` before escalating. Nothing
    /// has run or waited since `since`.
    ShuttingDown {
        step: ShutdownStep,
        deadline: Instant,
        since: Instant,
    },
    /// Over; nothing has run or waited since `since`.
    Dead { ended: Ended, since: Instant },
}

#[derive(Debug)]
enum StartStep {
    /// Waiting for `hello`.
    Handshake { cells: VecDeque<StartupCell> },
    /// Running a startup cell.
    Cell(Box<StartCell>),
}

/// A startup cell in flight, and what comes after it.
#[derive(Debug)]
struct StartCell {
    hello: Hello,
    phase: StartPhase,
    running: Running,
    cells: VecDeque<StartupCell>,
}

/// What the session knows about the cell the runner is running.
#[derive(Debug)]
struct Running {
    id: ExecId,
    allow_stdin: bool,
    /// When the cell's timeout fires; `None` once it fired or when it has none.
    timeout_at: Option<Instant>,
    /// When the kernel is killed if the cell has not ended; armed by cancel, timeout or a
    /// refused `input()`.
    kill_at: Option<Instant>,
    /// Why the host interrupted it (the first reason wins): the caller cancelled it, its
    /// timeout fired, or it called `input()` although stdin was not allowed.
    interrupt: Option<Interrupt>,
    /// Its `input()` waits for the caller's reply.
    awaiting_input: bool,
    /// Host calls of the cell in progress, which hold its timeout.
    pause: Option<Pause>,
    error: Option<PyError>,
    /// The displays the runner cut down to fit, in order.
    truncated: Vec<crate::TruncatedDisplay>,
    /// The queued cells still run when this one fails.
    continue_on_error: bool,
}

/// A cell's timeout stands still while one of its host calls is in progress, so a slow
/// host function never times out the cell that waits for it; the time spent is added to
/// the timeout when the last call is answered.
#[derive(Debug)]
struct Pause {
    since: Instant,
    calls: Vec<CallId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ShutdownStep {
    /// `exit` was written and input closed.
    Exit,
    /// SIGTERM was sent to the process group.
    Terminate,
    /// SIGKILL was sent to the process group.
    Kill,
}

/// How hard a shutdown starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ShutdownMode {
    /// `exit`, close input, then SIGTERM and SIGKILL at the graces.
    Graceful,
    /// SIGTERM, then SIGKILL: the runner is stuck in user code and cannot read `exit`.
    Forceful,
    /// SIGKILL at once: a start that failed or was cancelled, or a caller's kill.
    Immediate,
}

impl Session {
    /// A session for a runner that was just spawned.
    pub(crate) fn new(config: SessionConfig) -> Self {
        Self {
            state: State::Starting {
                deadline: config.startup_deadline,
                step: StartStep::Handshake {
                    cells: config.startup_cells.into(),
                },
            },
            queue: VecDeque::new(),
            interrupt_grace: config.interrupt_grace,
            shutdown_grace: config.shutdown_grace,
            transmits: VecDeque::new(),
            signals: VecDeque::new(),
            close_input: false,
            events: VecDeque::new(),
            completes: false,
            pending_completions: VecDeque::new(),
            execution_count: None,
            last_done: None,
            keepalive: None,
        }
    }

    /// Whether the session takes cells: starting, idle or busy.
    pub(crate) fn is_alive(&self) -> bool {
        matches!(
            self.state,
            State::Starting { .. } | State::Idle { .. } | State::Busy(_)
        )
    }

    /// How the session ended, once it has.
    pub(crate) fn ended(&self) -> Option<&Ended> {
        match &self.state {
            State::Dead { ended, .. } => Some(ended),
            _ => None,
        }
    }

    /// When the session last ran out of work: `None` while it starts or while a cell runs
    /// or waits in the queue; otherwise the instant the last cell ended (or was ended by a
    /// shutdown, or by the runner's death).
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        match &self.state {
            State::Starting { .. } | State::Busy(_) => None,
            State::Idle { since }
            | State::ShuttingDown { since, .. }
            | State::Dead { since, .. } => Some(*since),
        }
    }

    /// Feeds one thing the transport received.
    pub(crate) fn handle_incoming(&mut self, now: Instant, incoming: Incoming) {
        if let Incoming::Frame(_) = &incoming {
            self.keepalive_heard(now);
        }
        match incoming {
            Incoming::Frame(Decoded::Frame(event)) => self.handle_event(now, event),
            Incoming::Frame(Decoded::Malformed(malformed)) => {
                warn!(
                    kind = ?malformed.kind,
                    len = malformed.len,
                    preview = %malformed.preview,
                    "runner wrote a malformed line; skipped"
                );
            }
            Incoming::Exited(exit) => self.handle_exit(now, exit),
        }
    }

    /// Feeds one caller command.
    pub(crate) fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Execute(submit) => self.handle_execute(now, submit),
            Command::Cancel(id) => self.handle_cancel(now, &id),
            Command::Interrupt => {
                if let State::Busy(running) = &self.state {
                    debug!(id = %running.id, "interrupting the running cell");
                    self.signals.push_back(Signal::Interrupt);
                }
            }
            Command::Shutdown => self.handle_shutdown(now),
            Command::Kill => self.handle_kill(now),
            Command::InputReply(reply) => self.handle_input_reply(reply),
            Command::Complete(complete) => self.handle_complete(now, complete),
            Command::CommMsg(message) => {
                if matches!(self.state, State::Idle { .. } | State::Busy(_)) {
                    self.transmits.push_back(Request::CommMsg(message));
                } else {
                    debug!(comm_id = %message.comm_id, "dropping a comm message: the kernel does not take requests");
                }
            }
            Command::CallReply(reply) => {
                if let State::Busy(running) = &mut self.state {
                    running.resume_after(now, &reply.call_id);
                }
                if self.runner_reads_input() {
                    self.transmits.push_back(Request::CallReply(reply));
                } else {
                    debug!(call_id = %reply.call_id, "dropping a host call reply: the runner is stopping");
                }
            }
        }
    }

    /// Tells the session that delivering `signal` failed, typically because the transport
    /// has no process to signal. An interrupt then goes in band.
    pub(crate) fn handle_signal_failed(&mut self, signal: Signal) {
        match signal {
            Signal::Interrupt if self.runner_reads_input() => {
                debug!("signals unavailable; sending an in-band interrupt");
                self.transmits.push_back(Request::Interrupt);
            }
            Signal::Interrupt => {}
            Signal::Terminate | Signal::Kill => {
                warn!(
                    ?signal,
                    "could not signal the runner; waiting for the next step"
                );
            }
        }
    }

    /// Tells the session that writing to the runner failed: its input is gone, so it can
    /// never answer. The runner is killed; its exit ends the pending executions.
    pub(crate) fn handle_send_failed(&mut self) {
        if !self.is_alive() {
            return;
        }
        warn!("writing to the runner failed; killing it");
        // Later requests cannot be written either.
        self.transmits.clear();
        // The exit that follows the kill ends the start or every pending execution with
        // `Died`, naming the status and the runner's last words.
        self.signals.push_back(Signal::Kill);
    }

    /// Fires every deadline that is due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.handle_keepalive_timeout(now);
        while self
            .pending_completions
            .front()
            .is_some_and(|(_, deadline)| *deadline <= now)
        {
            let Some((id, _)) = self.pending_completions.pop_front() else {
                break;
            };
            debug!(%id, "the runner did not answer a completion in time");
            self.events.push_back(SessionEvent::Completions {
                id,
                result: Err(KernelError::CompletionTimeout),
            });
        }
        match &mut self.state {
            State::Starting { deadline, .. } => {
                if now >= *deadline {
                    let phase = self.start_phase();
                    warn!(%phase, "kernel start timed out");
                    self.fail_start(now, KernelError::StartupTimeout { phase });
                }
            }
            State::Busy(running) => {
                if running.kill_at.is_some_and(|kill_at| now >= kill_at) {
                    warn!(id = %running.id, "the cell did not end after the interrupt; killing the kernel");
                    self.begin_shutdown(now, ShutdownMode::Forceful);
                    return;
                }
                if running
                    .running_timeout()
                    .is_some_and(|timeout_at| now >= timeout_at)
                {
                    debug!(id = %running.id, "cell timed out; interrupting it");
                    running.timeout_at = None;
                    running.interrupt.get_or_insert(Interrupt::Timeout);
                    self.interrupt_with_escalation(now);
                }
            }
            State::ShuttingDown {
                step,
                deadline,
                since,
            } => {
                if now < *deadline {
                    return;
                }
                let next = match step {
                    ShutdownStep::Exit => Some((ShutdownStep::Terminate, Signal::Terminate)),
                    ShutdownStep::Terminate => Some((ShutdownStep::Kill, Signal::Kill)),
                    ShutdownStep::Kill => None,
                };
                match next {
                    Some((next, signal)) => {
                        debug!(?signal, "runner still running; escalating");
                        *step = next;
                        *deadline = now + self.shutdown_grace;
                        self.signals.push_back(signal);
                    }
                    None => {
                        warn!("runner did not exit after SIGKILL; giving up on it");
                        let since = *since;
                        self.enter_dead(since, Ended::Stopped { exit: None });
                    }
                }
            }
            State::Idle { .. } | State::Dead { .. } => {}
        }
    }

    /// The next request to write to the runner.
    #[must_use]
    pub(crate) fn poll_transmit(&mut self) -> Option<Request> {
        self.transmits.pop_front()
    }

    /// The next signal to deliver.
    #[must_use]
    pub(crate) fn poll_signal(&mut self) -> Option<Signal> {
        self.signals.pop_front()
    }

    /// Whether to close the runner's input now (returns `true` once).
    #[must_use]
    pub(crate) fn poll_close_input(&mut self) -> bool {
        std::mem::take(&mut self.close_input)
    }

    /// The next event for the callers.
    #[must_use]
    pub(crate) fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let completion = self.pending_completions.front().map(|(_, at)| *at);
        let state = match &self.state {
            State::Starting { deadline, .. } | State::ShuttingDown { deadline, .. } => {
                Some(*deadline)
            }
            State::Busy(running) => match (running.running_timeout(), running.kill_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            State::Idle { .. } | State::Dead { .. } => None,
        };
        let keepalive = self.keepalive_deadline();
        [state, completion, keepalive].into_iter().flatten().min()
    }

    fn handle_event(&mut self, now: Instant, event: Event) {
        let event = match event {
            Event::Hello(hello) => return self.handle_hello(now, hello),
            Event::Call(call) => return self.handle_call(now, call),
            Event::Completions(completions) => {
                let id = completions.id.clone();
                self.pending_completions
                    .retain(|(pending, _)| *pending != id);
                self.events.push_back(SessionEvent::Completions {
                    id,
                    result: Ok(completions),
                });
                return;
            }
            event => event,
        };
        let Some(id) = event.exec_id().cloned() else {
            return;
        };
        let kind = event.kind();
        let Some(running) = self.running_mut(&id) else {
            if self.last_done.as_ref() == Some(&id) {
                if let Some(output) = plain_output(event) {
                    self.events
                        .push_back(SessionEvent::LateOutput { id, output });
                    return;
                }
            }
            debug!(%id, kind, "ignoring a frame for an execution that is not running");
            return;
        };
        if let Some(cut) = truncation(&event) {
            running.truncated.push(cut);
        }
        let output = match event {
            Event::Result(frame) => Output::Result {
                bundle: frame.bundle,
                metadata: frame.metadata,
            },
            Event::Error(frame) => {
                let error = PyError {
                    ename: frame.ename,
                    evalue: frame.evalue,
                    traceback: frame.traceback,
                };
                running.error = Some(error.clone());
                Output::Error(error)
            }
            Event::InputRequest(request) => return self.handle_input_request(now, request),
            Event::Done(done) => return self.handle_done(now, done),
            event => {
                let Some(output) = plain_output(event) else {
                    return;
                };
                output
            }
        };
        if let State::Busy(_) = self.state {
            self.events.push_back(SessionEvent::Output { id, output });
        } else {
            debug!(%id, ?output, "startup cell output");
        }
    }

    fn handle_hello(&mut self, now: Instant, hello: Hello) {
        let State::Starting {
            deadline,
            step: StartStep::Handshake { cells },
        } = &mut self.state
        else {
            debug!(?hello, "ignoring a hello after the handshake");
            return;
        };
        if hello.protocol != PROTOCOL_VERSION {
            let error = KernelError::ProtocolMismatch {
                runner: hello.protocol,
                host: PROTOCOL_VERSION,
            };
            return self.fail_start(now, error);
        }
        debug!(python = %hello.python, pid = hello.pid, "runner said hello");
        self.completes = hello.features.iter().any(|f| f == FEATURE_COMPLETE);
        let deadline = *deadline;
        let cells = std::mem::take(cells);
        self.next_startup_cell(now, deadline, hello, cells);
    }

    /// Writes the next startup cell, or declares the kernel ready.
    fn next_startup_cell(
        &mut self,
        now: Instant,
        deadline: Instant,
        hello: Hello,
        mut cells: VecDeque<StartupCell>,
    ) {
        let Some(cell) = cells.pop_front() else {
            self.state = State::Idle { since: now };
            self.events.push_back(SessionEvent::Ready(hello));
            // Cells may have been queued while starting.
            return self.start_next_queued(now);
        };
        let request = Execute {
            silent: true,
            store_history: Some(false),
            ..Execute::new(cell.id.clone(), cell.code)
        };
        self.transmits.push_back(Request::Execute(request));
        let running = Running::new(cell.id, false, None);
        self.state = State::Starting {
            deadline,
            step: StartStep::Cell(Box::new(StartCell {
                hello,
                phase: cell.phase,
                running,
                cells,
            })),
        };
    }

    fn handle_call(&mut self, now: Instant, call: Call) {
        if let State::Busy(running) = &mut self.state
            && running.id == call.id
        {
            running
                .pause
                .get_or_insert_with(|| Pause {
                    since: now,
                    calls: Vec::new(),
                })
                .calls
                .push(call.call_id.clone());
            self.events.push_back(SessionEvent::HostCall(call));
            return;
        }
        // Python blocks until the reply, so a call is always answered, even one made by a
        // thread that outlived its cell; the host function is not run for it.
        debug!(id = %call.id, name = %call.name, "refusing a host call from a cell that is not running");
        if self.runner_reads_input() {
            self.transmits.push_back(Request::CallReply(CallReply {
                call_id: call.call_id,
                result: Err(format!("execution {} is not running", call.id)),
            }));
        }
    }

    fn handle_input_request(&mut self, now: Instant, request: InputRequest) {
        let State::Busy(running) = &mut self.state else {
            // A startup cell has no one to ask: interrupt it; the start fails with the error.
            debug!(id = %request.id, "a startup cell asked for input");
            self.signals.push_back(Signal::Interrupt);
            return;
        };
        if running.allow_stdin {
            running.awaiting_input = true;
            let output = Output::InputRequest {
                prompt: request.prompt,
                password: request.password,
            };
            self.events.push_back(SessionEvent::Output {
                id: request.id,
                output,
            });
            return;
        }
        // The runner should refuse `input()` itself when stdin is not allowed; one that asks
        // anyway gets its cell interrupted, so the cell ends with an error.
        debug!(id = %request.id, "the cell asked for input although stdin is not allowed");
        running.interrupt.get_or_insert(Interrupt::StdinRefused);
        self.interrupt_with_escalation(now);
    }

    /// Sends a completion request at once, also while a cell runs: the runner answers it
    /// beside the cell. Answers at once without a runner that completes, or once the
    /// runner stopped taking requests.
    fn handle_complete(&mut self, now: Instant, complete: Complete) {
        let error = match &self.state {
            State::Idle { .. } | State::Busy(_) if self.completes => {
                self.pending_completions
                    .push_back((complete.id.clone(), now + COMPLETE_TIMEOUT));
                self.transmits.push_back(Request::Complete(complete));
                return;
            }
            State::Idle { .. } | State::Busy(_) => KernelError::Unsupported {
                feature: FEATURE_COMPLETE,
            },
            State::Dead { ended, .. } => ended.error(),
            State::Starting { .. } | State::ShuttingDown { .. } => KernelError::NotRunning,
        };
        debug!(id = %complete.id, %error, "not sending a completion request");
        self.events.push_back(SessionEvent::Completions {
            id: complete.id,
            result: Err(error),
        });
    }

    fn handle_input_reply(&mut self, reply: InputReply) {
        match &mut self.state {
            State::Busy(running) if running.id == reply.id && running.awaiting_input => {
                running.awaiting_input = false;
                self.transmits.push_back(Request::InputReply(reply));
            }
            _ => debug!(id = %reply.id, "dropping an input reply nobody waits for"),
        }
    }

    fn handle_done(&mut self, now: Instant, done: Done) {
        if let Some(count) = done.execution_count {
            // The runner's counter goes up by one per stored cell, never down.
            let last = self.execution_count;
            if last.is_some_and(|last| count < last || count > last + 1) {
                warn!(id = %done.id, count, ?last, "ignored an impossible done (its execution count jumps)");
                return;
            }
            self.execution_count = Some(count);
        }
        // Idle from now on, unless a queued cell is sent next.
        match std::mem::replace(&mut self.state, State::Idle { since: now }) {
            State::Busy(running) => {
                let continue_on_error = running.continue_on_error;
                let (outcome, id) = running.finish(done);
                self.last_done = Some(id.clone());
                // A cell its caller cancelled did not fail on its own: the queue keeps its turn.
                let failed = !outcome.is_ok() && outcome.interrupt() != Some(Interrupt::Cancel);
                self.events.push_back(SessionEvent::Finished {
                    id,
                    result: Ok(outcome),
                });
                if failed && !continue_on_error {
                    // As Jupyter's stop_on_error: what was queued behind a failure is
                    // not run.
                    self.end_queued(|| Ok(Outcome::aborted_unrun()));
                }
                self.start_next_queued(now);
            }
            State::Starting {
                deadline,
                step: StartStep::Cell(cell),
            } => {
                let failed = done.status == Status::Error || done.cancelled;
                if !failed {
                    let StartCell { hello, cells, .. } = *cell;
                    return self.next_startup_cell(now, deadline, hello, cells);
                }
                let phase = cell.phase;
                // Restore the state so the failure takes the start's path.
                self.state = State::Starting {
                    deadline,
                    step: StartStep::Cell(cell),
                };
                let message = self.startup_error_message(done.cancelled);
                self.fail_start(now, KernelError::StartupFailed { phase, message });
            }
            other => {
                // `running_mut` matched, so the state is Busy or a startup cell.
                self.state = other;
            }
        }
    }

    fn startup_error_message(&self, cancelled: bool) -> String {
        let error = match &self.state {
            State::Starting {
                step: StartStep::Cell(cell),
                ..
            } => cell.running.error.as_ref(),
            _ => None,
        };
        match error {
            Some(error) if error.evalue.is_empty() => error.ename.clone(),
            Some(error) => format!("{}: {}", error.ename, error.evalue),
            None if cancelled => "interrupted".to_owned(),
            None => "the cell failed without an exception".to_owned(),
        }
    }

    fn handle_execute(&mut self, now: Instant, submit: Submit) {
        match &self.state {
            State::Starting { .. } | State::Busy(_) => self.queue.push_back(submit),
            State::Idle { .. } => {
                self.queue.push_back(submit);
                self.start_next_queued(now);
            }
            State::ShuttingDown { .. } => self.events.push_back(SessionEvent::Finished {
                id: submit.request.id,
                result: Err(KernelError::NotRunning),
            }),
            State::Dead { ended, .. } => {
                let result = Err(ended.error());
                self.events.push_back(SessionEvent::Finished {
                    id: submit.request.id,
                    result,
                });
            }
        }
    }

    fn handle_cancel(&mut self, now: Instant, id: &ExecId) {
        if let Some(index) = self
            .queue
            .iter()
            .position(|submit| submit.request.id == *id)
        {
            debug!(%id, "cancelled before it was sent");
            self.queue.remove(index);
            let outcome = Outcome {
                stop: Some(Stop::Interrupted(Interrupt::Cancel)),
                ..not_run()
            };
            self.events.push_back(SessionEvent::Finished {
                id: id.clone(),
                result: Ok(outcome),
            });
            return;
        }
        let State::Busy(running) = &mut self.state else {
            return;
        };
        if running.id != *id {
            return;
        }
        debug!(%id, "cancelling the running cell");
        running.interrupt.get_or_insert(Interrupt::Cancel);
        self.interrupt_with_escalation(now);
    }

    fn handle_shutdown(&mut self, now: Instant) {
        match &self.state {
            State::Starting { .. } => {
                debug!("start cancelled; killing the runner");
                self.fail_start(now, KernelError::Cancelled);
            }
            State::Idle { .. } | State::Busy(_) => {
                self.begin_shutdown(now, ShutdownMode::Graceful);
            }
            State::ShuttingDown { .. } | State::Dead { .. } => {}
        }
    }

    fn handle_kill(&mut self, now: Instant) {
        match &mut self.state {
            State::Starting { .. } => {
                debug!("start cancelled; killing the runner");
                self.fail_start(now, KernelError::Cancelled);
            }
            State::Idle { .. } | State::Busy(_) => {
                self.begin_shutdown(now, ShutdownMode::Immediate);
            }
            State::ShuttingDown { step, deadline, .. } => {
                if *step == ShutdownStep::Kill {
                    return;
                }
                debug!(?step, "killing the runner without waiting for the shutdown");
                *step = ShutdownStep::Kill;
                *deadline = now + self.shutdown_grace;
                self.signals.push_back(Signal::Kill);
            }
            State::Dead { .. } => {}
        }
    }

    fn handle_exit(&mut self, now: Instant, exit: Exit) {
        let exit = self.keepalive_verdict(exit);
        // Every branch sets the state.
        match std::mem::replace(&mut self.state, State::Idle { since: now }) {
            State::Starting { .. } => {
                warn!(status = %exit.status, "runner exited during the start");
                self.events
                    .push_back(SessionEvent::StartFailed(died(&exit)));
                self.enter_dead(now, Ended::Died(exit));
            }
            State::Idle { since } => {
                warn!(status = %exit.status, "runner exited while idle");
                self.enter_dead(since, Ended::Died(exit));
            }
            State::Busy(running) => {
                warn!(status = %exit.status, id = %running.id, "runner exited while running a cell");
                self.events.push_back(SessionEvent::Finished {
                    id: running.id,
                    result: Err(died(&exit)),
                });
                self.end_queued(|| Err(died(&exit)));
                self.enter_dead(now, Ended::Died(exit));
            }
            State::ShuttingDown { step, since, .. } => {
                debug!(status = %exit.status, ?step, "runner exited");
                self.enter_dead(since, Ended::Stopped { exit: Some(exit) });
            }
            State::Dead { ended, since } => {
                debug!(status = %exit.status, "runner exit observed after the session ended");
                self.state = State::Dead { ended, since };
            }
        }
    }

    /// The running execution `id`, user or startup cell.
    fn running_mut(&mut self, id: &ExecId) -> Option<&mut Running> {
        let running = match &mut self.state {
            State::Busy(running) => running,
            State::Starting {
                step: StartStep::Cell(cell),
                ..
            } => &mut cell.running,
            _ => return None,
        };
        (running.id == *id).then_some(running)
    }

    /// Writes the next queued cell when idle.
    fn start_next_queued(&mut self, now: Instant) {
        let State::Idle { .. } = self.state else {
            return;
        };
        let Some(submit) = self.queue.pop_front() else {
            return;
        };
        let timeout_at = submit.timeout.map(|timeout| now + timeout);
        let mut running = Running::new(
            submit.request.id.clone(),
            submit.request.allow_stdin,
            timeout_at,
        );
        running.continue_on_error = submit.continue_on_error;
        debug!(id = %running.id, "sending a cell");
        self.transmits.push_back(Request::Execute(submit.request));
        self.state = State::Busy(running);
    }

    /// Interrupts the running cell and arms the kill timer, once.
    fn interrupt_with_escalation(&mut self, now: Instant) {
        let State::Busy(running) = &mut self.state else {
            return;
        };
        if running.kill_at.is_some() {
            return;
        }
        running.kill_at = Some(now + self.interrupt_grace);
        self.signals.push_back(Signal::Interrupt);
    }

    fn start_phase(&self) -> StartPhase {
        match &self.state {
            State::Starting {
                step: StartStep::Cell(cell),
                ..
            } => cell.phase,
            _ => StartPhase::Handshake,
        }
    }

    /// Reports a failed start and kills the runner at once.
    fn fail_start(&mut self, now: Instant, error: KernelError) {
        self.events.push_back(SessionEvent::StartFailed(error));
        self.begin_shutdown(now, ShutdownMode::Immediate);
    }

    /// Ends every pending execution and starts stopping the runner.
    fn begin_shutdown(&mut self, now: Instant, mode: ShutdownMode) {
        // Nothing runs or waits from now on, unless the session was idle already.
        let since = match std::mem::replace(&mut self.state, State::Idle { since: now }) {
            State::Idle { since } => since,
            State::Busy(running) => {
                let (outcome, id) = running.killed();
                self.events.push_back(SessionEvent::Finished {
                    id,
                    result: Ok(outcome),
                });
                now
            }
            _ => now,
        };
        self.end_queued(|| {
            Ok(Outcome {
                stop: Some(Stop::KernelKilled(None)),
                ..not_run()
            })
        });
        let step = match mode {
            ShutdownMode::Graceful => {
                self.transmits.push_back(Request::Exit);
                self.close_input = true;
                ShutdownStep::Exit
            }
            ShutdownMode::Forceful => {
                self.signals.push_back(Signal::Terminate);
                ShutdownStep::Terminate
            }
            ShutdownMode::Immediate => {
                self.close_input = true;
                self.signals.push_back(Signal::Kill);
                ShutdownStep::Kill
            }
        };
        debug!(?mode, "shutting the runner down");
        self.state = State::ShuttingDown {
            step,
            deadline: now + self.shutdown_grace,
            since,
        };
    }

    fn end_queued(&mut self, result: impl Fn() -> Result<Outcome, KernelError>) {
        for submit in self.queue.drain(..) {
            self.events.push_back(SessionEvent::Finished {
                id: submit.request.id,
                result: result(),
            });
        }
    }

    /// Ends the session; `since` is when the last cell ended.
    fn enter_dead(&mut self, since: Instant, ended: Ended) {
        // Requests not yet written can no longer be read.
        self.transmits.clear();
        self.signals.clear();
        self.close_input = false;
        // The runner can no longer answer; the driver ends every waiter with the death.
        self.pending_completions.clear();
        self.events.push_back(SessionEvent::Stopped(ended.clone()));
        self.state = State::Dead { ended, since };
    }

    /// Whether a request written now would still be read.
    fn runner_reads_input(&self) -> bool {
        matches!(
            self.state,
            State::Starting { .. } | State::Idle { .. } | State::Busy(_)
        )
    }
}

impl Running {
    fn new(id: ExecId, allow_stdin: bool, timeout_at: Option<Instant>) -> Self {
        Self {
            id,
            allow_stdin,
            timeout_at,
            kill_at: None,
            interrupt: None,
            awaiting_input: false,
            pause: None,
            error: None,
            truncated: Vec::new(),
            continue_on_error: true,
        }
    }

    /// The cell's timeout, unless a host call holds it.
    fn running_timeout(&self) -> Option<Instant> {
        self.timeout_at.filter(|_| self.pause.is_none())
    }

    /// Host call `call_id` was answered: when it was the last in progress, the timeout
    /// runs again, later by the time the calls took.
    fn resume_after(&mut self, now: Instant, call_id: &CallId) {
        let Some(pause) = &mut self.pause else {
            return;
        };
        pause.calls.retain(|call| call != call_id);
        if !pause.calls.is_empty() {
            return;
        }
        let paused = now.saturating_duration_since(pause.since);
        self.pause = None;
        if let Some(timeout_at) = &mut self.timeout_at {
            *timeout_at += paused;
        }
    }

    /// The outcome when the runner reported `done`.
    fn finish(self, done: Done) -> (Outcome, ExecId) {
        let status = if self.error.is_some() {
            Status::Error
        } else {
            done.status
        };
        // A runner refuses `input()` itself when stdin is not allowed, with this exception.
        let runner_refused_stdin = !self.allow_stdin
            && self
                .error
                .as_ref()
                .is_some_and(|error| error.ename == STDIN_REFUSED);
        let interrupt = match self.interrupt {
            Some(interrupt) => Some(interrupt),
            None if runner_refused_stdin => Some(Interrupt::StdinRefused),
            None if done.cancelled => Some(Interrupt::Other),
            None => None,
        };
        let outcome = Outcome {
            status,
            execution_count: done.execution_count,
            error: self.error,
            stop: interrupt.map(Stop::Interrupted),
            generation: UNSTAMPED,
            truncated: self.truncated,
        };
        (outcome, self.id)
    }

    /// The outcome when the kernel is stopped while the cell runs.
    fn killed(self) -> (Outcome, ExecId) {
        let outcome = Outcome {
            status: Status::Error,
            execution_count: None,
            error: self.error,
            stop: Some(Stop::KernelKilled(self.interrupt)),
            generation: UNSTAMPED,
            truncated: self.truncated,
        };
        (outcome, self.id)
    }
}

/// The generation of an outcome the session makes; [`crate::Execution::outcome`] stamps
/// its kernel's (the session does not know it).
pub(crate) const UNSTAMPED: u64 = 0;

/// The exception a runner raises for `input()` in a cell that may not ask for input.
const STDIN_REFUSED: &str = "StdinNotImplementedError";

/// The outcome of a cell that never ran.
fn not_run() -> Outcome {
    Outcome {
        status: Status::Error,
        execution_count: None,
        error: None,
        stop: None,
        generation: UNSTAMPED,
        truncated: Vec::new(),
    }
}

/// What the runner cut from a display, result or update to fit the host's limits.
fn truncation(event: &Event) -> Option<crate::TruncatedDisplay> {
    let (cut, display_id) = match event {
        Event::Display(frame) => (&frame.truncated, frame.display_id.as_deref()),
        Event::Result(frame) => (&frame.truncated, None),
        Event::UpdateDisplay(frame) => (&frame.truncated, Some(frame.display_id.as_str())),
        _ => return None,
    };
    (!cut.is_empty()).then(|| crate::TruncatedDisplay {
        kind: event.kind(),
        display_id: display_id.map(str::to_owned),
        cut: cut.clone(),
    })
}

fn died(exit: &Exit) -> KernelError {
    KernelError::Died {
        status: exit.status,
        stderr_tail: exit.stderr_tail.clone(),
    }
}

/// The output of a `display` frame, with its display id if it has one.
fn display_output(frame: DisplayData) -> Output {
    match frame.display_id {
        Some(display_id) => Output::DisplayWithId {
            display_id,
            bundle: frame.bundle,
            metadata: frame.metadata,
        },
        None => Output::Display {
            bundle: frame.bundle,
            metadata: frame.metadata,
        },
    }
}

/// The output of a stream or display frame, which a background thread may also send for a
/// cell that already ended; `None` for every frame only a running cell sends.
fn plain_output(event: Event) -> Option<Output> {
    Some(match event {
        Event::Stdout(frame) => Output::Stdout(frame.data),
        Event::Stderr(frame) => Output::Stderr(frame.data),
        Event::Display(frame) => display_output(frame),
        Event::UpdateDisplay(frame) => Output::UpdateDisplay {
            display_id: frame.display_id,
            bundle: frame.bundle,
            metadata: frame.metadata,
        },
        Event::ClearOutput(frame) => Output::ClearOutput { wait: frame.wait },
        Event::CommOpen(frame) => Output::Comm(CommMessage::opened(frame)),
        Event::CommMsg(frame) => Output::Comm(CommMessage::of_frame(CommKind::Msg, frame)),
        Event::CommClose(frame) => Output::Comm(CommMessage::of_frame(CommKind::Close, frame)),
        Event::Hello(_)
        | Event::Started { .. }
        | Event::Result(_)
        | Event::Error(_)
        | Event::Done(_)
        | Event::InputRequest(_)
        | Event::Call(_)
        | Event::Completions(_)
        | Event::Pong => return None,
    })
}

#[cfg(test)]
mod tests;

//! A scripted fake runner for the in-memory transport (feature `fake`).
//!
//! A second implementation of the runner's side of the protocol, in Rust: it answers
//! requests from a [`Script`] and runs on tokio time, so tests with paused time see
//! timeouts and escalation without waiting for them, and kernel logic is tested without
//! processes.

use std::{
    collections::{BTreeMap, VecDeque},
    fmt,
    time::Duration,
};

use pykernel_protocol::{
    BundleData, Call, CallId, Complete, Completions, DisplayData, Done, ErrorData, Event, ExecId,
    Execute, FEATURE_COMPLETE, Hello, InputRequest, MimeBundle, PROTOCOL_VERSION, Request, Status,
    StreamData,
};
use serde_json::Value;
use tokio::{task::JoinHandle, time::Instant};

use crate::{
    ExitStatus, Signal,
    memory::{RunnerHandle, RunnerInput},
};

/// The POSIX number of `SIGINT`.
const SIGINT: i32 = 2;
/// The POSIX number of `SIGTERM`, reported when a fake runner is terminated.
const SIGTERM: i32 = 15;
/// The POSIX number of `SIGKILL`, reported when a fake runner is killed.
const SIGKILL: i32 = 9;

/// What a [`FakeRunner`] does for one `execute` request, step by step.
///
/// The runner always emits `started` first. When the steps run out it emits
/// `done{status: "ok"}`; an [`Step::Error`] ends the cell with `done{status: "error"}`
/// instead, and an interrupt while the cell waits ends it with a `KeyboardInterrupt`
/// error and `done{cancelled: true}`. An [`Step::Exit`] ends the runner with no `done`.
///
/// ```
/// use std::time::Duration;
/// use pykernel_transport::Script;
///
/// let script = Script::new().stdout("working\n").sleep(Duration::from_secs(60)).stdout("finished\n");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Script {
    steps: Vec<Step>,
}

/// One step of a [`Script`].
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Sends this frame as is (any id, any type).
    Emit(Event),
    /// Sends raw output through the host's decoder (see [`RunnerHandle::send_line`]).
    Line(String),
    /// Sends a `stdout` frame for the cell.
    Stdout(String),
    /// Sends a `stderr` frame for the cell.
    Stderr(String),
    /// Sends a `display` frame for the cell.
    Display(MimeBundle),
    /// Sends a `result` frame for the cell.
    Result(MimeBundle),
    /// Raises: sends an `error` frame and ends the cell with `done{status: "error"}`.
    Error {
        /// The exception's class name.
        ename: String,
        /// Its message.
        evalue: String,
    },
    /// Waits this long in tokio time; an interrupt ends the cell.
    Sleep(Duration),
    /// Waits until an interrupt arrives (forever if interrupts are ignored).
    WaitForInterrupt,
    /// From here on, this cell ignores interrupts (signal and in-band), like code that
    /// catches `KeyboardInterrupt` in a loop.
    IgnoreInterrupts,
    /// From here on, this cell ignores `SIGTERM`, so only `SIGKILL` ends it.
    IgnoreTerminate,
    /// Calls `input()`: sends an `input_request` and waits for the host's `input_reply`,
    /// then echoes the value and a newline as a `stdout` frame so tests can see it.
    /// If input closes first, the cell raises `EOFError`.
    Input {
        /// The prompt.
        prompt: String,
        /// Whether it is a password prompt.
        password: bool,
    },
    /// Calls a host function: sends a `call` and waits for its reply. A value is written
    /// as JSON and a newline on `stdout`; an error is raised as `HostCallError`.
    /// If input closes first, the cell raises `EOFError`.
    Call {
        /// The host function's name.
        name: String,
        /// Its arguments.
        args: Value,
    },
    /// The runner process ends here, with this status and stderr tail, and sends no `done`.
    Exit {
        /// How it ends.
        status: ExitStatus,
        /// What it last wrote to stderr.
        stderr_tail: String,
    },
}

impl Script {
    /// A script that just succeeds: `started`, then `done{status: "ok"}`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `step`.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Appends a `stdout` frame.
    pub fn stdout(self, text: impl Into<String>) -> Self {
        self.step(Step::Stdout(text.into()))
    }

    /// Appends a `stderr` frame.
    pub fn stderr(self, text: impl Into<String>) -> Self {
        self.step(Step::Stderr(text.into()))
    }

    /// Appends a `result` frame whose bundle holds only `text/plain`.
    pub fn result_text(self, text: impl Into<String>) -> Self {
        self.step(Step::Result(MimeBundle::from_iter([(
            "text/plain",
            text.into(),
        )])))
    }

    /// Appends a raised exception, which ends the cell.
    pub fn error(self, ename: impl Into<String>, evalue: impl Into<String>) -> Self {
        self.step(Step::Error {
            ename: ename.into(),
            evalue: evalue.into(),
        })
    }

    /// Appends a wait of `duration` in tokio time.
    pub fn sleep(self, duration: Duration) -> Self {
        self.step(Step::Sleep(duration))
    }

    /// Appends a wait for an interrupt.
    pub fn wait_for_interrupt(self) -> Self {
        self.step(Step::WaitForInterrupt)
    }

    /// Makes the rest of the cell ignore interrupts.
    pub fn ignore_interrupts(self) -> Self {
        self.step(Step::IgnoreInterrupts)
    }

    /// Makes the rest of the cell ignore `SIGTERM`.
    pub fn ignore_terminate(self) -> Self {
        self.step(Step::IgnoreTerminate)
    }

    /// Appends an `input()` call with `prompt`.
    pub fn input(self, prompt: impl Into<String>) -> Self {
        self.step(Step::Input {
            prompt: prompt.into(),
            password: false,
        })
    }

    /// Appends a host call.
    pub fn call(self, name: impl Into<String>, args: Value) -> Self {
        self.step(Step::Call {
            name: name.into(),
            args,
        })
    }

    /// Appends the runner's exit.
    pub fn exit(self, status: ExitStatus, stderr_tail: impl Into<String>) -> Self {
        self.step(Step::Exit {
            status,
            stderr_tail: stderr_tail.into(),
        })
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
}

impl From<Vec<Step>> for Script {
    fn from(steps: Vec<Step>) -> Self {
        Self { steps }
    }
}

/// A scripted runner on a [`RunnerHandle`], to spawn as a tokio task.
///
/// It behaves like the real runner (`pykernel_runner`) as far as the host can tell:
/// - it sends `hello` first (unless built with `hello(None)`, a version 1 runner, which
///   also ignores in-band `interrupt` requests);
/// - it sees requests and signals in the order the host issued them (see
///   [`RunnerInput`]), so a test's outcome never depends on scheduling;
/// - it runs `execute` requests one at a time in arrival order, each by the script the
///   rule returns (see [`Script`]); the execution count goes up for every execution that
///   stores history;
/// - an interrupt (signal or in-band) while a cell waits raises `KeyboardInterrupt`;
///   while idle it is ignored;
/// - terminate exits with signal 15 and kill with signal 9;
/// - an `exit` request, or input closing, exits with code 0 once earlier requests ran.
///
/// ```
/// # async fn demo() {
/// use pykernel_transport::{FakeRunner, MemoryTransport, Script};
///
/// let (transport, handle) = MemoryTransport::pair();
/// let log = handle.log();
/// let runner = FakeRunner::new(handle)
///     .on_execute(|execute| Script::new().stdout(format!("ran {}\n", execute.code)))
///     .spawn();
/// # drop((transport, log, runner));
/// # }
/// ```
pub struct FakeRunner {
    handle: RunnerHandle,
    hello: Option<Hello>,
    rule: Box<dyn FnMut(&Execute) -> Script + Send>,
    /// Answers `complete` requests, at once, also while a cell runs.
    complete_rule: Option<CompleteRule>,
    execution_count: u64,
    /// Requests read while a cell ran, to handle after it.
    queue: VecDeque<Request>,
    input_open: bool,
    n_calls: u64,
}

/// A fake runner's completion answers; `None` leaves the request unanswered.
type CompleteRule = Box<dyn FnMut(&Complete) -> Option<Completions> + Send>;

/// How a cell or the runner went on after a step that waits.
enum Wake {
    /// The wait is over (its time elapsed or its reply came).
    Ready(Option<Request>),
    /// An interrupt arrived and is not ignored.
    Interrupted,
    /// Input closed while a reply was awaited.
    InputClosed,
    /// The runner exited (terminated, killed, or the host is gone).
    Exited,
}

/// What a waiting step waits for.
#[derive(Clone, Copy)]
enum Await<'a> {
    Until(Instant),
    Interrupt,
    InputReply(&'a ExecId),
    CallReply(&'a CallId),
}

/// What the cell's interrupt and terminate handling currently is.
#[derive(Clone, Copy, Default)]
struct Mask {
    interrupts: bool,
    terminate: bool,
}

impl FakeRunner {
    /// A runner that says hello (protocol version [`PROTOCOL_VERSION`], pid 0) and
    /// answers every execution with [`Script::new`].
    pub fn new(handle: RunnerHandle) -> Self {
        Self {
            handle,
            hello: Some(Hello {
                protocol: PROTOCOL_VERSION,
                runner: "fake".to_owned(),
                python: "3.12.0".to_owned(),
                pid: 0,
                features: Vec::new(),
                hash: None,
            }),
            rule: Box::new(|_| Script::new()),
            complete_rule: None,
            execution_count: 0,
            queue: VecDeque::new(),
            input_open: true,
            n_calls: 0,
        }
    }

    /// Sets the greeting; `None` makes a version 1 runner (no `hello`, in-band interrupt
    /// ignored).
    pub fn hello(mut self, hello: Option<Hello>) -> Self {
        self.hello = hello;
        self
    }

    /// Sets the rule that picks each execution's script.
    pub fn on_execute(mut self, rule: impl FnMut(&Execute) -> Script + Send + 'static) -> Self {
        self.rule = Box::new(rule);
        self
    }

    /// Answers `complete` requests with `rule`, at once, also while a cell runs; `None`
    /// from the rule leaves a request unanswered. Adds [`FEATURE_COMPLETE`] to the
    /// greeting's features, so set the greeting (if at all) first.
    pub fn on_complete(
        mut self,
        rule: impl FnMut(&Complete) -> Option<Completions> + Send + 'static,
    ) -> Self {
        if let Some(hello) = &mut self.hello {
            hello.features.push(FEATURE_COMPLETE.to_owned());
        }
        self.complete_rule = Some(Box::new(rule));
        self
    }

    /// Spawns [`FakeRunner::run`] on the current tokio runtime.
    #[must_use = "dropping the handle detaches the runner; keep it to see its exit"]
    pub fn spawn(self) -> JoinHandle<ExitStatus> {
        tokio::spawn(self.run())
    }

    /// Runs until the runner exits, and returns how it exited.
    pub async fn run(mut self) -> ExitStatus {
        if let Some(hello) = self.hello.clone() {
            self.handle.send(Event::Hello(hello));
        }
        loop {
            let request = match self.queue.pop_front() {
                Some(request) => request,
                None if !self.input_open => return self.exit(ExitStatus::Code(0), ""),
                None => match self.next_idle().await {
                    Some(request) => request,
                    None => return self.exit_status(),
                },
            };
            match request {
                Request::Execute(execute) => {
                    if self.run_cell(&execute).await.is_none() {
                        return self.exit_status();
                    }
                }
                Request::Exit => return self.exit(ExitStatus::Code(0), ""),
                Request::Interrupt => {}
                Request::Complete(complete) => self.complete(&complete),
                other => tracing::debug!(?other, "fake runner ignores a reply nobody waits for"),
            }
        }
    }

    /// Waits while idle for a request; handles signals meanwhile. `None` once the runner
    /// exited.
    async fn next_idle(&mut self) -> Option<Request> {
        loop {
            match self.handle.next_input().await {
                Some(RunnerInput::Request(request)) => return Some(request),
                Some(RunnerInput::Signal(Signal::Interrupt)) => {}
                Some(RunnerInput::Signal(signal)) => {
                    self.exit(signal_status(signal), "");
                    return None;
                }
                Some(RunnerInput::InputClosed) | None => {
                    self.input_open = false;
                    self.exit(ExitStatus::Code(0), "");
                    return None;
                }
            }
        }
    }

    /// Runs one cell; `None` when the runner exited during it.
    async fn run_cell(&mut self, execute: &Execute) -> Option<()> {
        if execute.stores_history() {
            self.execution_count += 1;
        }
        let id = &execute.id;
        let script = (self.rule)(execute);
        self.handle.send(Event::Started { id: id.clone() });
        let mut mask = Mask::default();
        for step in script.steps {
            let wake = match step {
                Step::Emit(event) => {
                    self.handle.send(event);
                    continue;
                }
                Step::Line(line) => {
                    self.handle.send_line(&line);
                    continue;
                }
                Step::Stdout(data) => {
                    self.handle.send(Event::Stdout(StreamData {
                        id: id.clone(),
                        data,
                    }));
                    continue;
                }
                Step::Stderr(data) => {
                    self.handle.send(Event::Stderr(StreamData {
                        id: id.clone(),
                        data,
                    }));
                    continue;
                }
                Step::Display(bundle) => {
                    self.handle.send(Event::Display(DisplayData {
                        id: id.clone(),
                        bundle,
                        display_id: None,
                        truncated: BTreeMap::new(),
                        metadata: Default::default(),
                    }));
                    continue;
                }
                Step::Result(bundle) => {
                    self.handle.send(Event::Result(BundleData {
                        id: id.clone(),
                        bundle,
                        truncated: BTreeMap::new(),
                        metadata: Default::default(),
                    }));
                    continue;
                }
                Step::Error { ename, evalue } => {
                    self.raise(id, ename, evalue, false);
                    return Some(());
                }
                Step::IgnoreInterrupts => {
                    mask.interrupts = true;
                    continue;
                }
                Step::IgnoreTerminate => {
                    mask.terminate = true;
                    continue;
                }
                Step::Exit {
                    status,
                    stderr_tail,
                } => {
                    self.exit(status, stderr_tail);
                    return None;
                }
                Step::Sleep(duration) => {
                    self.wait(Await::Until(Instant::now() + duration), mask)
                        .await
                }
                Step::WaitForInterrupt => self.wait(Await::Interrupt, mask).await,
                Step::Input { prompt, password } => {
                    let request = InputRequest {
                        id: id.clone(),
                        prompt,
                        password,
                    };
                    self.handle.send(Event::InputRequest(request));
                    self.wait(Await::InputReply(id), mask).await
                }
                Step::Call { name, args } => {
                    self.n_calls += 1;
                    let call_id = CallId::new(format!("{id}-call-{}", self.n_calls));
                    let call = Call {
                        id: id.clone(),
                        call_id: call_id.clone(),
                        name,
                        args,
                    };
                    self.handle.send(Event::Call(call));
                    self.wait(Await::CallReply(&call_id), mask).await
                }
            };
            match wake {
                Wake::Ready(None) => {}
                Wake::Ready(Some(Request::InputReply(reply))) => {
                    let data = format!("{}\n", reply.value);
                    self.handle.send(Event::Stdout(StreamData {
                        id: id.clone(),
                        data,
                    }));
                }
                Wake::Ready(Some(Request::CallReply(reply))) => match reply.result {
                    Ok(value) => {
                        let data = format!("{value}\n");
                        self.handle.send(Event::Stdout(StreamData {
                            id: id.clone(),
                            data,
                        }));
                    }
                    Err(message) => {
                        self.raise(id, "HostCallError".to_owned(), message, false);
                        return Some(());
                    }
                },
                Wake::Ready(Some(_)) => {
                    // Only the two reply kinds above end a wait with a request.
                }
                Wake::Interrupted => {
                    self.raise(id, "KeyboardInterrupt".to_owned(), String::new(), true);
                    return Some(());
                }
                Wake::InputClosed => {
                    self.raise(
                        id,
                        "EOFError".to_owned(),
                        "EOF when reading a line".to_owned(),
                        false,
                    );
                    return Some(());
                }
                Wake::Exited => return None,
            }
        }
        self.handle.send(Event::Done(Done {
            id: id.clone(),
            status: Status::Ok,
            execution_count: Some(self.execution_count),
            cancelled: false,
        }));
        Some(())
    }

    /// Sends an `error` frame and the `done` that ends the cell with it.
    fn raise(&self, id: &ExecId, ename: String, evalue: String, cancelled: bool) {
        self.handle.send(Event::Error(ErrorData {
            id: id.clone(),
            ename,
            evalue,
            traceback: Vec::new(),
        }));
        self.handle.send(Event::Done(Done {
            id: id.clone(),
            status: Status::Error,
            execution_count: Some(self.execution_count),
            cancelled,
        }));
    }

    /// Waits inside a cell, queueing requests that arrive meanwhile.
    async fn wait(&mut self, until: Await<'_>, mask: Mask) -> Wake {
        let deadline = match until {
            Await::Until(deadline) => Some(deadline),
            _ => None,
        };
        let speaks_v2 = self.hello.is_some();
        let awaits_reply = matches!(until, Await::InputReply(_) | Await::CallReply(_));
        loop {
            let input = tokio::select! {
                // Inputs first, so an input and the deadline at the same instant go one way.
                biased;
                input = self.handle.next_input() => input,
                () = sleep_until(deadline) => return Wake::Ready(None),
            };
            let request = match input {
                Some(RunnerInput::Request(request)) => request,
                Some(RunnerInput::Signal(Signal::Interrupt)) if mask.interrupts => continue,
                Some(RunnerInput::Signal(Signal::Interrupt)) => return Wake::Interrupted,
                Some(RunnerInput::Signal(Signal::Terminate)) if mask.terminate => continue,
                Some(RunnerInput::Signal(signal)) => {
                    self.exit(signal_status(signal), "");
                    return Wake::Exited;
                }
                Some(RunnerInput::InputClosed) => {
                    self.input_open = false;
                    if awaits_reply {
                        return Wake::InputClosed;
                    }
                    continue;
                }
                None => {
                    // The host dropped the transport; the runner's watchdog would exit.
                    self.exit(ExitStatus::Code(0), "");
                    return Wake::Exited;
                }
            };
            match request {
                Request::Interrupt if speaks_v2 && !mask.interrupts => return Wake::Interrupted,
                Request::Interrupt => {}
                Request::InputReply(reply) if matches!(until, Await::InputReply(id) if *id == reply.id) =>
                {
                    return Wake::Ready(Some(Request::InputReply(reply)));
                }
                Request::CallReply(reply) if matches!(until, Await::CallReply(call_id) if *call_id == reply.call_id) =>
                {
                    return Wake::Ready(Some(Request::CallReply(reply)));
                }
                request @ (Request::Execute(_) | Request::Exit) => self.queue.push_back(request),
                Request::Complete(complete) => self.complete(&complete),
                other => tracing::debug!(?other, "fake runner ignores a reply nobody waits for"),
            }
        }
    }

    /// Answers a completion request by the rule, if there is one and it answers.
    fn complete(&mut self, complete: &Complete) {
        let answer = self.complete_rule.as_mut().and_then(|rule| rule(complete));
        match answer {
            Some(completions) => self.handle.send(Event::Completions(completions)),
            None => {
                tracing::debug!(id = %complete.id, "fake runner leaves a completion unanswered")
            }
        }
    }

    /// Ends the runner with `status` and returns it.
    fn exit(&self, status: ExitStatus, stderr_tail: impl Into<String>) -> ExitStatus {
        self.handle.exit(status, stderr_tail);
        self.exit_status()
    }

    /// How the runner exited; only called after it did.
    fn exit_status(&self) -> ExitStatus {
        self.handle
            .log()
            .exit_status()
            .unwrap_or(ExitStatus::Unknown)
    }
}

impl fmt::Debug for FakeRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeRunner")
            .field("hello", &self.hello)
            .field("execution_count", &self.execution_count)
            .field("queue", &self.queue)
            .field("input_open", &self.input_open)
            .finish_non_exhaustive()
    }
}

/// The status of a runner ended by `signal`.
fn signal_status(signal: Signal) -> ExitStatus {
    match signal {
        Signal::Interrupt => ExitStatus::Signal(SIGINT),
        Signal::Terminate => ExitStatus::Signal(SIGTERM),
        Signal::Kill => ExitStatus::Signal(SIGKILL),
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

//! The one place that awaits: a task that owns the transport and the [`Session`].
//!
//! The driver waits on four things at once: caller messages, host call answers, the
//! session's next deadline, and the transport. After each one it carries out everything
//! the session asks for: writes, closing input, signals, and events for the callers.
//!
//! # Output delivery and memory
//! Each execution's outputs go through a bounded channel. When a consumer falls behind
//! and its channel is full, the driver keeps the one output it could not deliver and stops
//! reading the transport until the consumer catches up, so the runner's pipe fills and the
//! runner blocks on its writes: memory stays bounded however much a cell prints. Caller
//! messages and deadlines are still served meanwhile, so a slow consumer never delays an
//! interrupt, a timeout or a shutdown. An outcome never waits behind outputs, and a
//! dropped [`crate::Execution`] closes its channel, after which its outputs are discarded.

use std::{
    collections::{HashMap, VecDeque},
    future, panic,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use pykernel_protocol::{Call, CallReply, Complete, Completions, ExecId, Hello, RequestId};
use pykernel_transport::{Exit, ExitStatus, Incoming, Transport};
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{debug, warn};

use crate::{
    HostFunctions, KernelError, Outcome, Output, ShutdownReport, UnattachedOutput,
    machine::{Command, Ended, Session, SessionEvent, Submit},
};

/// How many outputs an execution's channel holds before the driver stops reading.
pub(crate) const OUTPUT_CAPACITY: usize = 64;

/// A message from a kernel handle or an execution to the driver.
#[derive(Debug)]
pub(crate) enum Message {
    /// A command with no answer.
    Command(Command),
    /// Queue a cell and deliver its outputs and outcome here.
    Execute { submit: Submit, delivery: Delivery },
    /// Shut down and report.
    Shutdown(oneshot::Sender<ShutdownReport>),
    /// Kill the runner at once and report.
    Kill(oneshot::Sender<ShutdownReport>),
    /// Ask for completions and send the runner's answer here.
    Complete {
        request: Complete,
        answer: oneshot::Sender<Result<Completions, KernelError>>,
    },
    /// The last kernel handle is gone (or the start was abandoned): shut down.
    KernelDropped,
}

/// Where one execution's outputs and outcome go.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// Outputs, in order; closing ends the execution's stream.
    pub(crate) outputs: mpsc::Sender<Output>,
    /// The outcome, sent once.
    pub(crate) outcome: oneshot::Sender<Result<Outcome, KernelError>>,
}

/// What the handles and executions can see of the session without asking the driver.
#[derive(Debug)]
pub(crate) struct Health {
    alive: AtomicBool,
    ended: Mutex<Option<Ended>>,
    work: Mutex<Work>,
    unattached: Mutex<Unattached>,
    /// Wakes the waiters of [`Health::next_unattached`]: output came, or the session ended.
    unattached_ready: Notify,
}

/// How much unattached output waits for a reader before the oldest is dropped (with a
/// notice in its place): a thread printing forever must not grow the host without bound.
const UNATTACHED_MAX_BYTES: usize = 4 << 20;

/// Output no execution takes, oldest first, until a caller takes it.
#[derive(Debug, Default)]
struct Unattached {
    outputs: VecDeque<UnattachedOutput>,
    bytes: usize,
    /// Outputs dropped for the bound since the last take.
    dropped: usize,
}

/// Whether the session has work, as the handles see it.
#[derive(Debug, Default)]
struct Work {
    /// Executions submitted that the driver has not taken yet.
    unseen: usize,
    /// The session's [`Session::idle_since`] as of the driver's last step.
    idle_since: Option<Instant>,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            alive: AtomicBool::new(true),
            ended: Mutex::new(None),
            work: Mutex::new(Work::default()),
            unattached: Mutex::new(Unattached::default()),
            unattached_ready: Notify::new(),
        }
    }

    /// When the session last ran out of work; `None` while a cell runs or waits, counting
    /// one submitted that the driver has not taken yet (see [`Session::idle_since`]).
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        let work = self.lock_work();
        // A kernel that stopped never takes what was submitted meanwhile.
        if work.unseen > 0 && self.is_alive() {
            return None;
        }
        work.idle_since
    }

    /// Counts an execution on its way to the driver, before it is sent.
    pub(crate) fn submitted(&self) {
        self.lock_work().unseen += 1;
    }

    /// Whether the kernel takes cells: not shutting down, not dead.
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Marks the kernel as no longer taking cells.
    pub(crate) fn mark_stopping(&self) {
        self.alive.store(false, Ordering::Release);
    }

    /// How the session ended, once it has.
    pub(crate) fn ended(&self) -> Option<Ended> {
        self.ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The error for a call made now that the session cannot serve.
    pub(crate) fn error(&self) -> KernelError {
        match self.ended() {
            Some(ended) => ended.error(),
            None => KernelError::NotRunning,
        }
    }

    fn set_ended(&self, ended: Ended) {
        self.mark_stopping();
        *self.ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(ended);
        self.unattached_ready.notify_waiters();
    }

    /// Holds output no execution takes until a caller takes it.
    fn push_unattached(&self, output: UnattachedOutput) {
        let mut unattached = self.lock_unattached();
        unattached.bytes += output_size(&output.output);
        unattached.outputs.push_back(output);
        while unattached.bytes > UNATTACHED_MAX_BYTES && unattached.outputs.len() > 1 {
            if let Some(old) = unattached.outputs.pop_front() {
                unattached.bytes -= output_size(&old.output);
                unattached.dropped += 1;
            }
        }
        drop(unattached);
        self.unattached_ready.notify_waiters();
    }

    /// Takes the unattached output held, oldest first, with a notice first if some was
    /// dropped for the bound.
    pub(crate) fn take_unattached(&self) -> Vec<UnattachedOutput> {
        let mut unattached = self.lock_unattached();
        let dropped = std::mem::take(&mut unattached.dropped);
        unattached.bytes = 0;
        let mut taken: Vec<UnattachedOutput> = unattached.outputs.drain(..).collect();
        if dropped > 0 {
            if let Some(first) = taken.first() {
                let notice = UnattachedOutput {
                    id: first.id.clone(),
                    output: Output::Stderr(format!(
                        "[pykernel: {dropped} earlier outputs of background threads were dropped: nobody read them]\n"
                    )),
                };
                taken.insert(0, notice);
            }
        }
        taken
    }

    /// Waits for unattached output and takes it; `None` once the session ended and none
    /// is left. Cancel safe: nothing is taken until it returns.
    pub(crate) async fn next_unattached(&self) -> Option<Vec<UnattachedOutput>> {
        loop {
            let notified = self.unattached_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let taken = self.take_unattached();
            if !taken.is_empty() {
                return Some(taken);
            }
            if self.ended().is_some() {
                return None;
            }
            notified.await;
        }
    }

    fn lock_unattached(&self) -> MutexGuard<'_, Unattached> {
        // Every update leaves the queue and its byte count consistent between statements
        // that cannot panic.
        self.unattached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a submitted execution as taken by the session, whose idle time is now
    /// `idle_since`.
    fn taken(&self, idle_since: Option<Instant>) {
        let mut work = self.lock_work();
        work.unseen = work.unseen.saturating_sub(1);
        work.idle_since = idle_since;
    }

    fn set_idle_since(&self, idle_since: Option<Instant>) {
        self.lock_work().idle_since = idle_since;
    }

    fn lock_work(&self) -> MutexGuard<'_, Work> {
        // Every update is a single assignment, so a panic leaves it consistent.
        self.work.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The task that runs one kernel. Spawn [`Driver::run`].
#[must_use = "the kernel driver must be spawned"]
pub(crate) struct Driver {
    session: Session,
    transport: Box<dyn Transport>,
    messages: mpsc::UnboundedReceiver<Message>,
    messages_open: bool,
    /// Host call answers come back from the blocking pool through here.
    call_replies_tx: mpsc::UnboundedSender<CallReply>,
    call_replies: mpsc::UnboundedReceiver<CallReply>,
    host_functions: HostFunctions,
    routes: HashMap<ExecId, Route>,
    /// Completion requests waiting for the runner's answer.
    completions: HashMap<RequestId, oneshot::Sender<Result<Completions, KernelError>>>,
    start: Option<oneshot::Sender<Result<Hello, KernelError>>>,
    shutdown_waiters: Vec<oneshot::Sender<ShutdownReport>>,
    health: Arc<Health>,
    /// The transport reported the exit (or ended without one).
    exited: bool,
    /// A write that takes longer than this means the runner stopped reading its input.
    send_stall_limit: Duration,
    /// The session's idle time as last given to `health`.
    idle_since: Option<Instant>,
}

/// One execution's delivery state.
#[derive(Debug)]
struct Route {
    /// `None` once the consumer is gone.
    outputs: Option<mpsc::Sender<Output>>,
    /// Outputs the full channel could not take yet, oldest first.
    backlog: VecDeque<Output>,
    /// `None` once the outcome was sent.
    outcome: Option<oneshot::Sender<Result<Outcome, KernelError>>>,
}

/// What the driver needs besides the session and the transport.
pub(crate) struct DriverParts {
    pub(crate) messages: mpsc::UnboundedReceiver<Message>,
    pub(crate) start: oneshot::Sender<Result<Hello, KernelError>>,
    pub(crate) host_functions: HostFunctions,
    pub(crate) health: Arc<Health>,
    pub(crate) send_stall_limit: Duration,
}

impl Driver {
    pub(crate) fn new(session: Session, transport: Box<dyn Transport>, parts: DriverParts) -> Self {
        let (call_replies_tx, call_replies) = mpsc::unbounded_channel();
        Self {
            session,
            transport,
            messages: parts.messages,
            messages_open: true,
            call_replies_tx,
            call_replies,
            host_functions: parts.host_functions,
            routes: HashMap::new(),
            completions: HashMap::new(),
            start: Some(parts.start),
            shutdown_waiters: Vec::new(),
            health: parts.health,
            exited: false,
            send_stall_limit: parts.send_stall_limit,
            idle_since: None,
        }
    }

    /// Runs the kernel until its session ends, then delivers what is left to consumers.
    pub(crate) async fn run(mut self) {
        self.drive().await;
        loop {
            self.flush_routes();
            if self.session.ended().is_some() {
                break;
            }
            let timeout = self.session.poll_timeout();
            let waiting = self.waiting_sender();
            let paused = self.reading_paused();
            tokio::select! {
                biased;
                message = self.messages.recv(), if self.messages_open => match message {
                    Some(message) => self.handle_message(message),
                    None => {
                        // Every handle and execution is gone.
                        self.messages_open = false;
                        self.session.handle_command(now(), Command::Shutdown);
                    }
                },
                Some(reply) = self.call_replies.recv() => {
                    self.session.handle_command(now(), Command::CallReply(reply));
                }
                () = sleep_until(timeout) => self.session.handle_timeout(now()),
                _ = reserve(waiting.as_ref()), if waiting.is_some() => {
                    // Room in a full channel: `flush_routes` fills it.
                }
                incoming = self.transport.recv(), if !paused && !self.exited => {
                    let incoming = incoming.unwrap_or_else(|| {
                        warn!("transport ended without reporting the runner's exit");
                        Incoming::Exited(Exit { status: ExitStatus::Unknown, stderr_tail: String::new() })
                    });
                    if let Incoming::Exited(exit) = &incoming {
                        self.exited = true;
                        log_exit(exit);
                    }
                    self.session.handle_incoming(now(), incoming);
                }
            }
            self.drive().await;
        }
        // The session is over: the transport goes now (which reaps or kills what is left),
        // then consumers get their remaining outputs at their own pace.
        let routes = std::mem::take(&mut self.routes);
        drop(self);
        for (_, route) in routes {
            route.drain().await;
        }
    }

    /// Carries out everything the session asks for, until it asks for nothing more.
    async fn drive(&mut self) {
        loop {
            let mut progress = false;
            while let Some(request) = self.session.poll_transmit() {
                progress = true;
                let sent =
                    tokio::time::timeout(self.send_stall_limit, self.transport.send(&request))
                        .await;
                let failure = match sent {
                    Ok(Ok(())) => continue,
                    Ok(Err(err)) => err.to_string(),
                    Err(_) => "the runner stopped reading its input".to_owned(),
                };
                warn!(kind = request.kind(), %failure, "writing to the runner failed");
                self.session.handle_send_failed();
            }
            while let Some(signal) = self.session.poll_signal() {
                progress = true;
                if let Err(err) = self.transport.signal(signal) {
                    debug!(?signal, %err, "signalling the runner failed");
                    self.session.handle_signal_failed(signal);
                }
            }
            if self.session.poll_close_input() {
                progress = true;
                if let Err(err) = self.transport.close_input().await {
                    debug!(%err, "closing the runner's input failed");
                }
            }
            // Callers that learn an execution ended must see the kernel idle already.
            self.publish_idle_since();
            let mut events: Vec<SessionEvent> =
                std::iter::from_fn(|| self.session.poll_event()).collect();
            progress |= !events.is_empty();
            // A kernel is dead before anyone hears it died: a death ends the cells and the
            // session in one step, so its `Stopped` is handled before those `Finished`.
            let stopped = events
                .iter()
                .position(|event| matches!(event, SessionEvent::Stopped(_)));
            let first_finished = events
                .iter()
                .position(|event| matches!(event, SessionEvent::Finished { .. }));
            if let (Some(stopped), Some(first_finished)) = (stopped, first_finished) {
                if first_finished < stopped {
                    let event = events.remove(stopped);
                    events.insert(first_finished, event);
                }
            }
            for event in events {
                self.handle_event(event);
            }
            if !progress {
                break;
            }
        }
        if !self.session.is_alive() {
            self.health.mark_stopping();
            // A stopping runner answers no completion.
            for (_, answer) in self.completions.drain() {
                let _ = answer.send(Err(self.health.error()));
            }
        }
    }

    fn handle_message(&mut self, message: Message) {
        match message {
            Message::Command(command) => self.session.handle_command(now(), command),
            Message::Execute { submit, delivery } => {
                let route = Route {
                    outputs: Some(delivery.outputs),
                    backlog: VecDeque::new(),
                    outcome: Some(delivery.outcome),
                };
                self.routes.insert(submit.request.id.clone(), route);
                self.session.handle_command(now(), Command::Execute(submit));
                // The session holds it now; its idle time says so.
                self.idle_since = self.session.idle_since();
                self.health.taken(self.idle_since);
            }
            Message::Shutdown(waiter) => {
                self.shutdown_waiters.push(waiter);
                self.session.handle_command(now(), Command::Shutdown);
            }
            Message::Kill(waiter) => {
                self.shutdown_waiters.push(waiter);
                self.session.handle_command(now(), Command::Kill);
            }
            Message::Complete { request, answer } => {
                // Callers that gave up waiting (see `Kernel::complete`) are forgotten.
                self.completions.retain(|_, answer| !answer.is_closed());
                self.completions.insert(request.id.clone(), answer);
                self.session
                    .handle_command(now(), Command::Complete(request));
            }
            Message::KernelDropped => {
                debug!("every kernel handle is gone; shutting down");
                self.session.handle_command(now(), Command::Shutdown);
            }
        }
    }

    fn handle_event(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Ready(hello) => {
                if let Some(start) = self.start.take() {
                    let _ = start.send(Ok(hello));
                }
            }
            SessionEvent::StartFailed(error) => {
                if let Some(start) = self.start.take() {
                    let _ = start.send(Err(error));
                }
            }
            SessionEvent::LateOutput { id, output } => {
                self.health.push_unattached(UnattachedOutput { id, output });
            }
            SessionEvent::Output { id, output } => {
                if let Some(route) = self.routes.get_mut(&id) {
                    route.push(output);
                }
            }
            SessionEvent::Finished { id, result } => {
                let Some(route) = self.routes.get_mut(&id) else {
                    return;
                };
                if let Some(outcome) = route.outcome.take() {
                    let _ = outcome.send(result);
                }
            }
            SessionEvent::HostCall(call) => self.call_host(call),
            SessionEvent::Completions { id, result } => match self.completions.remove(&id) {
                Some(answer) => {
                    let _ = answer.send(result);
                }
                None => debug!(%id, "dropping completions nobody waits for"),
            },
            SessionEvent::Stopped(ended) => {
                let report = ended.report();
                self.health.set_ended(ended);
                if let Some(start) = self.start.take() {
                    let _ = start.send(Err(self.health.error()));
                }
                for waiter in self.shutdown_waiters.drain(..) {
                    let _ = waiter.send(report);
                }
            }
        }
    }

    /// Tells the handles the session's idle time, when it changed.
    fn publish_idle_since(&mut self) {
        let idle_since = self.session.idle_since();
        if idle_since != self.idle_since {
            self.idle_since = idle_since;
            self.health.set_idle_since(idle_since);
        }
    }

    /// Runs a host function on the blocking pool; its answer comes back as a message.
    fn call_host(&mut self, call: Call) {
        let Call {
            call_id,
            name,
            args,
            ..
        } = call;
        let Some(function) = self.host_functions.resolve(&name) else {
            let result = Err(format!("no host function named {name:?}"));
            self.session
                .handle_command(now(), Command::CallReply(CallReply { call_id, result }));
            return;
        };
        let replies = self.call_replies_tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = panic::catch_unwind(panic::AssertUnwindSafe(|| function(args)))
                .unwrap_or_else(|_| Err(format!("host function {name:?} panicked")));
            // The driver is gone when the kernel ended meanwhile; nobody waits then.
            let _ = replies.send(CallReply { call_id, result });
        });
    }

    /// Moves backlogged outputs into channels with room, and forgets finished routes.
    fn flush_routes(&mut self) {
        self.routes.retain(|_, route| {
            route.flush();
            route.outcome.is_some() || (route.outputs.is_some() && !route.backlog.is_empty())
        });
    }

    /// The channel of a consumer that has fallen behind, if any, to wait for room in.
    fn waiting_sender(&self) -> Option<mpsc::Sender<Output>> {
        self.routes
            .values()
            .find(|route| !route.backlog.is_empty())
            .and_then(|route| route.outputs.clone())
    }

    /// Whether reading the transport waits for a consumer: one whose execution still runs
    /// has fallen behind. A finished execution's backlog cannot grow, so it never pauses
    /// reading (the runner's exit must still be seen).
    fn reading_paused(&self) -> bool {
        self.routes
            .values()
            .any(|route| route.outcome.is_some() && !route.backlog.is_empty())
    }
}

impl Route {
    /// Delivers `output` in order, keeping it when the channel is full.
    fn push(&mut self, output: Output) {
        if self.outputs.is_none() {
            return;
        }
        self.backlog.push_back(output);
        self.flush();
    }

    fn flush(&mut self) {
        let Some(outputs) = &self.outputs else {
            self.backlog.clear();
            return;
        };
        while let Some(output) = self.backlog.pop_front() {
            match outputs.try_send(output) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(output)) => {
                    self.backlog.push_front(output);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.outputs = None;
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    /// Delivers the whole backlog, waiting for the consumer.
    async fn drain(mut self) {
        let Some(outputs) = self.outputs.take() else {
            return;
        };
        for output in self.backlog {
            if outputs.send(output).await.is_err() {
                return;
            }
        }
    }
}

/// The session's clock: tokio's, so paused-time tests drive it.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => future::pending().await,
    }
}

async fn reserve(sender: Option<&mpsc::Sender<Output>>) {
    match sender {
        // An error means the consumer is gone; `flush_routes` notices.
        Some(sender) => drop(sender.reserve().await),
        None => future::pending().await,
    }
}

fn log_exit(exit: &Exit) {
    let tail = exit.stderr_tail.trim();
    if tail.is_empty() {
        debug!(status = %exit.status, "runner exited");
    } else {
        debug!(status = %exit.status, stderr = %tail, "runner exited");
    }
}

/// About how many bytes an output holds, for the unattached output's bound.
fn output_size(output: &Output) -> usize {
    let bundle_size = |bundle: &pykernel_protocol::MimeBundle, metadata: &Map<String, Value>| {
        bundle
            .iter()
            .map(|(mime, value)| mime.len() + value.as_str().map_or(64, str::len))
            .sum::<usize>()
            + metadata.len() * 64
    };
    match output {
        Output::Stdout(text) | Output::Stderr(text) => text.len(),
        Output::Display { bundle, metadata }
        | Output::Result { bundle, metadata }
        | Output::DisplayWithId {
            bundle, metadata, ..
        }
        | Output::UpdateDisplay {
            bundle, metadata, ..
        } => bundle_size(bundle, metadata),
        Output::Error(error) => {
            error.evalue.len() + error.traceback.iter().map(String::len).sum::<usize>()
        }
        Output::ClearOutput { .. } | Output::InputRequest { .. } => 16,
        Output::Comm(message) => {
            message.comm_id.len()
                + message.data.len() * 64
                + message.buffers.iter().map(String::len).sum::<usize>()
        }
    }
}

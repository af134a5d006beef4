//! Kernels kept by session id: reuse, restart, reset, idle reaping and a warm pool.
//!
//! [`Sessions`] is what an agent or an editor holds: it maps each [`SessionId`] to one
//! kernel, starts it on first use, restarts it when it died, forgets it on reset, shuts it
//! down when it sat idle too long, and keeps a few kernels started ahead of time so that a
//! new session gets one at once.
//!
//! One session id moves through these states (a `Slot`):
//!
//! ```text
//!                 first use (or the kernel died)
//!   (absent) ─────────────────────────────────────► Starting ──start failed──► (absent)
//!      │                                               │
//!      │ first use, pool has a kernel                  │ started
//!      └──────────────────────────────────► Ready ◄────┘
//!                                             │  ▲
//!                  reset, remove, idle reaper │  │ used
//!                                             ▼  │
//!   (absent) ◄──── shut down ───────────── Stopping
//! ```
//!
//! Starting and Stopping are shared: every caller that arrives meanwhile waits for the same
//! start or the same shutdown, so there is never a second start for one id and concurrent
//! resets coalesce. Resetting a session that is still starting aborts the start.

use std::{
    collections::{HashMap, VecDeque},
    fmt, io,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    task::{Context, Poll},
    time::Duration,
};

use futures::{
    FutureExt, Stream,
    future::{self, BoxFuture, Shared},
};
use pykernel_protocol::ExecId;
use tokio::{
    sync::Notify,
    task::AbortHandle,
    time::{self, Instant},
};

use crate::{
    ExecuteOptions, Execution, Kernel, KernelError, KernelOptions, Outcome, Output, ShutdownReport,
};

/// The first wait before the pool tries again after a kernel failed to start.
const POOL_RETRY_MIN: Duration = Duration::from_secs(1);
/// The longest wait between the pool's attempts to start a kernel.
const POOL_RETRY_MAX: Duration = Duration::from_secs(60);

/// Names one session: one kernel and its namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// Wraps a name as a session id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SessionId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for SessionId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

/// How [`Sessions`] starts and keeps kernels. Build it with [`SessionsOptions::new`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SessionsOptions {
    /// How every kernel is started.
    pub kernel: KernelOptions,
    /// Shut a session's kernel down after it sat unused this long; `None` keeps kernels
    /// until they are reset or removed.
    pub idle_timeout: Option<Duration>,
    /// How many kernels to keep started ahead of time for new sessions.
    pub pool_size: usize,
}

impl SessionsOptions {
    /// Kernels started with `kernel`, no idle timeout, no pool.
    pub fn new(kernel: KernelOptions) -> Self {
        Self {
            kernel,
            idle_timeout: None,
            pool_size: 0,
        }
    }

    /// Shuts a kernel down after it sat unused for `timeout`.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Keeps `size` kernels started ahead of time.
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }
}

/// Kernels by [`SessionId`], started on first use and kept until reset, removal, idle
/// timeout or [`Sessions::shutdown_all`].
///
/// Cheap to clone; clones share the kernels. A background task refills the pool and reaps
/// idle kernels; it stops when the last clone is dropped, and every kernel still held is
/// then shut down in the background (see [`Kernel`]).
///
/// # Idle time
/// A kernel's idle time runs from the end of its last execution run through
/// [`Sessions::execute`]; while such an execution runs (until its outcome is taken, its
/// outputs are drained or it is dropped) the kernel is never reaped. A kernel handed out
/// by [`Sessions::kernel`] counts as used at hand-out only: cells run on it directly are
/// not seen, so run long cells through [`Sessions::execute`].
///
/// # Example
/// ```no_run
/// # async fn demo() -> Result<(), pykernel::KernelError> {
/// use std::time::Duration;
/// use pykernel::{ExecuteOptions, KernelOptions, SessionId, Sessions, SessionsOptions};
///
/// let sessions = Sessions::new(
///     SessionsOptions::new(KernelOptions::new())
///         .with_idle_timeout(Duration::from_secs(600))
///         .with_pool_size(1),
/// );
/// let id = SessionId::new("chat-42");
/// sessions.execute(&id, "x = 41", ExecuteOptions::new()).await?.outcome().await?;
/// let outcome = sessions.execute(&id, "x + 1", ExecuteOptions::new()).await?.outcome().await?;
/// assert!(outcome.is_ok());
/// sessions.shutdown_all().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

/// An execution run through [`Sessions::execute`]: a [`Execution`] that also tells the
/// idle reaper when it is over.
///
/// It is over when its outcome is taken, when its outputs are drained, or when it is
/// dropped (which cancels an unfinished cell, as dropping an [`Execution`] does).
pub struct SessionExecution {
    execution: Execution,
    activity: Option<Activity>,
}

/// Starts a kernel from options; [`Sessions::with_factory`] takes one.
type Factory =
    Arc<dyn Fn(KernelOptions) -> BoxFuture<'static, Result<Kernel, KernelError>> + Send + Sync>;
/// A start every caller for one session waits on.
type SharedStart = Shared<BoxFuture<'static, Result<Kernel, Arc<KernelError>>>>;
/// A shutdown every caller for one session waits on.
type SharedStop = Shared<BoxFuture<'static, Option<ShutdownReport>>>;

struct Inner {
    options: SessionsOptions,
    factory: Factory,
    state: Mutex<State>,
    /// Wakes the background task: the pool shrank, a kernel became idle, or shutdown.
    wake: Arc<Notify>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<SessionId, Slot>,
    /// Started kernels waiting for a session, oldest first.
    pool: VecDeque<Kernel>,
    /// Pool starts in flight, by ticket.
    pool_starts: HashMap<Ticket, AbortHandle>,
    /// After a failed pool start: when to try again, and the wait after the next failure.
    pool_retry_at: Option<Instant>,
    pool_backoff: Duration,
    /// [`Sessions::shutdown_all`] ran: nothing starts any more.
    closed: bool,
    next_ticket: u64,
}

/// Tells one start, one kernel or one shutdown apart from an earlier one for the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Ticket(u64);

enum Slot {
    Starting {
        ticket: Ticket,
        start: SharedStart,
        abort: AbortHandle,
    },
    Ready(Entry),
    Stopping {
        ticket: Ticket,
        stop: SharedStop,
    },
}

struct Entry {
    ticket: Ticket,
    kernel: Kernel,
    /// Executions run through [`Sessions::execute`] that are not over.
    busy: usize,
    /// When the kernel was last handed out or its last execution ended.
    idle_since: Instant,
}

/// Marks a session busy while it lives; see [`SessionExecution`].
struct Activity {
    inner: Weak<Inner>,
    id: SessionId,
    ticket: Ticket,
}

/// What a caller of [`Sessions::kernel`] found under the lock.
enum Found {
    Kernel(Kernel, Ticket),
    Start(Ticket, SharedStart),
    Stop(SharedStop),
}

/// What the background task should do next.
enum Next {
    Sleep(Option<Instant>),
    Exit,
}

impl Sessions {
    /// Kernels started with [`Kernel::start`] and `options`.
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does: the pool and the reaper run as a
    /// task.
    #[cfg(unix)]
    pub fn new(options: SessionsOptions) -> Self {
        Self::with_factory(options, Kernel::start)
    }

    /// Kernels started by `factory`, which gets [`SessionsOptions::kernel`] for each start.
    /// Tests use it with [`Kernel::start_with_transport`] over a memory transport.
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    pub fn with_factory<F, Fut>(options: SessionsOptions, factory: F) -> Self
    where
        F: Fn(KernelOptions) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Kernel, KernelError>> + Send + 'static,
    {
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            options,
            factory: Arc::new(move |options| factory(options).boxed()),
            state: Mutex::new(State {
                pool_backoff: POOL_RETRY_MIN,
                ..State::default()
            }),
            wake: Arc::clone(&wake),
        });
        tokio::spawn(background(Arc::downgrade(&inner), wake));
        Self { inner }
    }

    /// The kernel of session `id`: the live one, or a new one (from the pool when it has
    /// one, else started now). A dead kernel is shut down and replaced. Callers that
    /// arrive while the session starts share that start; a reset in progress is awaited.
    ///
    /// # Errors
    /// The start's [`KernelError`] (every caller that waited on a failed start gets it);
    /// [`KernelError::Cancelled`] when a reset aborted the start;
    /// [`KernelError::NotRunning`] after [`Sessions::shutdown_all`].
    ///
    /// # Cancel safety
    /// Cancel safe: a start goes on without the caller and its kernel is kept.
    pub async fn kernel(&self, id: &SessionId) -> Result<Kernel, KernelError> {
        self.acquire(id, false).await.map(|(kernel, _)| kernel)
    }

    /// Runs `code` on the kernel of session `id` (see [`Sessions::kernel`]) and returns
    /// the execution at once; the kernel is not reaped while it runs.
    ///
    /// # Errors
    /// As [`Sessions::kernel`]. A failing cell is an [`Outcome`], not an error.
    pub async fn execute(
        &self,
        id: &SessionId,
        code: impl Into<String>,
        options: ExecuteOptions,
    ) -> Result<SessionExecution, KernelError> {
        let code = code.into();
        let (kernel, activity) = self.acquire(id, true).await?;
        Ok(SessionExecution {
            execution: kernel.execute(code, options),
            activity,
        })
    }

    /// Shuts the kernel of session `id` down and forgets it; the next use starts a fresh
    /// one. Concurrent resets (and removes) share one shutdown.
    pub async fn reset(&self, id: &SessionId) {
        self.remove(id).await;
    }

    /// Like [`Sessions::reset`], and says how the shutdown went: `None` when the session
    /// had no kernel (or its start failed or was aborted).
    pub async fn remove(&self, id: &SessionId) -> Option<ShutdownReport> {
        let stop = {
            let mut state = self.inner.lock();
            self.inner.stop_slot(&mut state, id)?
        };
        stop.await
    }

    /// Shuts every kernel down (sessions and pool, in parallel) and waits for it. The
    /// background task stops and later calls fail with [`KernelError::NotRunning`].
    pub async fn shutdown_all(&self) {
        let (stops, pooled) = {
            let mut state = self.inner.lock();
            state.closed = true;
            for (_, start) in state.pool_starts.drain() {
                // A dropped start kills its runner.
                start.abort();
            }
            let pooled: Vec<Kernel> = state.pool.drain(..).collect();
            let ids: Vec<SessionId> = state.sessions.keys().cloned().collect();
            let stops: Vec<SharedStop> = ids
                .iter()
                .filter_map(|id| self.inner.stop_slot(&mut state, id))
                .collect();
            (stops, pooled)
        };
        self.inner.wake.notify_one();
        let pool_reports = future::join_all(pooled.iter().map(Kernel::shutdown));
        let (reports, pool_reports) = future::join(future::join_all(stops), pool_reports).await;
        let unconfirmed = reports
            .into_iter()
            .flatten()
            .chain(pool_reports)
            .filter(|report| !report.confirmed)
            .count();
        if unconfirmed > 0 {
            tracing::warn!(unconfirmed, "kernel shutdown not confirmed");
        }
    }

    /// The ids that have a kernel (starting, ready or stopping), in no particular order.
    pub fn session_ids(&self) -> Vec<SessionId> {
        self.inner.lock().sessions.keys().cloned().collect()
    }

    /// How many started kernels wait in the pool.
    pub fn pooled(&self) -> usize {
        self.inner.lock().pool.len()
    }

    /// Finds or starts the kernel of `id`; with `lease`, also marks it busy.
    async fn acquire(
        &self,
        id: &SessionId,
        lease: bool,
    ) -> Result<(Kernel, Option<Activity>), KernelError> {
        loop {
            let found = {
                let mut state = self.inner.lock();
                self.inner.find(&mut state, id)?
            };
            let (kernel, ticket) = match found {
                Found::Kernel(kernel, ticket) => (kernel, ticket),
                Found::Start(ticket, start) => match start.await {
                    Ok(kernel) => (kernel, ticket),
                    Err(err) => return Err(duplicate(&err)),
                },
                Found::Stop(stop) => {
                    stop.await;
                    continue;
                }
            };
            let activity = lease.then(|| self.inner.lease(id, ticket));
            return Ok((kernel, activity));
        }
    }
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("Sessions")
            .field("sessions", &state.sessions.len())
            .field("pooled", &state.pool.len())
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic: every update is a single assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks `id` up, taking a pooled kernel or beginning a start when it has none.
    fn find(self: &Arc<Self>, state: &mut State, id: &SessionId) -> Result<Found, KernelError> {
        if state.closed {
            return Err(KernelError::NotRunning);
        }
        let dead = match state.sessions.get_mut(id) {
            Some(Slot::Ready(entry)) if entry.kernel.is_alive() => {
                if entry.busy == 0 {
                    entry.idle_since = Instant::now();
                }
                return Ok(Found::Kernel(entry.kernel.clone(), entry.ticket));
            }
            Some(Slot::Starting { ticket, start, .. }) => {
                return Ok(Found::Start(*ticket, start.clone()));
            }
            Some(Slot::Stopping { stop, .. }) => return Ok(Found::Stop(stop.clone())),
            Some(Slot::Ready(_)) => match state.sessions.remove(id) {
                Some(Slot::Ready(entry)) => Some(entry.kernel),
                _ => None,
            },
            None => None,
        };
        if let Some(dead) = dead {
            tracing::debug!(session = %id, "kernel died; starting a new one");
            // It is dead already: this collects its exit and releases it.
            tokio::spawn(async move { dead.shutdown().await });
        }
        let ticket = state.ticket();
        if let Some(kernel) = self.take_pooled(state) {
            state.sessions.insert(
                id.clone(),
                Slot::Ready(Entry {
                    ticket,
                    kernel: kernel.clone(),
                    busy: 0,
                    idle_since: Instant::now(),
                }),
            );
            return Ok(Found::Kernel(kernel, ticket));
        }
        let task = tokio::spawn(start_session(
            Arc::downgrade(self),
            self.start_kernel(),
            id.clone(),
            ticket,
        ));
        let abort = task.abort_handle();
        let start = async move {
            match task.await {
                Ok(result) => result,
                // Aborted by a reset (or the runtime is going away): the start was dropped.
                Err(_) => Err(Arc::new(KernelError::Cancelled)),
            }
        }
        .boxed()
        .shared();
        state.sessions.insert(
            id.clone(),
            Slot::Starting {
                ticket,
                start: start.clone(),
                abort,
            },
        );
        Ok(Found::Start(ticket, start))
    }

    /// A start of one kernel; the factory runs only when it is first polled, in its own
    /// task, never under the lock.
    fn start_kernel(&self) -> BoxFuture<'static, Result<Kernel, KernelError>> {
        let factory = Arc::clone(&self.factory);
        let options = self.options.kernel.clone();
        async move { factory(options).await }.boxed()
    }

    /// The oldest live pooled kernel; dead ones are dropped. Wakes the refill.
    fn take_pooled(&self, state: &mut State) -> Option<Kernel> {
        let kernel = std::iter::from_fn(|| state.pool.pop_front()).find(Kernel::is_alive);
        if self.options.pool_size > 0 {
            self.wake.notify_one();
        }
        kernel
    }

    /// Turns the slot of `id` into a shared shutdown (joining one in progress).
    fn stop_slot(self: &Arc<Self>, state: &mut State, id: &SessionId) -> Option<SharedStop> {
        let slot = state.sessions.remove(id)?;
        if let Slot::Stopping { ticket, stop } = slot {
            state.sessions.insert(
                id.clone(),
                Slot::Stopping {
                    ticket,
                    stop: stop.clone(),
                },
            );
            return Some(stop);
        }
        let ticket = state.ticket();
        let task = tokio::spawn(stop_session(Arc::downgrade(self), slot, id.clone(), ticket));
        let stop = async move { task.await.unwrap_or(None) }.boxed().shared();
        state.sessions.insert(
            id.clone(),
            Slot::Stopping {
                ticket,
                stop: stop.clone(),
            },
        );
        Some(stop)
    }

    /// Marks the kernel `ticket` of `id` busy until the returned activity is dropped.
    fn lease(self: &Arc<Self>, id: &SessionId, ticket: Ticket) -> Activity {
        if let Some(Slot::Ready(entry)) = self.lock().sessions.get_mut(id) {
            if entry.ticket == ticket {
                entry.busy += 1;
            }
        }
        Activity {
            inner: Arc::downgrade(self),
            id: id.clone(),
            ticket,
        }
    }

    /// Refills the pool, drops dead pooled kernels and reaps idle ones; says when to look
    /// again.
    fn maintain(self: &Arc<Self>, now: Instant) -> Next {
        let mut state = self.lock();
        if state.closed {
            return Next::Exit;
        }
        state.pool.retain(Kernel::is_alive);
        let mut next: Option<Instant> = None;
        let retry_due = state.pool_retry_at.is_none_or(|at| at <= now);
        if retry_due {
            state.pool_retry_at = None;
            while state.pool.len() + state.pool_starts.len() < self.options.pool_size {
                let ticket = state.ticket();
                let task =
                    tokio::spawn(fill_pool(Arc::downgrade(self), self.start_kernel(), ticket));
                state.pool_starts.insert(ticket, task.abort_handle());
            }
        } else {
            next = state.pool_retry_at;
        }
        let Some(timeout) = self.options.idle_timeout else {
            return Next::Sleep(next);
        };
        let mut idle = Vec::new();
        for (id, slot) in &state.sessions {
            let Slot::Ready(entry) = slot else { continue };
            if entry.busy > 0 {
                continue;
            }
            let due = entry.idle_since + timeout;
            if due <= now {
                idle.push(id.clone());
            } else {
                next = Some(next.map_or(due, |next| next.min(due)));
            }
        }
        for id in idle {
            tracing::debug!(session = %id, ?timeout, "shutting down an idle kernel");
            // The shutdown runs on its own; the slot says Stopping meanwhile.
            let _ = self.stop_slot(&mut state, &id);
        }
        Next::Sleep(next)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        for start in state.pool_starts.values() {
            start.abort();
        }
        for slot in state.sessions.values() {
            if let Slot::Starting { abort, .. } = slot {
                abort.abort();
            }
        }
        // Dropping the kernels shuts each down in the background (see `Kernel`).
        self.wake.notify_one();
    }
}

impl State {
    fn ticket(&mut self) -> Ticket {
        self.next_ticket += 1;
        Ticket(self.next_ticket)
    }
}

impl SessionExecution {
    /// The execution's id, as sent to the runner.
    pub fn id(&self) -> &ExecId {
        self.execution.id()
    }

    /// The next output; `None` once the execution is over (see
    /// [`Execution::next_output`]).
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped call loses no output.
    pub async fn next_output(&mut self) -> Option<Output> {
        let output = self.execution.next_output().await;
        if output.is_none() {
            self.activity = None;
        }
        output
    }

    /// Waits for the end of the cell (see [`Execution::outcome`]).
    ///
    /// # Errors
    /// As [`Execution::outcome`]: only when the session failed.
    pub async fn outcome(mut self) -> Result<Outcome, KernelError> {
        let activity = self.activity.take();
        let outcome = self.execution.outcome().await;
        drop(activity);
        outcome
    }

    /// Aborts the cell (see [`Execution::cancel`]).
    pub fn cancel(&self) {
        self.execution.cancel();
    }

    /// Answers the cell's pending `input()` (see [`Execution::reply_input`]).
    ///
    /// # Errors
    /// As [`Execution::reply_input`].
    pub fn reply_input(&self, value: impl Into<String>) -> Result<(), KernelError> {
        self.execution.reply_input(value)
    }
}

impl Stream for SessionExecution {
    type Item = Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Output>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.execution).poll_next(cx);
        if let Poll::Ready(None) = poll {
            this.activity = None;
        }
        poll
    }
}

impl fmt::Debug for SessionExecution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionExecution")
            .field("execution", &self.execution)
            .field("running", &self.activity.is_some())
            .finish()
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if let Some(Slot::Ready(entry)) = inner.lock().sessions.get_mut(&self.id) {
            if entry.ticket == self.ticket {
                entry.busy = entry.busy.saturating_sub(1);
                if entry.busy == 0 {
                    entry.idle_since = Instant::now();
                }
            }
        }
        inner.wake.notify_one();
    }
}

/// Starts the kernel of `id` and registers it, unless a reset replaced the start.
async fn start_session(
    inner: Weak<Inner>,
    start: BoxFuture<'static, Result<Kernel, KernelError>>,
    id: SessionId,
    ticket: Ticket,
) -> Result<Kernel, Arc<KernelError>> {
    let result = start.await;
    let Some(inner) = inner.upgrade() else {
        // Every `Sessions` handle is gone; nobody can use the kernel.
        if let Ok(kernel) = result {
            kernel.shutdown().await;
        }
        return Err(Arc::new(KernelError::NotRunning));
    };
    {
        let mut state = inner.lock();
        let current = matches!(state.sessions.get(&id), Some(Slot::Starting { ticket: t, .. }) if *t == ticket);
        if current {
            match &result {
                Ok(kernel) => {
                    let entry = Entry {
                        ticket,
                        kernel: kernel.clone(),
                        busy: 0,
                        idle_since: Instant::now(),
                    };
                    state.sessions.insert(id, Slot::Ready(entry));
                }
                Err(err) => {
                    tracing::debug!(session = %id, %err, "kernel start failed");
                    state.sessions.remove(&id);
                }
            }
        }
        // Otherwise a reset took the slot; it awaits this start and shuts the kernel down.
    }
    inner.wake.notify_one();
    result.map_err(Arc::new)
}

/// Shuts down what `slot` holds, then forgets the session unless it moved on.
async fn stop_session(
    inner: Weak<Inner>,
    slot: Slot,
    id: SessionId,
    ticket: Ticket,
) -> Option<ShutdownReport> {
    let report = match slot {
        Slot::Ready(entry) => Some(entry.kernel.shutdown().await),
        Slot::Starting { start, abort, .. } => {
            abort.abort();
            match start.await {
                // The start finished before the abort landed.
                Ok(kernel) => Some(kernel.shutdown().await),
                Err(_) => None,
            }
        }
        Slot::Stopping { stop, .. } => stop.await,
    };
    if let Some(report) = report {
        if !report.confirmed {
            tracing::warn!(session = %id, "kernel shutdown not confirmed");
        }
    }
    if let Some(inner) = inner.upgrade() {
        let mut state = inner.lock();
        let current = matches!(state.sessions.get(&id), Some(Slot::Stopping { ticket: t, .. }) if *t == ticket);
        if current {
            state.sessions.remove(&id);
        }
    }
    report
}

/// Starts one pooled kernel and puts it in the pool (or shuts it down if the pool is full
/// or closed). A failure delays the next attempt, doubling the wait each time.
async fn fill_pool(
    inner: Weak<Inner>,
    start: BoxFuture<'static, Result<Kernel, KernelError>>,
    ticket: Ticket,
) {
    let result = start.await;
    let Some(inner) = inner.upgrade() else {
        if let Ok(kernel) = result {
            kernel.shutdown().await;
        }
        return;
    };
    let surplus = {
        let mut state = inner.lock();
        state.pool_starts.remove(&ticket);
        match result {
            Ok(kernel) if !state.closed && state.pool.len() < inner.options.pool_size => {
                state.pool.push_back(kernel);
                state.pool_backoff = POOL_RETRY_MIN;
                None
            }
            Ok(kernel) => Some(kernel),
            Err(err) => {
                let wait = state.pool_backoff;
                tracing::warn!(%err, ?wait, "starting a pooled kernel failed");
                state.pool_retry_at = Some(Instant::now() + wait);
                state.pool_backoff = (wait * 2).min(POOL_RETRY_MAX);
                None
            }
        }
    };
    inner.wake.notify_one();
    drop(inner);
    if let Some(kernel) = surplus {
        kernel.shutdown().await;
    }
}

/// Refills the pool and reaps idle kernels until the last `Sessions` handle is gone or
/// [`Sessions::shutdown_all`] ran.
async fn background(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let next = match inner.upgrade() {
            Some(inner) => inner.maintain(Instant::now()),
            None => Next::Exit,
        };
        match next {
            Next::Exit => return,
            Next::Sleep(Some(deadline)) => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = time::sleep_until(deadline) => {}
                }
            }
            Next::Sleep(None) => wake.notified().await,
        }
    }
}

/// A copy of `err` for each caller that waited on the same failed start.
///
/// [`KernelError`] holds `io::Error`s, which do not clone; those are rebuilt from their
/// kind and message. A variant without a faithful copy keeps its message.
fn duplicate(err: &KernelError) -> KernelError {
    let copy_io = |source: &io::Error| io::Error::new(source.kind(), source.to_string());
    match err {
        KernelError::PythonNotFound { tried } => KernelError::PythonNotFound {
            tried: tried.clone(),
        },
        KernelError::PythonUnusable { path, reason } => KernelError::PythonUnusable {
            path: path.clone(),
            reason: reason.clone(),
        },
        KernelError::InvalidCwd { path, source } => KernelError::InvalidCwd {
            path: path.clone(),
            source: copy_io(source),
        },
        KernelError::StageRunner(source) => KernelError::StageRunner(copy_io(source)),
        KernelError::Spawn { path, source } => KernelError::Spawn {
            path: path.clone(),
            source: copy_io(source),
        },
        KernelError::ProtocolMismatch { runner, host } => KernelError::ProtocolMismatch {
            runner: *runner,
            host: *host,
        },
        KernelError::StartupTimeout { phase } => KernelError::StartupTimeout { phase },
        KernelError::StartupFailed { phase, message } => KernelError::StartupFailed {
            phase,
            message: message.clone(),
        },
        KernelError::Cancelled => KernelError::Cancelled,
        KernelError::Died {
            status,
            stderr_tail,
        } => KernelError::Died {
            status: *status,
            stderr_tail: stderr_tail.clone(),
        },
        KernelError::NotRunning => KernelError::NotRunning,
        other => KernelError::StartupFailed {
            phase: "start",
            message: other.to_string(),
        },
    }
}

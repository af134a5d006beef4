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
//!
//! Each kernel a session gets is its next generation ([`Kernel::generation`], stamped on
//! every [`crate::Outcome`]), so a caller learns that a kernel was replaced and its
//! variables are gone. A session may have owners ([`Sessions::acquire`]): it is shut down
//! and forgotten when the last owner releases it.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::Duration,
};

use futures::{
    FutureExt,
    future::{self, BoxFuture, Shared},
};
use tokio::{
    sync::Notify,
    task::AbortHandle,
    time::{self, Instant},
};

use crate::{ExecuteOptions, Execution, Kernel, KernelError, KernelOptions, ShutdownReport};

/// The first wait before the pool tries again after a kernel failed to start.
const POOL_RETRY_MIN: Duration = Duration::from_secs(1);
/// The longest wait between the pool's attempts to start a kernel.
const POOL_RETRY_MAX: Duration = Duration::from_secs(60);

pykernel_protocol::string_id! {
    /// Names one session: one kernel and its namespace.
    pub struct SessionId;
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
/// A kernel's idle time runs from the end of its last cell ([`Kernel::idle_since`]) or
/// from the last time [`Sessions::kernel`] or [`Sessions::execute`] handed it out,
/// whichever is later. A kernel with a cell running or queued is never reaped, whoever
/// submitted the cell: [`Sessions::execute`], or a caller using a kernel handed out by
/// [`Sessions::kernel`] directly. Outputs a consumer has not taken yet do not keep a kernel;
/// they stay readable after it was reaped. A handle kept past the idle timeout without
/// use may find its kernel reaped: its executions then end with
/// [`KernelError::NotRunning`].
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

/// One owner's hold on a session, from [`Sessions::acquire`].
///
/// The session lives while any owner holds it; when the last owner releases it, its
/// kernel is shut down (what runs there ends `kernel_killed`) and the session is
/// forgotten. Releasing never hangs: the shutdown escalates to SIGKILL within three
/// shutdown graces. Dropping an owner releases it too, with the shutdown in the
/// background.
#[must_use = "dropping a SessionOwner releases the session at once"]
pub struct SessionOwner {
    sessions: Sessions,
    id: SessionId,
    released: bool,
}

impl SessionOwner {
    /// The session this owner holds.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The session's kernel, as [`Sessions::kernel`] gives it.
    ///
    /// # Errors
    /// As [`Sessions::kernel`].
    ///
    /// # Cancel safety
    /// Cancel safe, as [`Sessions::kernel`].
    pub async fn kernel(&self) -> Result<Kernel, KernelError> {
        self.sessions.kernel(&self.id).await
    }

    /// Runs `code` in the session, as [`Sessions::execute`] does.
    ///
    /// # Errors
    /// As [`Sessions::kernel`].
    pub async fn execute(
        &self,
        code: impl Into<String>,
        options: ExecuteOptions,
    ) -> Result<Execution, KernelError> {
        self.sessions.execute(&self.id, code, options).await
    }

    /// Gives the hold up. When this was the last owner, the session's kernel is shut
    /// down and the session forgotten; the report says how the shutdown went (`None`
    /// when other owners still hold the session, or it had no kernel).
    ///
    /// # Cancel safety
    /// The release happens at once; a dropped call only stops waiting for the shutdown,
    /// which goes on.
    pub async fn release(mut self) -> Option<ShutdownReport> {
        self.release_now()?.await
    }

    /// Takes this owner off the count; the shutdown to wait for when it was the last.
    fn release_now(&mut self) -> Option<SharedStop> {
        if std::mem::replace(&mut self.released, true) {
            return None;
        }
        let inner = &self.sessions.inner;
        let mut state = inner.lock();
        let count = state.owners.get_mut(&self.id)?;
        *count = count.saturating_sub(1);
        if *count > 0 {
            return None;
        }
        state.owners.remove(&self.id);
        if tokio::runtime::Handle::try_current().is_err() {
            // Dropped outside a runtime, where no shutdown can be spawned: forget the
            // session; its kernel shuts down when its last handle goes (see `Kernel`).
            if let Some(Slot::Starting { abort, .. }) = state.sessions.remove(&self.id) {
                abort.abort();
            }
            return None;
        }
        inner.stop_slot(&mut state, &self.id)
    }
}

impl Drop for SessionOwner {
    fn drop(&mut self) {
        // The shutdown, if this was the last owner, runs on its own.
        let _ = self.release_now();
    }
}

impl fmt::Debug for SessionOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOwner")
            .field("id", &self.id)
            .field("released", &self.released)
            .finish_non_exhaustive()
    }
}

/// Starts a kernel from options; [`Sessions::with_factory`] takes one.
type Factory =
    Arc<dyn Fn(KernelOptions) -> BoxFuture<'static, Result<Kernel, KernelError>> + Send + Sync>;
/// A start every caller for one session waits on.
type SharedStart = Shared<BoxFuture<'static, Result<Kernel, KernelError>>>;
/// A shutdown every caller for one session waits on.
type SharedStop = Shared<BoxFuture<'static, Option<ShutdownReport>>>;

struct Inner {
    options: SessionsOptions,
    factory: Factory,
    state: Mutex<State>,
    /// Wakes the background task: the pool shrank, a kernel started, or shutdown.
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
    /// The generation of the last kernel each session got; kept after the session is
    /// removed, so a later kernel under the same id still counts on.
    generations: HashMap<SessionId, u64>,
    /// How many [`SessionOwner`]s hold each owned session.
    owners: HashMap<SessionId, usize>,
}

/// Tells one start or one shutdown apart from an earlier one for the same id, and pool
/// starts apart from each other.
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
    kernel: Kernel,
    /// When the kernel was last handed out.
    handed_out: Instant,
}

/// What a caller of [`Sessions::kernel`] found under the lock.
enum Found {
    Kernel(Kernel),
    Start(SharedStart),
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
        loop {
            let found = {
                let mut state = self.inner.lock();
                self.inner.find(&mut state, id)?
            };
            return match found {
                Found::Kernel(kernel) => Ok(kernel),
                Found::Start(start) => start.await,
                Found::Stop(stop) => {
                    stop.await;
                    continue;
                }
            };
        }
    }

    /// Runs `code` on the kernel of session `id` (see [`Sessions::kernel`]) and returns
    /// the execution at once; the kernel is not reaped while the cell runs or waits.
    ///
    /// # Errors
    /// As [`Sessions::kernel`]. A failing cell is an [`crate::Outcome`], not an error.
    pub async fn execute(
        &self,
        id: &SessionId,
        code: impl Into<String>,
        options: ExecuteOptions,
    ) -> Result<Execution, KernelError> {
        let code = code.into();
        let kernel = self.kernel(id).await?;
        Ok(kernel.execute(code, options))
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
            .filter(|report| !report.confirmed())
            .count();
        if unconfirmed > 0 {
            tracing::warn!(unconfirmed, "kernel shutdown not confirmed");
        }
    }

    /// The generation of the last kernel session `id` got ([`Kernel::generation`]),
    /// whether or not it still has it; `None` before its first.
    pub fn generation(&self, id: &SessionId) -> Option<u64> {
        self.inner.lock().generations.get(id).copied()
    }

    /// Makes the caller one more owner of session `id` (whether or not it has a kernel
    /// yet): the session is shared by its owners, and it is shut down and forgotten when
    /// the last of them releases it ([`SessionOwner::release`], or dropping the owner).
    ///
    /// Owners do not change anything else: [`Sessions::reset`], [`Sessions::remove`] and
    /// the idle reaper still stop an owned session's kernel (its owners get a new one, the
    /// next generation, on next use), and a session nobody acquired lives as before.
    ///
    /// # Errors
    /// [`KernelError::NotRunning`] after [`Sessions::shutdown_all`].
    pub fn acquire(&self, id: &SessionId) -> Result<SessionOwner, KernelError> {
        let mut state = self.inner.lock();
        if state.closed {
            return Err(KernelError::NotRunning);
        }
        *state.owners.entry(id.clone()).or_insert(0) += 1;
        Ok(SessionOwner {
            sessions: self.clone(),
            id: id.clone(),
            released: false,
        })
    }

    /// How many owners hold session `id` ([`Sessions::acquire`]).
    pub fn owners(&self, id: &SessionId) -> usize {
        self.inner.lock().owners.get(id).copied().unwrap_or(0)
    }

    /// The ids that have a kernel (starting, ready or stopping), in no particular order.
    pub fn session_ids(&self) -> Vec<SessionId> {
        self.inner.lock().sessions.keys().cloned().collect()
    }

    /// How many started kernels wait in the pool.
    pub fn pooled(&self) -> usize {
        self.inner.lock().pool.len()
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
                entry.handed_out = Instant::now();
                return Ok(Found::Kernel(entry.kernel.clone()));
            }
            Some(Slot::Starting { start, .. }) => return Ok(Found::Start(start.clone())),
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
        if let Some(kernel) = self.take_pooled(state) {
            state.install(id, &kernel);
            state.sessions.insert(
                id.clone(),
                Slot::Ready(Entry {
                    kernel: kernel.clone(),
                    handed_out: Instant::now(),
                }),
            );
            return Ok(Found::Kernel(kernel));
        }
        let ticket = state.ticket();
        let task = tokio::spawn(start_session(
            Arc::downgrade(self),
            self.start_kernel_for(id),
            id.clone(),
            ticket,
        ));
        let abort = task.abort_handle();
        let start = async move {
            match task.await {
                Ok(result) => result,
                // Aborted by a reset (or the runtime is going away): the start was dropped.
                Err(_) => Err(KernelError::Cancelled),
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
        Ok(Found::Start(start))
    }

    /// A start of one kernel; the factory runs only when it is first polled, in its own
    /// task, never under the lock.
    fn start_kernel(&self) -> BoxFuture<'static, Result<Kernel, KernelError>> {
        let factory = Arc::clone(&self.factory);
        let options = self.options.kernel.clone();
        async move { factory(options).await }.boxed()
    }

    /// A start for session `id`: a `{session}` in the launcher becomes its name, so each
    /// session can get its own host, container or pod.
    fn start_kernel_for(&self, id: &SessionId) -> BoxFuture<'static, Result<Kernel, KernelError>> {
        let factory = Arc::clone(&self.factory);
        let mut options = self.options.kernel.clone();
        if let Some(launcher) = &options.launcher {
            options.launcher = Some(launcher.for_session(id.as_str()));
        }
        async move { factory(options).await }.boxed()
    }

    /// Whether the launcher names each session (`{session}`), so no kernel is pooled.
    fn places_sessions(&self) -> bool {
        self.options
            .kernel
            .launcher
            .as_ref()
            .is_some_and(pykernel_transport::Launcher::has_session_placeholder)
    }

    /// The oldest live pooled kernel that runs the interpreter a start would resolve now;
    /// dead ones, and ones a pin or environment change made stale, are dropped (dropping
    /// shuts them down). Wakes the refill.
    fn take_pooled(&self, state: &mut State) -> Option<Kernel> {
        if state.pool.is_empty() {
            return None;
        }
        let current = crate::resolve_python(&self.options.kernel).ok();
        let kernel = std::iter::from_fn(|| state.pool.pop_front())
            .find(|kernel| kernel.is_alive() && runs_python(kernel, current.as_ref()));
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
            // A launcher that places each session (`{session}`) cannot start one ahead.
            let pool_size = if self.places_sessions() {
                0
            } else {
                self.options.pool_size
            };
            while state.pool.len() + state.pool_starts.len() < pool_size {
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
            let Some(since) = entry.kernel.idle_since() else {
                // A cell runs or waits. The kernel cannot be due before a whole timeout
                // from now: look again then.
                let again = now + timeout;
                next = Some(next.map_or(again, |next| next.min(again)));
                continue;
            };
            let due = Instant::from_std(since).max(entry.handed_out) + timeout;
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

    /// Makes `kernel` the next generation of session `id`, before anyone gets it.
    fn install(&mut self, id: &SessionId, kernel: &Kernel) {
        let generation = self.generations.entry(id.clone()).or_insert(0);
        *generation += 1;
        kernel.set_generation(*generation);
    }
}

/// Starts the kernel of `id` and registers it, unless a reset replaced the start.
async fn start_session(
    inner: Weak<Inner>,
    start: BoxFuture<'static, Result<Kernel, KernelError>>,
    id: SessionId,
    ticket: Ticket,
) -> Result<Kernel, KernelError> {
    let result = start.await;
    let Some(inner) = inner.upgrade() else {
        // Every `Sessions` handle is gone; nobody can use the kernel.
        if let Ok(kernel) = result {
            kernel.shutdown().await;
        }
        return Err(KernelError::NotRunning);
    };
    {
        let mut state = inner.lock();
        let current = matches!(state.sessions.get(&id), Some(Slot::Starting { ticket: t, .. }) if *t == ticket);
        if current {
            match &result {
                Ok(kernel) => {
                    state.install(&id, kernel);
                    let entry = Entry {
                        kernel: kernel.clone(),
                        handed_out: Instant::now(),
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
    result
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
        if !report.confirmed() {
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

/// Whether `kernel` runs `current`, the interpreter a start would resolve now. A kernel
/// over a caller's transport has no interpreter and always does; so does every kernel when
/// resolution fails now (the start would fail too, and the pooled kernel still works).
fn runs_python(kernel: &Kernel, current: Option<&crate::ResolvedPython>) -> bool {
    match (&kernel.info().python, current) {
        (Some(python), Some(current)) => python.path == current.path,
        _ => true,
    }
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

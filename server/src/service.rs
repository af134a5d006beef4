//! Sessions addressed by name over [`pykernel::Sessions`]: the calls a frontend makes.
//!
//! A frontend (`pyk mcp`, `pyk serve`) holds one [`Service`]. It runs cells in named
//! sessions ([`Service::run`]), lists, interrupts, restarts and shuts sessions down, and
//! knows when a session's kernel was replaced so it can tell its client that earlier
//! variables are gone ([`RunInfo::kernel_restarted`]). Clients may share a session as
//! its owners ([`Service::open`], [`Service::close`]): it is shut down when the last one
//! closes it.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};
use pykernel::{
    Completions, ExecuteOptions, Execution, Kernel, KernelError, KernelOptions, Outcome, Output,
    SessionId, Sessions, SessionsOptions, UnattachedOutput,
};

use crate::{Artifacts, ServiceError, bounded::DEFAULT_OUTPUT_LIMIT, error::MAX_SESSION_NAME};

/// The default limit on sessions with a kernel at one time.
pub const DEFAULT_MAX_SESSIONS: usize = 16;
/// The default timeout of a cell that gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The default time a session may sit unused before its kernel is shut down.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// How a [`Service`] starts and keeps kernels. Build it with [`ServiceOptions::new`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServiceOptions {
    /// How every kernel is started.
    pub kernel: KernelOptions,
    /// How many kernels to keep started ahead of time, so a new session gets one at once.
    pub pool_size: usize,
    /// Shut a session's kernel down after it sat unused this long; `None` never does.
    pub idle_timeout: Option<Duration>,
    /// Refuse a new session when this many have a kernel.
    pub max_sessions: usize,
    /// The timeout of a cell that gives none; `None` lets it run for ever.
    pub default_timeout: Option<Duration>,
    /// The characters of text a text consumer gets per cell before head and tail are
    /// kept and the whole text is saved (see [`crate::BoundedText`]); Python reads it
    /// back with `output(id)`.
    pub output_limit: usize,
    /// Where cut outputs are saved; `None` makes a private temporary directory that is
    /// removed with the service.
    pub artifact_dir: Option<PathBuf>,
}

impl ServiceOptions {
    /// Kernels started with `kernel`; one pooled kernel, an idle timeout of
    /// [`DEFAULT_IDLE_TIMEOUT`], [`DEFAULT_MAX_SESSIONS`], [`DEFAULT_TIMEOUT`] and
    /// [`DEFAULT_OUTPUT_LIMIT`].
    pub fn new(kernel: KernelOptions) -> Self {
        Self {
            kernel,
            pool_size: 1,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            max_sessions: DEFAULT_MAX_SESSIONS,
            default_timeout: Some(DEFAULT_TIMEOUT),
            output_limit: DEFAULT_OUTPUT_LIMIT,
            artifact_dir: None,
        }
    }

    /// Keeps `size` kernels started ahead of time.
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Shuts a session's kernel down after `timeout` unused; `None` never does.
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Refuses a new session when `max` have a kernel.
    pub fn with_max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    /// The timeout of a cell that gives none.
    pub fn with_default_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// The characters of text per cell a text consumer gets.
    pub fn with_output_limit(mut self, limit: usize) -> Self {
        self.output_limit = limit;
        self
    }

    /// Saves cut outputs in `dir` (made with mode 0700 when missing, kept on exit).
    pub fn with_artifact_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.artifact_dir = Some(dir.into());
        self
    }
}

/// Starts one kernel from [`ServiceOptions::kernel`]; [`Service::with_kernel_start`]
/// takes one (`pyk serve` gives each kernel its own host-call route this way).
pub type KernelStart =
    Arc<dyn Fn(KernelOptions) -> BoxFuture<'static, Result<Kernel, KernelError>> + Send + Sync>;

/// How one cell runs. Build it with [`RunOptions::new`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RunOptions {
    /// Interrupt the cell after this long (then kill the kernel after the grace);
    /// `None` takes [`ServiceOptions::default_timeout`].
    pub timeout: Option<Duration>,
    /// Let `input()` ask the caller ([`Output::InputRequest`]); otherwise it fails at once.
    pub allow_stdin: bool,
    /// Run without showing the result and without history.
    pub silent: bool,
    /// Run even when a cell queued before it fails, instead of being aborted as Jupyter's
    /// `stop_on_error` does (see [`ExecuteOptions::continue_on_error`]). Frontends whose
    /// calls are independent requests, such as MCP tool calls, set it.
    pub continue_on_error: bool,
}

impl RunOptions {
    /// The default timeout, no stdin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Interrupts the cell after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Lets `input()` ask the caller.
    pub fn with_stdin(mut self, allow: bool) -> Self {
        self.allow_stdin = allow;
        self
    }

    /// Runs the cell silently (true): no result, no history.
    pub fn with_silent(mut self, silent: bool) -> Self {
        self.silent = silent;
        self
    }

    /// Runs the cell even when one queued before it fails (true).
    pub fn with_continue_on_error(mut self, keep_going: bool) -> Self {
        self.continue_on_error = keep_going;
        self
    }
}

/// Which kernel a run went to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// The session's name.
    pub session: String,
    /// The kernel's generation ([`Kernel::generation`], also on its every [`Outcome`]):
    /// 1 for the session's first kernel, one more for each replacement (a restart, or a
    /// kernel that died or was reaped).
    pub generation: u64,
    /// The session had a kernel before, and it died, was killed or was reaped since the
    /// previous call: this run has a fresh namespace and earlier variables are gone. An
    /// explicit [`Service::restart`] does not count (the caller asked for it).
    pub kernel_restarted: bool,
    /// The runner's process id.
    pub pid: u32,
}

/// One cell running in a session: its outputs as they happen, then its outcome.
///
/// Dropping an unfinished run cancels the cell (interrupt, then kill after the grace).
pub struct Run {
    info: RunInfo,
    execution: Execution,
}

impl Run {
    /// Which kernel the cell went to.
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// The next output, in order; `None` once every output was taken.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped call loses no output.
    pub async fn next_output(&mut self) -> Option<Output> {
        self.execution.next_output().await
    }

    /// The execution, which is also a [`futures::Stream`] of outputs.
    pub fn execution_mut(&mut self) -> &mut Execution {
        &mut self.execution
    }

    /// Cancels the cell: interrupts it, and kills the kernel when it has not ended after
    /// the interrupt grace (the outcome then says `kernel_killed`).
    pub fn cancel(&self) {
        self.execution.cancel();
    }

    /// Answers the cell's pending `input()` with `line`.
    ///
    /// # Errors
    /// When the kernel is gone.
    pub fn reply_input(&self, line: impl Into<String>) -> Result<(), ServiceError> {
        Ok(self.execution.reply_input(line)?)
    }

    /// Answers the cell's pending `input()` with the end of input (`EOFError`).
    ///
    /// # Errors
    /// When the kernel is gone.
    pub fn reply_input_eof(&self) -> Result<(), ServiceError> {
        Ok(self.execution.reply_input_eof()?)
    }

    /// Waits for the end of the cell, discarding outputs not taken yet.
    ///
    /// # Errors
    /// [`KernelError::Died`] when the kernel died under the cell; a Python exception,
    /// an interrupt or a timeout is an [`Outcome`].
    pub async fn outcome(self) -> Result<Outcome, KernelError> {
        self.execution.outcome().await
    }

    /// The info and the execution, apart.
    pub fn into_parts(self) -> (RunInfo, Execution) {
        (self.info, self.execution)
    }
}

/// One session, as [`Service::sessions`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's name.
    pub name: String,
    /// Whether its kernel is running; false after it died or was reaped (the next run
    /// starts a fresh one).
    pub alive: bool,
    /// Whether a cell runs or waits in it.
    pub busy: bool,
    /// How long it has had no work; `None` while busy.
    pub idle: Option<Duration>,
    /// The kernel's current working directory (it follows `os.chdir`), when known.
    pub cwd: Option<PathBuf>,
    /// See [`RunInfo::generation`].
    pub generation: u64,
    /// The runner's process id.
    pub pid: u32,
}

/// Named sessions over a [`Sessions`] pool, shared by every request of a frontend.
///
/// Cheap to clone; clones share the sessions. Call [`Service::shutdown_all`] when the
/// client goes away; dropping the last clone also shuts every kernel down, in the
/// background.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    options: ServiceOptions,
    sessions: Sessions,
    owners: Mutex<Owners>,
    artifacts: Arc<Artifacts>,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    entries: BTreeMap<String, Entry>,
    /// Names whose kernel is being fetched or started; they count against the limit.
    starting: BTreeMap<String, usize>,
    closed: bool,
}

struct Entry {
    kernel: Kernel,
    generation: u64,
}

/// The holds clients took with [`Service::open`], by id.
#[derive(Default)]
struct Owners {
    last: u64,
    held: BTreeMap<OwnerId, pykernel::SessionOwner>,
}

/// Names one hold on a session that [`Service::open`] gave; [`Service::close`] gives it up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerId(u64);

impl OwnerId {
    /// The id a client was given as a number.
    pub fn new(id: u64) -> Self {
        Self(id)
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for OwnerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A session a client opened with [`Service::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The hold, to give up with [`Service::close`].
    pub owner: OwnerId,
    /// The session's kernel now (started if it had none).
    pub info: RunInfo,
    /// How many holds the session has, this one included.
    pub owners: usize,
}

/// Takes a name out of [`Table::starting`] when the start ends, however it ends.
struct StartGuard<'a> {
    inner: &'a Inner,
    name: String,
}

impl Service {
    /// A service with `options`. No kernel starts before the first run, except the pool's.
    ///
    /// # Errors
    /// [`ServiceError::Artifacts`] when the output directory cannot be made.
    ///
    /// # Panics
    /// Outside a tokio runtime (the pool runs as a task).
    pub fn new(options: ServiceOptions) -> Result<Self, ServiceError> {
        Self::with_kernel_start(options, Arc::new(|options| Kernel::start(options).boxed()))
    }

    /// A service whose kernels `start` starts, given [`ServiceOptions::kernel`].
    ///
    /// # Errors
    /// As [`Service::new`].
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn with_kernel_start(
        options: ServiceOptions,
        start: KernelStart,
    ) -> Result<Self, ServiceError> {
        let artifacts = match &options.artifact_dir {
            Some(dir) => Artifacts::in_dir(dir.clone()),
            None => Artifacts::create_private(),
        }
        .map_err(|err| ServiceError::Artifacts(Arc::new(err)))?;
        let artifacts = Arc::new(artifacts);
        // Python's `output()` reads back what the service's transcripts cut.
        let kernel_options = options
            .kernel
            .clone()
            .with_artifacts(Arc::clone(&artifacts));
        let mut sessions_options =
            SessionsOptions::new(kernel_options).with_pool_size(options.pool_size);
        if let Some(idle) = options.idle_timeout {
            sessions_options = sessions_options.with_idle_timeout(idle);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                sessions: Sessions::with_factory(sessions_options, move |options| start(options)),
                owners: Mutex::new(Owners::default()),
                options,
                artifacts,
                table: Mutex::new(Table::default()),
            }),
        })
    }

    /// The options the service was made with.
    pub fn options(&self) -> &ServiceOptions {
        &self.inner.options
    }

    /// The private directory of saved outputs, which the service's kernels offer to
    /// Python as the host function `output`.
    pub fn artifacts(&self) -> &Artifacts {
        &self.inner.artifacts
    }

    /// Runs `code` as one cell in session `session`, starting its kernel on first use
    /// (from the pool when it has one) and replacing a dead one. Returns at once with
    /// the running cell.
    ///
    /// # Errors
    /// [`ServiceError::InvalidSessionName`]; [`ServiceError::TooManySessions`] for a new
    /// session over the limit; [`ServiceError::Kernel`] when the kernel cannot start;
    /// [`ServiceError::Closed`] after [`Service::shutdown_all`].
    ///
    /// # Cancel safety
    /// Cancel safe: a kernel started meanwhile stays with the session.
    pub async fn run(
        &self,
        session: &str,
        code: impl Into<String>,
        options: RunOptions,
    ) -> Result<Run, ServiceError> {
        let code = code.into();
        let (kernel, info) = self.kernel(session).await?;
        let mut execute = ExecuteOptions::new()
            .with_stdin(options.allow_stdin)
            .with_continue_on_error(options.continue_on_error);
        if options.silent {
            execute = execute.silent();
        }
        if let Some(timeout) = options.timeout.or(self.inner.options.default_timeout) {
            execute = execute.with_timeout(timeout);
        }
        Ok(Run {
            info,
            execution: kernel.execute(code, execute),
        })
    }

    /// Completions for `code` at `cursor` (in characters) from session `session`'s live
    /// namespace, starting its kernel on first use; it answers even while a cell runs.
    ///
    /// # Errors
    /// As [`Service::run`], and [`ServiceError::Kernel`] when the kernel does not answer.
    pub async fn complete(
        &self,
        session: &str,
        code: &str,
        cursor: usize,
    ) -> Result<Completions, ServiceError> {
        let (kernel, _) = self.kernel(session).await?;
        Ok(kernel.complete(code, cursor).await?)
    }

    /// The sessions, by name.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let now = tokio::time::Instant::now().into_std();
        let table = self.inner.lock();
        table
            .entries
            .iter()
            .map(|(name, entry)| {
                let alive = entry.kernel.is_alive();
                let idle_since = entry.kernel.idle_since();
                let pid = entry.kernel.info().pid;
                SessionInfo {
                    name: name.clone(),
                    alive,
                    busy: alive && idle_since.is_none(),
                    idle: idle_since.map(|since| now.saturating_duration_since(since)),
                    cwd: alive
                        .then(|| kernel_cwd(pid, &self.inner.options.kernel))
                        .flatten(),
                    generation: entry.generation,
                    pid,
                }
            })
            .collect()
    }

    /// Interrupts what runs in session `session` now: the running cell ends with
    /// `KeyboardInterrupt`. Nothing happens when it is idle. It never escalates to a kill.
    ///
    /// # Errors
    /// [`ServiceError::NoSuchSession`] when the session has no running kernel.
    pub fn interrupt(&self, session: &str) -> Result<(), ServiceError> {
        let kernel = self.live_kernel(session)?;
        kernel
            .interrupt()
            .map_err(|_| ServiceError::NoSuchSession(session.to_owned()))
    }

    /// Gives session `session` a fresh kernel and namespace: shuts its kernel down (what
    /// runs there ends with `kernel_killed`) and starts a new one at once, from the pool
    /// when it has one. A session that does not exist yet is started.
    ///
    /// # Errors
    /// As [`Service::run`].
    pub async fn restart(&self, session: &str) -> Result<RunInfo, ServiceError> {
        validate_name(session)?;
        let id = SessionId::new(session);
        self.inner.sessions.reset(&id).await;
        let (_, mut info) = self.kernel(session).await?;
        info.kernel_restarted = false;
        Ok(info)
    }

    /// Shuts session `session`'s kernel down and forgets the session.
    ///
    /// # Errors
    /// [`ServiceError::NoSuchSession`] when there is no such session.
    pub async fn shutdown(&self, session: &str) -> Result<(), ServiceError> {
        let removed = self.inner.lock().entries.remove(session);
        self.inner.sessions.remove(&SessionId::new(session)).await;
        match removed {
            Some(_) => Ok(()),
            None => Err(ServiceError::NoSuchSession(session.to_owned())),
        }
    }

    /// Takes a hold on session `session` as one of its owners, starting its kernel if it
    /// has none: clients that open the same name share one kernel and namespace, and the
    /// session is shut down when the last of them closes it ([`Service::close`]). Runs
    /// name the session as usual; a session nobody opened lives as before.
    ///
    /// # Errors
    /// As [`Service::run`]; a failed start takes no hold.
    pub async fn open(&self, session: &str) -> Result<Opened, ServiceError> {
        validate_name(session)?;
        let id = SessionId::new(session);
        let owner = self.inner.sessions.acquire(&id)?;
        // Dropping the owner gives the hold up again when the start fails.
        let (_, info) = self.kernel(session).await?;
        let owners = self.inner.sessions.owners(&id);
        let mut held = self.inner.owners();
        held.last += 1;
        let id = OwnerId(held.last);
        held.held.insert(id, owner);
        Ok(Opened {
            owner: id,
            info,
            owners,
        })
    }

    /// Gives up the hold `owner` that [`Service::open`] gave. When it was the session's
    /// last, the session's kernel is shut down (what runs there ends `kernel_killed`) and
    /// the session forgotten; the answer says whether that happened. It never hangs: the
    /// shutdown escalates to SIGKILL within the shutdown graces.
    ///
    /// # Errors
    /// [`ServiceError::NoSuchOwner`] when `owner` is not a hold (or was closed already).
    pub async fn close(&self, owner: OwnerId) -> Result<bool, ServiceError> {
        let held = self.inner.owners().held.remove(&owner);
        let Some(held) = held else {
            return Err(ServiceError::NoSuchOwner(owner));
        };
        let id = held.id().clone();
        held.release().await;
        let last = self.inner.sessions.owners(&id) == 0;
        if last {
            self.inner.lock().entries.remove(id.as_str());
        }
        Ok(last)
    }

    /// Shuts every kernel down (sessions and pool) and waits for it; later runs fail
    /// with [`ServiceError::Closed`].
    pub async fn shutdown_all(&self) {
        let kernels: Vec<Kernel> = {
            let mut table = self.inner.lock();
            table.closed = true;
            std::mem::take(&mut table.entries)
                .into_values()
                .map(|entry| entry.kernel)
                .collect()
        };
        self.inner.sessions.shutdown_all().await;
        // Every session is gone; the holds on them are released with nothing to stop.
        std::mem::take(&mut self.inner.owners().held);
        // Sessions already stopped them; this covers a kernel a reset had forgotten.
        futures::future::join_all(kernels.iter().map(Kernel::shutdown)).await;
    }

    /// The kernel of `session`, started or replaced as needed, and what the caller must
    /// know about it.
    async fn kernel(&self, session: &str) -> Result<(Kernel, RunInfo), ServiceError> {
        validate_name(session)?;
        let guard = self.inner.begin_start(session)?;
        let kernel = self.inner.sessions.kernel(&SessionId::new(session)).await?;
        drop(guard);
        let pid = kernel.info().pid;
        let generation = kernel.generation();
        let mut table = self.inner.lock();
        if table.closed {
            return Err(ServiceError::Closed);
        }
        // Sessions gives each new kernel of a session the next generation.
        let kernel_restarted = match table.entries.get_mut(session) {
            Some(entry) if entry.generation == generation => false,
            Some(entry) => {
                entry.kernel = kernel.clone();
                entry.generation = generation;
                true
            }
            None => {
                table.entries.insert(
                    session.to_owned(),
                    Entry {
                        kernel: kernel.clone(),
                        generation,
                    },
                );
                false
            }
        };
        Ok((
            kernel,
            RunInfo {
                session: session.to_owned(),
                generation,
                kernel_restarted,
                pid,
            },
        ))
    }

    /// Takes what background threads of session `session`'s kernel wrote after their
    /// cells ended (see [`Kernel::take_unattached_output`]); empty for an unknown session.
    pub fn take_unattached_output(&self, session: &str) -> Vec<UnattachedOutput> {
        let table = self.inner.lock();
        table
            .entries
            .get(session)
            .map(|entry| entry.kernel.take_unattached_output())
            .unwrap_or_default()
    }

    /// The kernel session `session` runs on now, if it has a live one: for a caller that
    /// waits on it (such as [`Kernel::unattached_output`]).
    pub fn session_kernel(&self, session: &str) -> Option<Kernel> {
        self.live_kernel(session).ok()
    }

    fn live_kernel(&self, session: &str) -> Result<Kernel, ServiceError> {
        let table = self.inner.lock();
        match table.entries.get(session) {
            Some(entry) if entry.kernel.is_alive() => Ok(entry.kernel.clone()),
            _ => Err(ServiceError::NoSuchSession(session.to_owned())),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every update of the table is a single assignment, so it is consistent after a
        // panic elsewhere.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn owners(&self) -> MutexGuard<'_, Owners> {
        // Each update is one insert or remove.
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `session` as starting, unless that would pass the session limit.
    fn begin_start(&self, session: &str) -> Result<StartGuard<'_>, ServiceError> {
        let mut table = self.lock();
        if table.closed {
            return Err(ServiceError::Closed);
        }
        let mut live: BTreeSet<&str> = table
            .entries
            .iter()
            .filter(|(_, entry)| entry.kernel.is_alive())
            .map(|(name, _)| name.as_str())
            .collect();
        live.extend(table.starting.keys().map(String::as_str));
        if !live.contains(session) && live.len() >= self.options.max_sessions {
            return Err(ServiceError::TooManySessions {
                max: self.options.max_sessions,
            });
        }
        *table.starting.entry(session.to_owned()).or_default() += 1;
        Ok(StartGuard {
            inner: self,
            name: session.to_owned(),
        })
    }
}

impl Drop for StartGuard<'_> {
    fn drop(&mut self) {
        let mut table = self.inner.lock();
        if let Some(count) = table.starting.get_mut(&self.name) {
            *count -= 1;
            if *count == 0 {
                table.starting.remove(&self.name);
            }
        }
    }
}

fn validate_name(name: &str) -> Result<(), ServiceError> {
    let length = name.chars().count();
    if length == 0 || length > MAX_SESSION_NAME || name.chars().any(char::is_control) {
        return Err(ServiceError::InvalidSessionName(name.to_owned()));
    }
    Ok(())
}

/// The kernel's working directory: from `/proc` where there is one, else the directory
/// it was started in.
fn kernel_cwd(pid: u32, options: &KernelOptions) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd"))
        .ok()
        .or_else(|| options.cwd.clone())
        .or_else(|| std::env::current_dir().ok())
}

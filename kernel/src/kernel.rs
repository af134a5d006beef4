//! The public handle: [`Kernel`], [`Execution`] and what they report.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use futures::Stream;
use pykernel_protocol::{Complete, ExecId, Execute, Hello, HostCommMsg, InputReply, RequestId};
use pykernel_transport::{ExitStatus, SpawnOptions, StdioTransport, Transport, TransportError};
use tokio::sync::{mpsc, oneshot};

use crate::{
    Completions, EnvPolicy, ExecuteOptions, KernelError, KernelOptions, Outcome, Output,
    StartPhase, UnattachedOutput,
    driver::{self, Delivery, Driver, DriverParts, Health, Message, OUTPUT_CAPACITY},
    env::{ProcShield, kernel_env},
    interpreter::{HostLookup, ResolvedPython, kernel_cwd, resolve},
    machine::{Command, Session, SessionConfig, StartupCell, Submit},
};

/// What [`Kernel::shutdown`] or [`Kernel::kill`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// How the runner exited; `None` when its exit could not be observed.
    pub status: Option<ExitStatus>,
}

impl ShutdownReport {
    /// Whether the runner's exit was observed (it is gone).
    pub fn confirmed(&self) -> bool {
        self.status.is_some()
    }
}

/// What is known about a started kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KernelInfo {
    /// The interpreter and why it was chosen; `None` for a kernel started over a caller's
    /// transport ([`Kernel::start_with_transport`]).
    pub python: Option<ResolvedPython>,
    /// The interpreter's version, from the runner's `hello`, such as `3.12.1`.
    pub python_version: String,
    /// The runner's own version, from its `hello`.
    pub runner_version: String,
    /// The runner package's sha256, from the `hello` of a runner started by the launcher
    /// bootstrap (which checked it); `None` for a local start.
    pub runner_hash: Option<String>,
    /// The runner's process id, from its `hello`.
    pub pid: u32,
    /// The protocol version both sides speak.
    pub protocol: u32,
    /// Optional capabilities the runner announced.
    pub features: Vec<String>,
}

/// A persistent Python kernel: one runner process whose namespace lives across cells.
///
/// Cheap to clone; clones share the kernel. Cells run one at a time, in submission
/// order, whoever submits them. When the last clone is dropped the kernel shuts down in
/// the background, ending pending executions with `kernel_killed`; a dropped tokio
/// runtime kills the runner too.
///
/// # Example
/// ```no_run
/// # async fn demo() -> Result<(), pykernel::KernelError> {
/// use pykernel::{ExecuteOptions, Kernel, KernelOptions, Output};
///
/// let kernel = Kernel::start(KernelOptions::new()).await?;
/// let mut execution = kernel.execute("print(6 * 7)", ExecuteOptions::new());
/// while let Some(output) = execution.next_output().await {
///     if let Output::Stdout(text) = output {
///         print!("{text}");
///     }
/// }
/// let outcome = execution.outcome().await?;
/// assert!(outcome.is_ok());
/// kernel.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Kernel {
    shared: Arc<Shared>,
}

struct Shared {
    handle: Handle,
    health: Arc<Health>,
    info: KernelInfo,
    next_exec: AtomicU64,
    /// Numbers completion requests, an id space apart from executions (`c-<n>`).
    next_request: AtomicU64,
    /// See [`Kernel::generation`].
    generation: AtomicU64,
    /// See [`Kernel::instance`].
    instance: u64,
}

/// The source of [`Kernel::instance`] numbers.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// The sending side that tells the driver when the kernel's handles are all gone.
struct Handle {
    messages: mpsc::UnboundedSender<Message>,
}

impl Kernel {
    /// Starts a kernel: resolves the interpreter (see [`crate::resolve_python`]), builds
    /// its environment (see the crate docs), stages the runner package in a per-user cache
    /// and spawns it unbuffered (`python -u`), waits for the
    /// runner's `hello` (checking the protocol version), then runs the init cell (chdir,
    /// env, `sys.path`) and, unless disabled, the prelude, both silently. All of it must
    /// fit in [`KernelOptions::startup_timeout`] (and before [`KernelOptions::deadline`]).
    ///
    /// # Errors
    /// A [`KernelError`] naming what failed; the runner is killed before it returns.
    ///
    /// # Cancel safety
    /// Dropping the future kills the runner (at once, in the background).
    #[cfg(unix)]
    pub async fn start(options: KernelOptions) -> Result<Self, KernelError> {
        if options.launcher.is_some() || options.sandbox.is_some() {
            return start_launched(options).await;
        }
        let cwd = kernel_cwd(&options)?;
        if let Err(source) = std::fs::read_dir(&cwd) {
            return Err(KernelError::InvalidCwd {
                path: cwd,
                source: Arc::new(source),
            });
        }
        let resolved = resolve(options.python.as_deref(), &cwd, &HostLookup::from_process())?;
        let runner = pykernel_runner::lease_runner()
            .map_err(|err| KernelError::StageRunner(Arc::new(err)))?;
        let env = kernel_env(
            &options.env_policy,
            std::env::vars_os(),
            resolved.venv.as_deref(),
            &options.env,
        );
        let env = runner_env(env, &options);
        // Before the spawn: user code must never find the host's /proc entries readable.
        let shield = matches!(options.env_policy, EnvPolicy::Filtered).then(ProcShield::acquire);
        let transport = spawn(&resolved.path, runner.path(), &cwd, env, &options)?;
        let path = resolved.path.clone();
        let held = Held {
            _shield: shield,
            _runner: Some(runner),
        };
        launch(Box::new(transport), options, cwd, Some(resolved), held)
            .await
            .map_err(unusable(path))
    }

    /// Starts a kernel over `transport`, an already running runner: no interpreter is
    /// resolved or spawned; the handshake, init cell and prelude run as in
    /// [`Kernel::start`]. Tests use it with `pykernel_transport::MemoryTransport`.
    ///
    /// # Errors
    /// As [`Kernel::start`]; a runner that exits before it is ready gives
    /// [`KernelError::Died`].
    ///
    /// # Cancel safety
    /// Dropping the future shuts the transport's runner down at once.
    pub async fn start_with_transport(
        transport: Box<dyn Transport>,
        options: KernelOptions,
    ) -> Result<Self, KernelError> {
        let cwd = kernel_cwd(&options)?;
        launch(transport, options, cwd, None, Held::default()).await
    }

    /// What is known about this kernel.
    pub fn info(&self) -> &KernelInfo {
        &self.shared.info
    }

    /// A number no other kernel of this process has: unlike the runner's pid, which
    /// repeats behind launchers and sandboxes (each PID namespace counts from 1), it tells
    /// kernels apart. Clones of one kernel share it.
    pub fn instance(&self) -> u64 {
        self.shared.instance
    }

    /// Which incarnation of a session this kernel is: 1 for a kernel started on its own
    /// and for a session's first kernel, one more for each kernel [`crate::Sessions`]
    /// started in its session's place since (after a death, a reset or idle reaping).
    /// Every [`Outcome`] of the kernel carries it.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Relaxed)
    }

    /// Makes this kernel generation `generation` of its session; [`crate::Sessions`] does
    /// it before it hands the kernel out.
    pub(crate) fn set_generation(&self, generation: u64) {
        self.shared.generation.store(generation, Ordering::Relaxed);
    }

    /// Queues `code`; cells run one at a time in submission order. Returns at once.
    ///
    /// Outputs stream from the returned [`Execution`]; dropping it cancels the cell. On a
    /// kernel that is shut down or dead the execution ends at once with that error.
    pub fn execute(&self, code: impl Into<String>, options: ExecuteOptions) -> Execution {
        let number = self.shared.next_exec.fetch_add(1, Ordering::Relaxed);
        let id = ExecId::new(number.to_string());
        let health = Arc::clone(&self.shared.health);
        let generation = self.generation();
        if !health.is_alive() {
            let error = health.error();
            return Execution::ended(id, health, error, generation);
        }
        let request = Execute {
            id: id.clone(),
            code: code.into(),
            silent: options.silent,
            store_history: Some(options.store_history.unwrap_or(!options.silent)),
            cwd: options.cwd.map(|cwd| cwd.to_string_lossy().into_owned()),
            env: (!options.env.is_empty()).then_some(options.env),
            allow_stdin: options.allow_stdin,
        };
        let (outputs_tx, outputs) = mpsc::channel(OUTPUT_CAPACITY);
        let (outcome_tx, outcome) = oneshot::channel();
        let submit = Submit {
            request,
            timeout: options.timeout,
            continue_on_error: options.continue_on_error,
        };
        let delivery = Delivery {
            outputs: outputs_tx,
            outcome: outcome_tx,
        };
        let messages = self.shared.handle.messages.clone();
        health.submitted();
        // If the driver is gone, the dropped delivery makes the outcome fall back to `health`.
        let _ = messages.send(Message::Execute { submit, delivery });
        Execution {
            id,
            outputs,
            outcome,
            messages: Some(messages),
            health,
            settled: false,
            generation,
        }
    }

    /// Interrupts the running cell: SIGINT to the runner (an in-band `interrupt` where
    /// the transport cannot signal), which raises `KeyboardInterrupt` in it. Nothing
    /// happens when no cell runs. Unlike [`Execution::cancel`], it never escalates.
    ///
    /// # Errors
    /// [`KernelError::NotRunning`] after shutdown, [`KernelError::Died`] after the runner died.
    pub fn interrupt(&self) -> Result<(), KernelError> {
        self.command(Command::Interrupt)
    }

    /// Hands `command` to the driver while the kernel is alive.
    fn command(&self, command: Command) -> Result<(), KernelError> {
        let health = &self.shared.health;
        if !health.is_alive() {
            return Err(health.error());
        }
        self.shared
            .handle
            .messages
            .send(Message::Command(command))
            .map_err(|_| health.error())
    }

    /// Completions for `code` with the cursor after its first `cursor` characters
    /// (Unicode scalar values, as `str::chars` counts them; a cursor past the end means
    /// the end): names from the user's namespace, builtins and keywords, attributes after
    /// a dot, modules after `import`, dict keys, file paths in strings, magics after `%`.
    ///
    /// The request goes to the runner at once, not behind queued cells, and the runner
    /// answers it beside a running cell. It never runs user code with side effects
    /// (attributes are looked up statically), so it never disturbs the cell.
    ///
    /// # Errors
    /// [`KernelError::CompletionTimeout`] when the runner has not answered within
    /// [`COMPLETE_TIMEOUT`](crate::COMPLETE_TIMEOUT); [`KernelError::Unsupported`] when the runner does not
    /// complete (it did not announce `complete`); [`KernelError::NotRunning`] or
    /// [`KernelError::Died`] when the kernel is gone.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped call's answer is discarded.
    pub async fn complete(&self, code: &str, cursor: usize) -> Result<Completions, KernelError> {
        let health = &self.shared.health;
        if !health.is_alive() {
            return Err(health.error());
        }
        let cursor = cursor.min(code.chars().count());
        let number = self.shared.next_request.fetch_add(1, Ordering::Relaxed);
        let request = Complete {
            id: RequestId::new(format!("c-{number}")),
            code: code.to_owned(),
            cursor: u64::try_from(cursor).unwrap_or(u64::MAX),
        };
        let (answer, answered) = oneshot::channel();
        self.shared
            .handle
            .messages
            .send(Message::Complete { request, answer })
            .map_err(|_| health.error())?;
        // The session machine answers with `CompletionTimeout` when the runner does not.
        match answered.await {
            Ok(result) => result.map(|wire| Completions::from_wire(wire, code, cursor)),
            // The driver ended without answering.
            Err(_) => Err(health.error()),
        }
    }

    /// Sends a frontend's message to a comm Python opened (see [`Output::Comm`]), such as
    /// a widget's state change (build one with
    /// [`CommMessage::to_runner`](crate::CommMessage::to_runner)). The runner hands it to
    /// the comm between cells, after the running one, as ipykernel does.
    ///
    /// # Errors
    /// [`KernelError::NotRunning`] or [`KernelError::Died`] when the kernel is gone.
    pub fn send_comm_msg(&self, message: HostCommMsg) -> Result<(), KernelError> {
        self.command(Command::CommMsg(message))
    }

    /// Shuts the kernel down: writes `exit` and closes the runner's input, waits
    /// [`KernelOptions::shutdown_grace`], sends SIGTERM to its process group, waits, sends
    /// SIGKILL, waits. Pending and queued executions end at once with `kernel_killed`.
    ///
    /// Idempotent: later and concurrent calls share the one shutdown and its report.
    /// A runner that already died reports its exit as confirmed.
    pub async fn shutdown(&self) -> ShutdownReport {
        self.stop(Message::Shutdown).await
    }

    /// Kills the kernel at once: SIGKILL to the runner's process group (so what user code
    /// started goes too), without writing `exit` or sending SIGTERM first, then waits up to
    /// [`KernelOptions::shutdown_grace`] for the exit. Pending and queued executions end at
    /// once with `kernel_killed` (and `cancelled`).
    ///
    /// Idempotent, and shares one end with [`Kernel::shutdown`]: a kill during a graceful
    /// shutdown cuts it short, and every caller of either gets the same report. A runner
    /// that already died reports its exit as confirmed.
    pub async fn kill(&self) -> ShutdownReport {
        self.stop(Message::Kill).await
    }

    /// Takes the output that came when no execution of its cell was being read, oldest
    /// first: what a background thread wrote after its cell ended (output written before
    /// the cell's end belongs to its [`Execution`]). Empty when there is none.
    ///
    /// The kernel holds up to 4 MiB of it for a caller; past that the oldest goes, and a
    /// `stderr` notice saying how many outputs were dropped comes first in the next take.
    pub fn take_unattached_output(&self) -> Vec<UnattachedOutput> {
        self.shared.health.take_unattached()
    }

    /// Waits until unattached output (see [`Kernel::take_unattached_output`]) is there and
    /// takes it; `None` once the kernel has ended and none is left.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is taken until it returns.
    pub async fn unattached_output(&self) -> Option<Vec<UnattachedOutput>> {
        self.shared.health.next_unattached().await
    }

    /// Whether the kernel takes cells: false once shutdown began or the runner died.
    pub fn is_alive(&self) -> bool {
        self.shared.health.is_alive()
    }

    /// When the kernel last ran out of work, or `None` while it has some: from the moment
    /// [`Kernel::execute`] returns until that cell (and every cell queued with it) has
    /// ended, whoever submitted it.
    ///
    /// An idle kernel reports the instant its last cell ended, or the instant it became
    /// ready if no cell ran. A kernel that was shut down or died reports when its last
    /// cell ended (the shutdown or the death ends those that were left). Outputs still
    /// buffered for a consumer are not work. The instant is on tokio's clock
    /// (`tokio::time::Instant::now().into_std()`: the monotonic clock, unless the runtime's
    /// time is paused), so compare it with that.
    pub fn idle_since(&self) -> Option<Instant> {
        self.shared.health.idle_since()
    }

    /// Asks the driver to stop with `message` and waits for its report.
    async fn stop(
        &self,
        message: fn(oneshot::Sender<ShutdownReport>) -> Message,
    ) -> ShutdownReport {
        let health = &self.shared.health;
        if let Some(ended) = health.ended() {
            return ended.report();
        }
        health.mark_stopping();
        let (waiter, report) = oneshot::channel();
        let _ = self.shared.handle.messages.send(message(waiter));
        match report.await {
            Ok(report) => report,
            // The driver ended without answering: it had already finished the session.
            Err(_) => health
                .ended()
                .map_or(ShutdownReport { status: None }, |ended| ended.report()),
        }
    }
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel")
            .field("info", &self.shared.info)
            .field("alive", &self.is_alive())
            .finish_non_exhaustive()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The driver is gone already when the session ended; nothing to stop then.
        let _ = self.messages.send(Message::KernelDropped);
    }
}

/// One cell: a stream of [`Output`]s (also as a [`Stream`]), then an [`Outcome`].
///
/// Dropping an unfinished execution cancels it (see [`Execution::cancel`]).
///
/// Outputs are buffered up to a bound, after which the runner's output pauses until they
/// are taken. So take a running cell's outputs, await its [`Execution::outcome`] (which
/// discards them) or drop it: a cell that prints a lot into an execution nobody reads
/// holds up the cells queued behind it (its timeout, cancel and shutdown still work).
#[must_use = "dropping an Execution cancels its cell"]
pub struct Execution {
    id: ExecId,
    outputs: mpsc::Receiver<Output>,
    outcome: oneshot::Receiver<Result<Outcome, KernelError>>,
    /// `None` for an execution that ended before it was queued.
    messages: Option<mpsc::UnboundedSender<Message>>,
    health: Arc<Health>,
    /// The outcome was taken, so dropping cancels nothing.
    settled: bool,
    /// The kernel's generation, stamped on the outcome.
    generation: u64,
}

impl Execution {
    /// The execution's id, as sent to the runner.
    pub fn id(&self) -> &ExecId {
        &self.id
    }

    /// The next output, in the order the runner produced it; `None` once the execution
    /// is over and every output was taken.
    ///
    /// Outputs are buffered up to a bound; a consumer that stops reading pauses the
    /// runner's output rather than growing memory (timeouts and interrupts still work).
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped call loses no output.
    pub async fn next_output(&mut self) -> Option<Output> {
        self.outputs.recv().await
    }

    /// Waits for the end of the cell, discarding the outputs not taken yet.
    ///
    /// A Python exception, an interrupt or a timeout is a normal [`Outcome`].
    ///
    /// # Errors
    /// Only when the session failed: [`KernelError::Died`] (with the runner's exit
    /// status and stderr tail) when the runner died while this cell ran or waited, and
    /// [`KernelError::NotRunning`] when it was submitted after shutdown.
    pub async fn outcome(mut self) -> Result<Outcome, KernelError> {
        self.outputs.close();
        let result = (&mut self.outcome).await;
        self.settled = true;
        let mut outcome = result.unwrap_or_else(|_| Err(self.health.error()))?;
        outcome.generation = self.generation;
        Ok(outcome)
    }

    /// Aborts the cell: a queued cell is dropped without ever running (its outcome is
    /// `cancelled`); a running one is interrupted and, if it has not ended after the
    /// interrupt grace, the kernel is killed (`kernel_killed`). Nothing happens once it
    /// ended.
    pub fn cancel(&self) {
        if let Some(messages) = &self.messages {
            let _ = messages.send(Message::Command(Command::Cancel(self.id.clone())));
        }
    }

    /// Answers the cell's pending `input()` (see [`Output::InputRequest`]) with the line
    /// `value`. The cell must have been started with [`ExecuteOptions::with_stdin`]; a
    /// reply nobody waits for is dropped.
    ///
    /// # Errors
    /// [`KernelError::NotRunning`] or [`KernelError::Died`] when the kernel is gone.
    pub fn reply_input(&self, value: impl Into<String>) -> Result<(), KernelError> {
        self.send_input_reply(InputReply::line(self.id.clone(), value))
    }

    /// Answers the cell's pending `input()` with the end of input: it raises `EOFError`,
    /// as Python's `input()` does when its stdin is exhausted. Otherwise as
    /// [`Execution::reply_input`].
    ///
    /// # Errors
    /// [`KernelError::NotRunning`] or [`KernelError::Died`] when the kernel is gone.
    pub fn reply_input_eof(&self) -> Result<(), KernelError> {
        self.send_input_reply(InputReply::eof(self.id.clone()))
    }

    fn send_input_reply(&self, reply: InputReply) -> Result<(), KernelError> {
        let Some(messages) = &self.messages else {
            return Err(self.health.error());
        };
        if self.health.ended().is_some() {
            return Err(self.health.error());
        }
        messages
            .send(Message::Command(Command::InputReply(reply)))
            .map_err(|_| self.health.error())
    }

    /// An execution that ended with `error` before it was queued.
    fn ended(id: ExecId, health: Arc<Health>, error: KernelError, generation: u64) -> Self {
        let (_, outputs) = mpsc::channel(1);
        let (outcome_tx, outcome) = oneshot::channel();
        let _ = outcome_tx.send(Err(error));
        Self {
            id,
            outputs,
            outcome,
            messages: None,
            health,
            settled: false,
            generation,
        }
    }
}

impl Stream for Execution {
    type Item = Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Output>> {
        self.get_mut().outputs.poll_recv(cx)
    }
}

impl Drop for Execution {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Err(oneshot::error::TryRecvError::Empty) = self.outcome.try_recv() {
            self.cancel();
        }
    }
}

impl fmt::Debug for Execution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Execution")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What the driver task keeps until it ends, that is until the runner is gone.
#[derive(Default)]
struct Held {
    /// The host stays non-dumpable.
    _shield: Option<ProcShield>,
    /// The staged runner package stays on disk (the runner imports some modules late).
    _runner: Option<pykernel_runner::RunnerLease>,
}

/// Starts a kernel behind the launcher or in the sandbox of `options`.
#[cfg(unix)]
async fn start_launched(options: KernelOptions) -> Result<Kernel, KernelError> {
    let host_cwd = kernel_cwd(&options)?;
    let host_cwd = if options.sandbox.is_some() {
        if let Err(source) = std::fs::read_dir(&host_cwd) {
            return Err(KernelError::InvalidCwd {
                path: host_cwd,
                source: Arc::new(source),
            });
        }
        host_cwd
    } else {
        // The launcher runs here; `cwd` names a directory on the far side.
        std::env::current_dir().unwrap_or(host_cwd)
    };
    let parts = crate::launch::spawn_launched(&options, &host_cwd)?;
    let held = Held {
        _shield: parts.shield,
        _runner: parts.runner,
    };
    launch(Box::new(parts.transport), options, parts.cwd, None, held)
        .await
        .map_err(unusable(parts.program))
}

/// Names the interpreter (or launcher) at `path` unusable when its runner died before it
/// was ready.
fn unusable(path: PathBuf) -> impl FnOnce(KernelError) -> KernelError {
    move |err| match err {
        KernelError::Died {
            status,
            stderr_tail,
        } => KernelError::PythonUnusable {
            path,
            reason: exited_early(status, &stderr_tail),
        },
        other => other,
    }
}

/// Runs the session over `transport` until the kernel is ready or the start failed;
/// `held` is kept until the driver ends.
async fn launch(
    transport: Box<dyn Transport>,
    options: KernelOptions,
    cwd: PathBuf,
    python: Option<ResolvedPython>,
    held: Held,
) -> Result<Kernel, KernelError> {
    let startup_deadline = {
        let budget = driver::now() + options.startup_timeout;
        options
            .deadline
            .map_or(budget, |deadline| budget.min(deadline))
    };
    let mut startup_cells = vec![StartupCell {
        phase: StartPhase::Init,
        id: ExecId::new("init"),
        code: init_code(&cwd, &init_env(&options)),
    }];
    if options.prelude {
        startup_cells.push(StartupCell {
            phase: StartPhase::Prelude,
            id: ExecId::new("prelude"),
            code: pykernel_runner::PRELUDE_SOURCE.to_owned(),
        });
    }
    let session = Session::new(SessionConfig {
        startup_deadline,
        startup_cells,
        interrupt_grace: options.interrupt_grace,
        shutdown_grace: options.shutdown_grace,
    });
    // Only a launcher's link can go half-open; a local runner's death is seen at once.
    let launched = options.launcher.is_some() || options.sandbox.is_some();
    let session = match options.keepalive.filter(|_| launched) {
        Some(keepalive) => session.with_keepalive(keepalive),
        None => session,
    };
    let (messages_tx, messages) = mpsc::unbounded_channel();
    let (start_tx, start) = oneshot::channel();
    let health = Arc::new(Health::new());
    // Dropping the handle (this future cancelled, or the start failed) stops the runner.
    let handle = Handle {
        messages: messages_tx,
    };
    let driver = Driver::new(
        session,
        transport,
        DriverParts {
            messages,
            start: start_tx,
            host_functions: options.host_functions.clone(),
            health: Arc::clone(&health),
            // A write blocked this long means the runner stopped reading its input.
            send_stall_limit: options.interrupt_grace + options.shutdown_grace,
        },
    );
    let task = tokio::spawn(async move {
        let _held = held;
        driver.run().await
    });
    let hello = match start.await {
        Ok(Ok(hello)) => hello,
        Ok(Err(error)) => {
            // The session is killing the runner; return once it is gone.
            drop(handle);
            let _ = task.await;
            return Err(error);
        }
        Err(_) => return Err(health.error()),
    };
    let Hello {
        protocol,
        runner,
        python: python_version,
        pid,
        features,
        hash: runner_hash,
    } = hello;
    let engine = options.engine;
    if engine != crate::Engine::Light && !features.iter().any(|name| name == engine.feature()) {
        // The runner could not start the engine (it said why in its log); it goes now.
        drop(handle);
        let _ = task.await;
        return Err(KernelError::EngineUnavailable {
            engine,
            python: python.map(|resolved| resolved.path),
        });
    }
    let info = KernelInfo {
        python,
        python_version,
        runner_version: runner,
        runner_hash,
        pid,
        protocol,
        features,
    };
    Ok(Kernel {
        shared: Arc::new(Shared {
            handle,
            health,
            info,
            next_exec: AtomicU64::new(1),
            generation: AtomicU64::new(1),
            next_request: AtomicU64::new(1),
            instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
        }),
    })
}

/// The environment variable that names the engine the runner runs; without it the runner
/// runs the light one.
const ENGINE_ENV: &str = "PYKERNEL_ENGINE";

/// `env` with the runner's settings from `options`: [`ENGINE_ENV`] naming the engine, so
/// the runner sets it up before its `hello`, and the display cap (never values the host's
/// own environment carried).
pub(crate) fn runner_env(
    mut env: Vec<(OsString, OsString)>,
    options: &KernelOptions,
) -> Vec<(OsString, OsString)> {
    let display = pykernel_protocol::MAX_DISPLAY_BYTES_ENV;
    env.retain(|(name, _)| name != ENGINE_ENV && name != display);
    if options.engine != crate::Engine::Light {
        env.push((ENGINE_ENV.into(), options.engine.name().into()));
    }
    env.push((display.into(), options.max_display_bytes.to_string().into()));
    env
}

/// The host codec's payload limit for `options`: the display cap, and never under the
/// line limit, which stream text payloads may reach.
pub(crate) fn max_payload_length(options: &KernelOptions) -> usize {
    options
        .max_display_bytes
        .max(pykernel_protocol::DEFAULT_MAX_LINE_LENGTH)
}

/// Spawns the runner unbuffered in `cwd` with exactly `env`.
#[cfg(unix)]
fn spawn(
    python: &Path,
    runner: &Path,
    cwd: &Path,
    env: Vec<(OsString, OsString)>,
    kernel: &KernelOptions,
) -> Result<StdioTransport, KernelError> {
    let mut options = SpawnOptions::new(python);
    options.max_payload_length = max_payload_length(kernel);
    // `-u` and the runner, imported as a module so Python caches its bytecode.
    options.args = pykernel_runner::python_args(runner);
    options.cwd = Some(cwd.to_path_buf());
    options.env = env;
    // Stream text as raw payloads: the runner then escapes nothing (the codec reads both
    // forms, so an older runner that ignores this still works).
    options
        .env
        .retain(|(name, _)| name != pykernel_protocol::STREAM_PAYLOADS_ENV);
    options
        .env
        .push((pykernel_protocol::STREAM_PAYLOADS_ENV.into(), "1".into()));
    StdioTransport::spawn(options).map_err(|err| match err {
        TransportError::Spawn { source, .. } => KernelError::Spawn {
            path: python.to_path_buf(),
            source: Arc::new(source),
        },
        other => KernelError::from(other),
    })
}

/// The init cell: change into `cwd`, apply `env`, put the directory (as the system names
/// it, so `dir/.` is `dir`) first on `sys.path`, and leave no name behind in the user's
/// namespace.
fn init_code(cwd: &Path, env: &BTreeMap<String, String>) -> String {
    // A JSON string is a valid Python string literal: serde_json escapes quotes,
    // backslashes and control characters the way Python reads them.
    let cwd = serde_json::to_string(&cwd.to_string_lossy()).unwrap_or_else(|_| "\".\"".into());
    let env = serde_json::to_string(env).unwrap_or_else(|_| "{}".into());
    format!(
        "def __pykernel_init(cwd, env):\n\
         \x20   import os, sys\n\
         \x20   os.chdir(cwd)\n\
         \x20   cwd = os.getcwd()\n\
         \x20   os.environ.update(env)\n\
         \x20   if cwd in sys.path:\n\
         \x20       sys.path.remove(cwd)\n\
         \x20   sys.path.insert(0, cwd)\n\
         __pykernel_init({cwd}, {env})\n\
         del __pykernel_init\n"
    )
}

/// The environment the init cell applies: the caller's, and the names of the offered host
/// functions for the prelude's `tool` namespace (unless the caller set them).
fn init_env(options: &KernelOptions) -> BTreeMap<String, String> {
    let mut env = options.env.clone();
    let names: Vec<&str> = options.host_functions.names().collect();
    if !names.is_empty() {
        env.entry(crate::options::HOST_FUNCTIONS_ENV.to_owned())
            .or_insert_with(|| names.join(","));
    }
    env
}

/// Why a runner that exited before its `hello` is unusable.
fn exited_early(status: ExitStatus, stderr_tail: &str) -> String {
    let tail = stderr_tail.trim();
    if tail.is_empty() {
        format!("it exited with {status} before the runner started")
    } else {
        format!("it exited with {status} before the runner started; stderr:\n{tail}")
    }
}

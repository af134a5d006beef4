//! What a caller can choose when starting a kernel and running a cell.

use std::{
    collections::BTreeMap,
    fmt,
    path::PathBuf,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::Artifacts;

/// The default startup budget for spawning, init and prelude together.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The default wait after SIGINT before an unresponsive kernel is killed.
pub const DEFAULT_INTERRUPT_GRACE: Duration = Duration::from_secs(5);
/// The default wait between shutdown steps (exit, SIGTERM, SIGKILL).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// The default display cap: 256 MiB, four times the protocol's 64 MiB line limit.
///
/// Large enough for what a notebook shows in practice (a 70 MB HTML table, a 20 MB PNG,
/// a long log as `text/plain`) to arrive whole, and small enough that one runaway
/// display cannot take the host's memory: the host holds a display whole while it
/// decodes it, and a binary part grows by a third as base64.
pub const DEFAULT_MAX_DISPLAY_BYTES: usize = 256 * 1024 * 1024;

/// How a kernel is started. Build it with [`KernelOptions::new`] and the `with_*` methods.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KernelOptions {
    /// The interpreter to run; `None` resolves one (see the crate docs for the order).
    pub python: Option<PathBuf>,
    /// The kernel's working directory; `None` means the host's current directory.
    pub cwd: Option<PathBuf>,
    /// Variables set in the kernel's environment, after filtering the host's.
    pub env: BTreeMap<String, String>,
    /// Which of the host's environment variables the kernel inherits.
    pub env_policy: EnvPolicy,
    /// Budget for spawn, handshake, init and prelude together.
    pub startup_timeout: Duration,
    /// An absolute deadline for the start, tighter than `startup_timeout` when earlier.
    pub deadline: Option<Instant>,
    /// How long an interrupted cell may take to end before the kernel is killed.
    pub interrupt_grace: Duration,
    /// How long each shutdown step waits before escalating.
    pub shutdown_grace: Duration,
    /// What runs the cells: the runner's light engine (the default) or IPython's shell.
    pub engine: Engine,
    /// Whether to load the prelude helpers (`display`, `read`, `write`, `parallel`, ...).
    pub prelude: bool,
    /// Functions Python code may call on the host (protocol version 2 `call` frames).
    pub host_functions: HostFunctions,
    /// A command that carries the runner elsewhere (ssh, a container, a pod); `python`
    /// then names the interpreter on the far side (default `python3`). See
    /// [`KernelOptions::with_launcher`].
    pub launcher: Option<pykernel_transport::Launcher>,
    /// Runs the kernel in the bubblewrap sandbox (see [`crate::Sandbox`]).
    pub sandbox: Option<crate::Sandbox>,
    /// How a launcher's link is watched; `None` never pings. Local kernels are not
    /// pinged: their death is seen at once.
    pub keepalive: Option<crate::Keepalive>,
    /// Where whole outputs are saved, offered to Python as the host function `output`
    /// (see [`KernelOptions::with_artifacts`]).
    pub artifacts: Option<Arc<Artifacts>>,
    /// The display cap: the most bytes a display's raw payload (its large MIME entries
    /// together) may hold. See [`KernelOptions::with_max_display_bytes`].
    pub max_display_bytes: usize,
}

/// A function Python code can call on the host: JSON arguments in, a JSON value or an
/// error message (raised in Python) out.
///
/// It runs on tokio's blocking pool, so it may block; the cell waits for its answer.
pub type HostFunction = Arc<dyn Fn(Value) -> Result<Value, String> + Send + Sync>;

/// A function that answers host calls to any name no [`HostFunction`] was offered as: the
/// name and the JSON arguments in, a JSON value or an error message (raised in Python) out.
///
/// A frontend that forwards calls to its own client (such as `pyk serve`) offers one
/// instead of knowing the names ahead. It runs on tokio's blocking pool, as a
/// [`HostFunction`] does.
pub type HostFallback = Arc<dyn Fn(&str, Value) -> Result<Value, String> + Send + Sync>;

/// The variable that tells the prelude the offered names (comma separated), so its
/// `tool` namespace can complete them; the kernel sets it in the init cell.
pub(crate) const HOST_FUNCTIONS_ENV: &str = "PYKERNEL_HOST_FUNCTIONS";

/// The host functions a kernel offers, by name, and what answers other names.
///
/// A kernel tells the prelude the offered names in `PYKERNEL_HOST_FUNCTIONS` (unless
/// [`KernelOptions::env`] sets it), so `tool.<TAB>` completes them.
#[derive(Clone, Default)]
pub struct HostFunctions {
    functions: BTreeMap<String, HostFunction>,
    fallback: Option<HostFallback>,
}

impl HostFunctions {
    /// No host functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers `function` as `name`, replacing any function of that name.
    pub fn insert(&mut self, name: impl Into<String>, function: HostFunction) {
        self.functions.insert(name.into(), function);
    }

    /// Answers calls to every name not offered with `fallback`, replacing any earlier one.
    pub fn set_fallback(&mut self, fallback: HostFallback) {
        self.fallback = Some(fallback);
    }

    /// The function offered as `name`.
    pub fn get(&self, name: &str) -> Option<&HostFunction> {
        self.functions.get(name)
    }

    /// What answers a call to `name`: the function offered as `name`, else the fallback
    /// bound to `name`, else `None` (the call raises in Python).
    pub fn resolve(&self, name: &str) -> Option<HostFunction> {
        if let Some(function) = self.functions.get(name) {
            return Some(Arc::clone(function));
        }
        let fallback = Arc::clone(self.fallback.as_ref()?);
        let name = name.to_owned();
        Some(Arc::new(move |args| fallback(&name, args)))
    }

    /// The offered names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    /// Whether no function is offered and there is no fallback.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty() && self.fallback.is_none()
    }
}

impl fmt::Debug for HostFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostFunctions")
            .field("names", &self.functions.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

/// What runs a kernel's cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// The runner's own engine: standard library only and the fastest start, with the
    /// IPython features notebooks use most (magics, rich display, `get_ipython()`).
    #[default]
    Light,
    /// IPython's own `InteractiveShell` under the runner's protocol, as ipykernel runs it:
    /// every magic, IPython's pretty printer, help, history and tracebacks. The kernel
    /// fails to start with [`crate::KernelError::EngineUnavailable`] when the interpreter
    /// cannot import IPython.
    IPython,
}

impl Engine {
    /// Every engine, the default first.
    pub const ALL: [Self; 2] = [Self::Light, Self::IPython];

    /// The engine's name: `light` or `ipython`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::IPython => "ipython",
        }
    }

    /// The feature a runner running this engine announces in its `hello`, such as
    /// `engine:ipython`.
    pub fn feature(self) -> &'static str {
        match self {
            Self::Light => "engine:light",
            Self::IPython => "engine:ipython",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;

    /// Parses an engine's name (`light` or `ipython`, any case).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|engine| engine.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| format!("unknown engine `{name}` (expected light or ipython)"))
    }
}

/// Which host environment variables a kernel inherits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvPolicy {
    /// A documented allowlist (paths, locale, terminal, virtualenv and Python settings),
    /// minus known secret names: the default, so API keys do not leak into user code.
    #[default]
    Filtered,
    /// Everything the host has.
    Inherit,
    /// Nothing but what [`KernelOptions::env`] sets (and `PATH`, which spawning needs).
    Empty,
}

impl KernelOptions {
    /// Defaults: resolved interpreter, current directory, filtered environment, 10 s
    /// startup budget, 5 s interrupt grace, 1 s shutdown grace, prelude loaded,
    /// light engine.
    pub fn new() -> Self {
        Self {
            python: None,
            cwd: None,
            env: BTreeMap::new(),
            env_policy: EnvPolicy::Filtered,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            deadline: None,
            interrupt_grace: DEFAULT_INTERRUPT_GRACE,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            engine: Engine::Light,
            prelude: true,
            host_functions: HostFunctions::new(),
            launcher: None,
            sandbox: None,
            keepalive: Some(crate::Keepalive::DEFAULT),
            artifacts: None,
            max_display_bytes: DEFAULT_MAX_DISPLAY_BYTES,
        }
    }

    /// Caps a display's size at `bytes` (default [`DEFAULT_MAX_DISPLAY_BYTES`]).
    ///
    /// Displays up to the cap arrive whole: the runner sends large MIME entries as raw
    /// bytes after the frame's header line, images as bytes, and the host puts them back
    /// into the bundle (images as base64, as Jupyter keeps them). A larger display is cut
    /// down by the runner, largest MIME types first (`text/plain` keeps its start), with a
    /// notice at the end of its `text/plain` and a line on the cell's stderr; the cell's
    /// [`crate::Outcome::truncated`] lists what was cut. The runner is told the cap at
    /// start; values under 64 KiB count as 64 KiB there.
    pub fn with_max_display_bytes(mut self, bytes: usize) -> Self {
        self.max_display_bytes = bytes;
        self
    }

    /// Runs this interpreter instead of resolving one.
    pub fn with_python(mut self, python: impl Into<PathBuf>) -> Self {
        self.python = Some(python.into());
        self
    }

    /// Starts the kernel in `cwd`.
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Sets one environment variable in the kernel.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Chooses which host variables the kernel inherits.
    pub fn with_env_policy(mut self, policy: EnvPolicy) -> Self {
        self.env_policy = policy;
        self
    }

    /// Sets the startup budget.
    pub fn with_startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Sets an absolute deadline for the start.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the grace between an interrupt and killing an unresponsive kernel.
    pub fn with_interrupt_grace(mut self, grace: Duration) -> Self {
        self.interrupt_grace = grace;
        self
    }

    /// Sets the wait between shutdown steps.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Runs the cells with `engine` (see [`Engine`]).
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// Skips (false) or loads (true) the prelude helpers.
    pub fn with_prelude(mut self, prelude: bool) -> Self {
        self.prelude = prelude;
        self
    }

    /// Offers `function` to Python code as the host function `name`.
    ///
    /// A call to a name that was not offered raises in Python with
    /// `no host function named "..."`.
    pub fn with_host_function(mut self, name: impl Into<String>, function: HostFunction) -> Self {
        self.host_functions.insert(name, function);
        self
    }

    /// Offers the saved outputs in `store` to Python: the host function `output`
    /// ([`OUTPUT_FUNCTION`](crate::OUTPUT_FUNCTION)) answers the prelude's
    /// `output(id, query=None, offset=0, limit=None, format="text")` from it (see
    /// [`Artifacts::output`]). Save outputs you cut for your consumer with
    /// [`Artifacts::save`] and name the id in your notice.
    pub fn with_artifacts(mut self, store: Arc<Artifacts>) -> Self {
        self.host_functions
            .insert(crate::OUTPUT_FUNCTION, store.host_function());
        self.artifacts = Some(store);
        self
    }

    /// Runs the runner through `launcher`, a command that forwards stdin and stdout (such
    /// as `ssh HOST` or `kubectl exec -i POD --`), with the interpreter command appended.
    ///
    /// Nothing needs to be staged on the far side: the interpreter runs a bootstrap that
    /// receives the runner package over stdin and checks its hash. Interrupt and kill go
    /// in band, and the runner kills its process group when its input ends, so killing
    /// the local launcher leaves nothing behind on the far side.
    pub fn with_launcher(mut self, launcher: pykernel_transport::Launcher) -> Self {
        self.launcher = Some(launcher);
        self
    }

    /// Sets how a launcher's link is watched (default [`crate::Keepalive::DEFAULT`]);
    /// `None` turns the keepalive off.
    pub fn with_keepalive(mut self, keepalive: Option<crate::Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Runs the kernel in `sandbox` (bubblewrap) on this machine; it takes precedence
    /// over a launcher.
    pub fn with_sandbox(mut self, sandbox: crate::Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// Answers Python's calls to every name not offered with [`Self::with_host_function`]
    /// with `fallback`, which gets the name.
    pub fn with_host_fallback(mut self, fallback: HostFallback) -> Self {
        self.host_functions.set_fallback(fallback);
        self
    }
}

impl Default for KernelOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// How one cell is run. Build it with [`ExecuteOptions::new`] and the `with_*` methods.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ExecuteOptions {
    /// No result display and, unless `store_history` says otherwise, no history.
    pub silent: bool,
    /// Whether the cell counts in `In`/`Out` and the execution counter; `None` means `!silent`.
    pub store_history: Option<bool>,
    /// Interrupt the cell after this long (then kill the kernel after the interrupt grace).
    pub timeout: Option<Duration>,
    /// Directory to change into before the cell runs.
    pub cwd: Option<PathBuf>,
    /// Environment changes before the cell runs: `Some` sets, `None` unsets.
    pub env: BTreeMap<String, Option<String>>,
    /// Whether `input()` may ask the caller (see [`crate::Output::InputRequest`]).
    pub allow_stdin: bool,
    /// Whether the cells queued behind this one keep their turn when it fails (raises or
    /// is interrupted). `false`, the default, aborts them as Jupyter's `stop_on_error`
    /// does: each ends unrun with [`crate::Stop::Aborted`].
    pub continue_on_error: bool,
}

impl ExecuteOptions {
    /// A plain cell: shows its result, stores history, no timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the cell silently: no result, no history.
    pub fn silent(mut self) -> Self {
        self.silent = true;
        self
    }

    /// Overrides whether the cell is stored in history.
    pub fn with_store_history(mut self, store: bool) -> Self {
        self.store_history = Some(store);
        self
    }

    /// Interrupts the cell after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Changes into `cwd` before the cell runs.
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Sets (`Some`) or unsets (`None`) a variable before the cell runs.
    pub fn with_env(mut self, key: impl Into<String>, value: Option<String>) -> Self {
        self.env.insert(key.into(), value);
        self
    }

    /// Lets the cells queued behind this one run even if it fails (see
    /// [`ExecuteOptions::continue_on_error`]).
    pub fn with_continue_on_error(mut self, keep_going: bool) -> Self {
        self.continue_on_error = keep_going;
        self
    }

    /// Lets `input()` ask the caller.
    pub fn with_stdin(mut self, allow: bool) -> Self {
        self.allow_stdin = allow;
        self
    }
}

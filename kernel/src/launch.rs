//! Starting a kernel through a launcher (ssh, a container, Kubernetes) or in the
//! bubblewrap sandbox.
//!
//! A launcher's far side has nothing staged: the interpreter runs the bootstrap given
//! with `-c`, which reads the runner package from stdin (see
//! [`pykernel_runner::bootstrap_input`]). The sandbox shares this machine's filesystem,
//! read-only, so it runs the locally staged package as a local start does and keeps its
//! bytecode. Either way no local signal reaches the runner: interrupt and kill go in band
//! ([`SignalRoute::InBand`]).

use std::{
    ffi::OsString,
    fmt, io,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
};

use pykernel_transport::{Launcher, SignalRoute, SpawnOptions, StdioTransport, TransportError};

use crate::{
    EnvPolicy, KernelError, KernelOptions,
    env::{ProcShield, kernel_env},
    interpreter::{HostLookup, resolve},
    kernel::{max_payload_length, runner_env},
};

/// The interpreter a launcher runs when none is named: `python3` on the far side's
/// `PATH`.
pub const DEFAULT_REMOTE_PYTHON: &str = "python3";

/// The bubblewrap sandbox: a preset launcher for untrusted code on this machine.
///
/// The runner gets a new PID namespace (no other process is visible, the host's
/// environment included, and everything in it dies with it), dies with its parent, sees
/// the root filesystem read-only except the working directory and a private `/tmp`, and
/// starts from the filtered environment (see [`KernelOptions::env_policy`]). Without
/// network it has only its own loopback interface.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sandbox {
    /// Whether the sandbox shares the host's network.
    pub network: bool,
    /// The `bwrap` program to run.
    pub bwrap: PathBuf,
}

impl Sandbox {
    /// A sandbox with network, running `bwrap` from `PATH`.
    pub fn new() -> Self {
        Self {
            network: true,
            bwrap: PathBuf::from("bwrap"),
        }
    }

    /// Shares (true) or cuts off (false) the host's network.
    pub fn with_network(mut self, network: bool) -> Self {
        self.network = network;
        self
    }

    /// The launcher that runs a command in this sandbox with `cwd` writable and the
    /// directory `runner_dir` (the staged runner package's parent) visible.
    ///
    /// # Errors
    /// None in practice: the words are never empty.
    pub fn launcher(&self, cwd: &Path, runner_dir: &Path) -> Result<Launcher, KernelError> {
        let path = |path: &Path| path.to_string_lossy().into_owned();
        let mut words: Vec<String> = [
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        // After the private /tmp, so a runner staged in the temp directory stays visible.
        words.extend(["--ro-bind".to_owned(), path(runner_dir), path(runner_dir)]);
        words.extend(["--bind".to_owned(), path(cwd), path(cwd)]);
        words.extend(
            [
                "--unshare-pid",
                "--unshare-ipc",
                "--die-with-parent",
                "--new-session",
            ]
            .map(str::to_owned),
        );
        if !self.network {
            words.push("--unshare-net".to_owned());
        }
        words.extend(["--chdir".to_owned(), path(cwd), "--".to_owned()]);
        words.insert(0, path(&self.bwrap));
        Ok(Launcher::new(words)?)
    }
}

/// Why the sandbox cannot run on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SandboxUnavailable {
    /// `bwrap` is not installed (or not on `PATH`).
    Missing,
    /// The kernel refuses the namespaces bubblewrap needs (unprivileged user namespaces
    /// are off, or a container forbids them); bwrap's own words.
    NoNamespaces(String),
    /// bwrap failed for another reason; its own words.
    Failed(String),
}

impl fmt::Display for SandboxUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("bwrap is not installed (apt-get install bubblewrap)"),
            Self::NoNamespaces(why) => write!(
                f,
                "this kernel does not let bwrap create the namespaces it needs: {why}"
            ),
            Self::Failed(why) => write!(f, "bwrap fails: {why}"),
        }
    }
}

impl Sandbox {
    /// Whether bubblewrap can make this sandbox here: its version, or why not. Runs
    /// `bwrap --version` and `true` in a PID namespace with a fresh `/proc`.
    pub fn check(&self) -> Result<String, SandboxUnavailable> {
        let run = |args: &[&str]| {
            Command::new(&self.bwrap)
                .args(args)
                .stdin(Stdio::null())
                .output()
        };
        let version = match run(&["--version"]) {
            Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(SandboxUnavailable::Missing);
            }
            Err(err) => return Err(SandboxUnavailable::Failed(err.to_string())),
        };
        let mut args = vec!["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"];
        args.extend(["--unshare-pid", "--die-with-parent"]);
        if !self.network {
            args.push("--unshare-net");
        }
        args.push("true");
        let output = run(&args).map_err(|err| SandboxUnavailable::Failed(err.to_string()))?;
        if output.status.success() {
            return Ok(version);
        }
        let why = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        let lower = why.to_lowercase();
        if lower.contains("namespace") || lower.contains("uid map") {
            Err(SandboxUnavailable::NoNamespaces(why))
        } else {
            Err(SandboxUnavailable::Failed(why))
        }
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// What a launched start keeps until the kernel ends.
pub(crate) struct LaunchedParts {
    pub(crate) transport: StdioTransport,
    pub(crate) cwd: PathBuf,
    pub(crate) shield: Option<ProcShield>,
    pub(crate) runner: Option<pykernel_runner::RunnerLease>,
    /// The program that was run, for error messages.
    pub(crate) program: PathBuf,
}

/// Spawns the launcher of `options` (its `sandbox` or its `launcher`) with the runner
/// behind it. `host_cwd` is the kernel's working directory on this machine.
pub(crate) fn spawn_launched(
    options: &KernelOptions,
    host_cwd: &Path,
) -> Result<LaunchedParts, KernelError> {
    let mut spawn = SpawnOptions::new("");
    let mut runner = None;
    let cwd;
    let (program, args) = if let Some(sandbox) = &options.sandbox {
        let resolved = resolve(
            options.python.as_deref(),
            host_cwd,
            &HostLookup::from_process(),
        )?;
        let lease = pykernel_runner::lease_runner()
            .map_err(|err| KernelError::StageRunner(Arc::new(err)))?;
        let runner_dir = lease.path().parent().unwrap_or(lease.path()).to_path_buf();
        let mut interpreter = vec![resolved.path.clone().into_os_string()];
        interpreter.extend(pykernel_runner::python_args(lease.path()));
        runner = Some(lease);
        cwd = host_cwd.to_path_buf();
        spawn.env = kernel_env(
            &options.env_policy,
            std::env::vars_os(),
            resolved.venv.as_deref(),
            &options.env,
        );
        spawn.env = runner_env(std::mem::take(&mut spawn.env), options);
        sandbox.launcher(&cwd, &runner_dir)?.command(&interpreter)
    } else {
        let launcher = options
            .launcher
            .as_ref()
            .ok_or_else(|| TransportError::Launcher("no launcher given".to_owned()))?;
        let python = options
            .python
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_REMOTE_PYTHON));
        let mut interpreter = vec![python.into_os_string()];
        interpreter.extend(pykernel_runner::bootstrap_args());
        // The far side's directory: the one asked for, else where the launcher starts.
        cwd = options.cwd.clone().unwrap_or_else(|| PathBuf::from("."));
        spawn.env = kernel_env(&options.env_policy, std::env::vars_os(), None, &options.env);
        spawn.env = runner_env(std::mem::take(&mut spawn.env), options);
        spawn.stdin_preamble = bootstrap_input(&spawn.env);
        launcher.command(&interpreter)
    };
    spawn.program = PathBuf::from(&program);
    spawn.args = args;
    // A launcher runs where the host stands; the runner's directory is set by init.
    spawn.cwd = Some(host_cwd.to_path_buf());
    spawn
        .env
        .retain(|(name, _)| name != pykernel_protocol::STREAM_PAYLOADS_ENV);
    spawn
        .env
        .push((pykernel_protocol::STREAM_PAYLOADS_ENV.into(), "1".into()));
    spawn.signal_route = SignalRoute::InBand;
    spawn.max_payload_length = max_payload_length(options);
    // Before the spawn: user code must never find the host's /proc entries readable.
    let shield = matches!(options.env_policy, EnvPolicy::Filtered).then(ProcShield::acquire);
    let program = spawn.program.clone();
    let transport = StdioTransport::spawn(spawn).map_err(|err| match err {
        TransportError::Spawn { source, .. } => KernelError::Spawn {
            path: program.clone(),
            source: Arc::new(source),
        },
        other => KernelError::from(other),
    })?;
    Ok(LaunchedParts {
        transport,
        cwd,
        shield,
        runner,
        program,
    })
}

/// The bootstrap's stdin for a runner whose environment is `env`: the runner's own
/// `PYKERNEL_*` settings travel with the package, since a launcher such as ssh carries no
/// environment to the far side; stream text goes as raw payloads.
fn bootstrap_input(env: &[(OsString, OsString)]) -> Vec<u8> {
    let mut settings: Vec<(&str, &str)> = env
        .iter()
        .filter_map(|(name, value)| Some((name.to_str()?, value.to_str()?)))
        .filter(|(name, _)| {
            name.starts_with("PYKERNEL_") && *name != pykernel_protocol::STREAM_PAYLOADS_ENV
        })
        .collect();
    settings.push((pykernel_protocol::STREAM_PAYLOADS_ENV, "1"));
    pykernel_runner::bootstrap_input(&settings)
}

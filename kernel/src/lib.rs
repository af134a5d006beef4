//! Persistent Python kernels: start, execute, interrupt, shut down.
//!
//! A [`Kernel`] is one Python subprocess (the embedded runner) whose namespace lives
//! across cells. The host talks to it over NDJSON frames on the child's stdin and stdout;
//! cells queue and run one at a time, and each [`Execution`] streams its [`Output`]s and
//! ends with an [`Outcome`]. A Python exception is an outcome, not an error:
//! [`KernelError`] only means the session itself failed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pykernel::KernelError> {
//! use std::time::Duration;
//! use pykernel::{ExecuteOptions, Kernel, KernelOptions};
//!
//! let kernel = Kernel::start(KernelOptions::new().with_cwd("project")).await?;
//! kernel.execute("import math", ExecuteOptions::new()).outcome().await?;
//! let cell = kernel.execute("math.factorial(20)", ExecuteOptions::new().with_timeout(Duration::from_secs(30)));
//! let outcome = cell.outcome().await?;
//! println!("ok: {}, count: {:?}", outcome.is_ok(), outcome.execution_count);
//! kernel.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Which interpreter
//! First match wins: [`KernelOptions::python`] (a path, a name on `PATH`, or a version
//! request such as `3.12`), the active virtualenv (`VIRTUAL_ENV`), the active conda
//! environment (`CONDA_PREFIX`), a `.venv` or `venv` in the working directory or a parent,
//! `PYENV_VERSION`, the nearest `.python-version`, pyenv's global version, the newest
//! interpreter installed by uv or pyenv, then `python3` and `python` on `PATH`. Shims are
//! resolved to the interpreter they would run without running them (pyenv's by reading
//! its files; other scripts are asked once and the answer is cached), so a start never
//! pays for a shim. [`resolve_python`] answers; [`discover_pythons`] lists every
//! candidate for `pyk doctor`. The runner's `hello` is the check that the interpreter
//! works; there is no separate probe.
//!
//! # Environment
//! The runner gets a filtered copy of the host's environment: by default
//! ([`EnvPolicy::Filtered`]) an allowlist of paths, locale, terminal, virtualenv, conda and
//! Python settings, `LC_*`, `TERM*`, `XDG_*` and `PYKERNEL_*`, minus every name that looks
//! like a secret (a word such as `KEY`, `TOKEN`, `SECRET`, `PASSWORD`, `PASSPHRASE`,
//! `AUTH` or `SIGNING`, whatever its prefix) and every value that carries URL
//! credentials (`postgres://app:pw@host/db`), so API keys in the host's environment never
//! reach user code. Proxy and `PIP_*` variables are not inherited (their URLs often carry
//! credentials). On Linux the host is non-dumpable while such a kernel runs, so user code
//! cannot read the host's environment back through `/proc/<host pid>/environ` either
//! (unless it runs as root). Then the virtualenv is activated, then
//! [`KernelOptions::env`] applies, then `PYTHONUNBUFFERED=1`, `PYTHONIOENCODING=utf-8` and
//! (unless set) `MPLBACKEND=Agg`. [`EnvPolicy::Inherit`] and [`EnvPolicy::Empty`] change
//! the first step.
//!
//! # Never hanging, never leaking
//! - The start (handshake, init cell, prelude) has one budget; a failed, timed-out or
//!   cancelled start kills the runner.
//! - [`Execution::cancel`] (or dropping the execution) and cell timeouts interrupt with
//!   SIGINT; a cell still running after [`KernelOptions::interrupt_grace`] gets the kernel
//!   killed and ends `kernel_killed`.
//! - [`Kernel::shutdown`] escalates `exit`, SIGTERM and SIGKILL (to the process group,
//!   so what user code started goes too) at [`KernelOptions::shutdown_grace`];
//!   [`Kernel::kill`] sends SIGKILL at once.
//! - A runner that dies ends every pending execution at once with [`KernelError::Died`].
//! - Dropping the last [`Kernel`] handle shuts the runner down; dropping the tokio
//!   runtime kills it.
//! - A consumer that falls behind pauses the runner's output; host memory stays bounded.
#![warn(missing_docs)]

mod artifacts;
mod clean;
mod comm;
mod complete;
mod display;
mod driver;
mod env;
mod error;
mod interpreter;
mod kernel;
#[cfg(unix)]
mod launch;
mod machine;
mod options;
mod outcome;
mod sessions;

pub use pykernel_protocol::{ExecId, HostCommMsg, MimeBundle, Status};

pub use crate::{
    comm::{CommKind, CommMessage},
    complete::{COMPLETE_TIMEOUT, Completions},
    error::{KernelError, StartPhase},
    interpreter::{
        Candidate, Discovery, PythonSource, ResolvedPython, Shim, ShimKind, discover_pythons,
        resolve_python,
    },
    kernel::{Execution, Kernel, KernelInfo, ShutdownReport},
    options::{
        DEFAULT_INTERRUPT_GRACE, DEFAULT_MAX_DISPLAY_BYTES, DEFAULT_SHUTDOWN_GRACE,
        DEFAULT_STARTUP_TIMEOUT, Engine, EnvPolicy, ExecuteOptions, HostFallback, HostFunction,
        HostFunctions, KernelOptions,
    },
    outcome::{
        Interrupt, Outcome, Output, PyError, SettledOutputs, Stop, TruncatedDisplay,
        UnattachedOutput,
    },
};

pub use crate::sessions::{SessionId, SessionOwner, Sessions, SessionsOptions};

#[cfg(unix)]
pub use crate::launch::{DEFAULT_REMOTE_PYTHON, Sandbox, SandboxUnavailable};
pub use crate::machine::keepalive::Keepalive;
pub use pykernel_transport::{ArgPassing, Launcher, SESSION_PLACEHOLDER};

pub use crate::{
    artifacts::{Artifact, ArtifactId, Artifacts, OUTPUT_FUNCTION},
    clean::{TextCleaner, clean_text},
};

pub use crate::display::{
    DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_TEXT_BYTES, LEGACY_STATUS_MIME,
    RenderLimits, Rendered, RenderedOutput, STATUS_MIME, html_to_text, render_bundle,
};

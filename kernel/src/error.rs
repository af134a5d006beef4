//! The kernel crate's one error type: the session itself failed.
//!
//! A Python exception is not here; it is [`crate::Outcome::error`].
//!
//! Each message says what failed and never repeats its cause: the cause is
//! [`std::error::Error::source`], so a reporter that walks the chain prints each once.

use std::{error, fmt, io, path::PathBuf, sync::Arc};

use pykernel_transport::{ExitStatus, TransportError};

/// Why a kernel could not start, or stopped serving.
///
/// Cheap to clone (the OS and transport errors inside are shared), so every caller that
/// waited on one failed start or one dead kernel can get its own copy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum KernelError {
    /// No interpreter was found; lists every path that was tried, in order.
    PythonNotFound {
        /// The candidates that were tried.
        tried: Vec<PathBuf>,
    },
    /// A requested or pinned Python version is not installed.
    PythonVersionNotFound {
        /// The request, such as `3.12`, or a pin's names.
        request: String,
        /// Where it came from: `--python`, `$PYENV_VERSION` or a version file.
        origin: String,
        /// The installed interpreters that were found instead, with their versions.
        found: Vec<String>,
    },
    /// The interpreter exists but does not run (it exited non-zero or could not start).
    PythonUnusable {
        /// The interpreter that was tried.
        path: PathBuf,
        /// What went wrong, for example `exit code 1` or an OS error.
        reason: String,
    },
    /// The kernel's working directory does not exist or cannot be determined.
    InvalidCwd {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: Arc<io::Error>,
    },
    /// Writing the runner package to disk failed.
    StageRunner(Arc<io::Error>),
    /// Spawning the runner failed.
    Spawn {
        /// The interpreter that was spawned.
        path: PathBuf,
        /// The OS error.
        source: Arc<io::Error>,
    },
    /// The runner speaks another protocol version.
    ProtocolMismatch {
        /// The version the runner announced.
        runner: u32,
        /// The version this host speaks.
        host: u32,
    },
    /// A startup step did not finish within the budget.
    StartupTimeout {
        /// Which step was running.
        phase: StartPhase,
    },
    /// A startup step raised in Python.
    StartupFailed {
        /// Which step failed.
        phase: StartPhase,
        /// The exception's class and message.
        message: String,
    },
    /// The caller cancelled the start.
    Cancelled,
    /// The runner process exited while it was needed.
    Died {
        /// How it ended.
        status: ExitStatus,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// The kernel was shut down; start a new one.
    NotRunning,
    /// The runner did not announce an optional feature the call needs, such as
    /// `complete` (an older runner).
    Unsupported {
        /// The feature, as the runner would announce it in its `hello`.
        feature: &'static str,
    },
    /// The runner did not answer a completion request in time.
    CompletionTimeout,
    /// The interpreter cannot run the chosen engine: for [`crate::Engine::IPython`], it
    /// cannot import IPython.
    EngineUnavailable {
        /// The engine that was asked for.
        engine: crate::Engine,
        /// The interpreter; `None` for a runner over a caller's transport.
        python: Option<PathBuf>,
    },
    /// The runner's channel failed.
    Transport(Arc<TransportError>),
}

/// A step of a kernel's start, named in start-up errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartPhase {
    /// Waiting for the runner's `hello`.
    Handshake,
    /// The init cell: working directory, environment, `sys.path`.
    Init,
    /// The prelude of helpers loaded into the namespace.
    Prelude,
}

impl fmt::Display for StartPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Handshake => "handshake",
            Self::Init => "init",
            Self::Prelude => "prelude",
        })
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PythonNotFound { tried } => {
                f.write_str("no python interpreter found")?;
                if !tried.is_empty() {
                    f.write_str("; tried ")?;
                    for (index, path) in tried.iter().enumerate() {
                        if index > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{}", path.display())?;
                    }
                }
                Ok(())
            }
            Self::PythonVersionNotFound {
                request,
                origin,
                found,
            } => {
                write!(f, "no installed python matches {request} (from {origin})")?;
                if found.is_empty() {
                    f.write_str("; found no installed interpreters")
                } else {
                    write!(f, "; found {}", found.join(", "))
                }
            }
            Self::PythonUnusable { path, reason } => {
                write!(
                    f,
                    "python interpreter {} is not usable: {reason}",
                    path.display()
                )
            }
            Self::InvalidCwd { path, .. } => {
                write!(f, "working directory {} is not usable", path.display())
            }
            Self::StageRunner(_) => f.write_str("failed to stage the runner"),
            Self::Spawn { path, .. } => write!(f, "failed to spawn {}", path.display()),
            Self::ProtocolMismatch { runner, host } => {
                write!(f, "runner speaks protocol {runner}, host speaks {host}")
            }
            Self::StartupTimeout { phase } => write!(f, "kernel {phase} timed out"),
            Self::StartupFailed { phase, message } => write!(f, "kernel {phase} failed: {message}"),
            Self::Cancelled => f.write_str("kernel start cancelled"),
            Self::Died {
                status,
                stderr_tail,
            } => {
                write!(f, "kernel died ({status})")?;
                let tail = stderr_tail.trim();
                if !tail.is_empty() {
                    write!(f, "; stderr:\n{tail}")?;
                }
                Ok(())
            }
            Self::NotRunning => f.write_str("kernel is not running"),
            Self::Unsupported { feature } => {
                write!(f, "the runner does not support `{feature}`")
            }
            Self::CompletionTimeout => {
                f.write_str("the runner did not answer the completion in time")
            }
            Self::EngineUnavailable { engine, python } => {
                let by = python.as_ref().map_or_else(
                    || "the runner's interpreter".to_owned(),
                    |path| path.display().to_string(),
                );
                match engine {
                    crate::Engine::IPython => {
                        write!(f, "IPython is not importable by {by}: install ipython")
                    }
                    crate::Engine::Light => write!(f, "the {engine} engine does not run on {by}"),
                }
            }
            Self::Transport(_) => f.write_str("kernel transport failed"),
        }
    }
}

impl error::Error for KernelError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            Self::Spawn { source, .. }
            | Self::InvalidCwd { source, .. }
            | Self::StageRunner(source) => Some(source.as_ref()),
            Self::Transport(source) => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<TransportError> for KernelError {
    fn from(err: TransportError) -> Self {
        Self::Transport(Arc::new(err))
    }
}

#[cfg(test)]
mod tests;

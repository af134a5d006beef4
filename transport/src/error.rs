//! The transport crate's one error type.

use std::{error, fmt, io, path::PathBuf};

/// Why a transport operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// The runner's input is closed or the runner is gone.
    Closed,
    /// Encoding a request failed (a value that JSON cannot hold).
    Encode(io::Error),
    /// Reading, writing or signalling failed.
    Io(io::Error),
    /// A launcher command is unusable (empty, or its quoting is unbalanced).
    Launcher(String),
    /// The runner sits behind a launcher, so no signal reaches it; the caller sends the
    /// request in band instead.
    InBand,
    /// The runner process could not be started.
    Spawn {
        /// The program that was to be run.
        program: PathBuf,
        /// Why the operating system refused.
        source: io::Error,
    },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("runner channel is closed"),
            Self::Encode(_) => f.write_str("failed to encode request"),
            Self::Io(_) => f.write_str("runner i/o failed"),
            Self::Launcher(why) => write!(f, "bad launcher: {why}"),
            Self::InBand => f.write_str("the runner is behind a launcher; signals go in band"),
            Self::Spawn { program, .. } => {
                write!(f, "failed to start runner `{}`", program.display())
            }
        }
    }
}

impl error::Error for TransportError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            Self::Closed | Self::Launcher(_) | Self::InBand => None,
            Self::Encode(source) | Self::Io(source) | Self::Spawn { source, .. } => Some(source),
        }
    }
}

//! The server crate's one error type.

use std::{error, fmt, io, sync::Arc};

use pykernel::KernelError;

/// Why a service call failed. A Python exception is not here: it is the run's
/// [`pykernel::Outcome`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ServiceError {
    /// The session's kernel could not start or failed.
    Kernel(KernelError),
    /// A new session would exceed the limit.
    TooManySessions {
        /// The limit, [`crate::ServiceOptions::max_sessions`].
        max: usize,
    },
    /// No session of that name has a kernel.
    NoSuchSession(String),
    /// No open hold on a session has this id ([`crate::Service::close`]).
    NoSuchOwner(crate::OwnerId),
    /// A session name is empty, too long or holds control characters.
    InvalidSessionName(String),
    /// The private output directory could not be made.
    Artifacts(Arc<io::Error>),
    /// The service was shut down.
    Closed,
    /// The MCP handshake or transport failed.
    Mcp(String),
    /// A server would be open to anyone who reaches it; says why.
    Insecure(String),
    /// A socket or file operation failed.
    Io(Arc<io::Error>),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(err) => write!(f, "the kernel failed: {err}"),
            Self::TooManySessions { max } => write!(
                f,
                "too many sessions: {max} already run, the limit; \
                 reuse one or restart the server with a higher --max-sessions"
            ),
            Self::NoSuchSession(name) => write!(f, "no session named `{name}` is running"),
            Self::NoSuchOwner(owner) => write!(f, "no open session has owner {owner}"),
            Self::InvalidSessionName(name) => write!(
                f,
                "invalid session name `{}`: use 1 to {MAX_SESSION_NAME} characters without \
                 control characters",
                name.escape_debug()
            ),
            Self::Artifacts(err) => write!(f, "cannot make the private output directory: {err}"),
            Self::Closed => f.write_str("the server is shutting down"),
            Self::Mcp(message) => write!(f, "mcp failed: {message}"),
            Self::Insecure(message) => f.write_str(message),
            Self::Io(err) => write!(f, "i/o failed: {err}"),
        }
    }
}

impl error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            Self::Kernel(err) => Some(err),
            Self::Artifacts(err) | Self::Io(err) => Some(&**err),
            _ => None,
        }
    }
}

impl From<KernelError> for ServiceError {
    fn from(err: KernelError) -> Self {
        match err {
            KernelError::NotRunning => Self::Closed,
            err => Self::Kernel(err),
        }
    }
}

/// The longest session name, in characters.
pub const MAX_SESSION_NAME: usize = 128;

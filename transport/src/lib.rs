//! Transports between the pykernel host and a Python runner.
//!
//! A [`Transport`] moves typed frames: it sends [`Request`]s, yields decoded runner
//! frames (malformed lines included, as data) and finally the runner's exit, and
//! delivers signals. The kernel's driver owns exactly one transport and is the only
//! code that awaits it.
//!
//! Implementations:
//! - [`StdioTransport`]: a real `python -u` child running the runner package, over piped
//!   stdio.
//!   Through a [`Launcher`] (ssh, a container, a sandbox) the same transport carries a
//!   runner elsewhere, with signals sent in band ([`SignalRoute::InBand`]).
//! - [`MemoryTransport`]: an in-process peer for tests; with the `fake` feature a
//!   `FakeRunner` answers it from a script.
#![warn(missing_docs)]

mod error;
#[cfg(feature = "fake")]
mod fake;
mod launcher;
mod memory;
#[cfg(unix)]
mod stdio;

use std::fmt;

use async_trait::async_trait;
use pykernel_protocol::{Decoded, Event, Request};

#[cfg(feature = "fake")]
pub use crate::fake::{FakeRunner, Script, Step};
#[cfg(unix)]
pub use crate::stdio::{SignalRoute, SpawnOptions, StdioTransport};
pub use crate::{
    error::TransportError,
    launcher::{ArgPassing, Launcher, SESSION_PLACEHOLDER, safe_session_name},
    memory::{MemoryTransport, RunnerHandle, RunnerInput, RunnerLog},
};

/// A signal the host can deliver to the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Raise `KeyboardInterrupt` in the running cell (SIGINT).
    Interrupt,
    /// Ask the runner's process group to terminate (SIGTERM).
    Terminate,
    /// Kill the runner's process group (SIGKILL).
    Kill,
}

/// How the runner process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal with this number ended it.
    Signal(i32),
    /// The status could not be read.
    Unknown,
}

impl ExitStatus {
    /// Whether the runner exited with code 0.
    pub fn success(self) -> bool {
        self == Self::Code(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(code) => write!(f, "exit code {code}"),
            Self::Signal(signal) => write!(f, "signal {signal}"),
            Self::Unknown => f.write_str("unknown status"),
        }
    }
}

/// The runner's exit, with what it last wrote to its stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// How it ended.
    pub status: ExitStatus,
    /// The last lines of its stderr (bounded), for error messages.
    pub stderr_tail: String,
}

/// One thing the transport received.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// A decoded line from the runner's frame channel: a frame or a malformed line.
    Frame(Decoded<Event>),
    /// The runner is gone; nothing follows.
    Exited(Exit),
}

/// A bidirectional frame channel to one runner process.
///
/// The trait is object safe; the kernel holds a `Box<dyn Transport>`.
///
/// # Cancel safety
/// [`Transport::recv`] is cancel safe: dropping its future loses no frame, so the driver
/// can `select!` over it. [`Transport::send`] is not: a dropped send may have written
/// part of a line.
#[async_trait]
pub trait Transport: Send + 'static {
    /// Writes one request line and flushes it.
    ///
    /// # Errors
    /// [`TransportError::Closed`] when the runner's input is closed or the runner is gone.
    async fn send(&mut self, request: &Request) -> Result<(), TransportError>;

    /// The next frame or malformed line, then [`Incoming::Exited`] once the runner is
    /// gone, then `None` forever.
    async fn recv(&mut self) -> Option<Incoming>;

    /// Delivers `signal` to the runner (and, for terminate and kill, to its whole
    /// process group, so what user code spawned goes too). A runner that is already
    /// gone is not an error.
    fn signal(&mut self, signal: Signal) -> Result<(), TransportError>;

    /// Closes the runner's input; the runner treats end of input as `exit`.
    async fn close_input(&mut self) -> Result<(), TransportError>;

    /// The runner's process id, when it is a real process that has not been reaped.
    fn pid(&self) -> Option<u32>;
}

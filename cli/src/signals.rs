//! Signals: Ctrl-C as a stream of events, so a running cell can be interrupted instead
//! of `pyk` dying, and SIGTERM and SIGHUP as a request to shut every kernel down first.
//!
//! Creating [`Interrupts`] replaces the default SIGINT action for the rest of the
//! process: from then on Ctrl-C only arrives here. Creating [`Stops`] does the same for
//! SIGTERM and SIGHUP.

use std::{
    io,
    sync::{Mutex, PoisonError},
};

use futures::FutureExt;
use pykernel::Kernel;

/// Ctrl-C presses (SIGINT on Unix, the console's Ctrl-C on Windows), buffered since
/// creation so that none is lost between two waits.
pub(crate) struct Interrupts {
    #[cfg(unix)]
    inner: tokio::signal::unix::Signal,
    #[cfg(windows)]
    inner: tokio::signal::windows::CtrlC,
}

impl Interrupts {
    /// Starts catching Ctrl-C. Must run inside the tokio runtime.
    pub(crate) fn new() -> io::Result<Self> {
        #[cfg(unix)]
        let inner = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        #[cfg(windows)]
        let inner = tokio::signal::windows::ctrl_c()?;
        Ok(Self { inner })
    }

    /// Waits for the next Ctrl-C.
    ///
    /// # Cancel safety
    /// Cancel safe: a Ctrl-C that arrives after a dropped wait is seen by the next one.
    pub(crate) async fn recv(&mut self) {
        if self.inner.recv().await.is_none() {
            // The signal driver is gone (the runtime is shutting down): no Ctrl-C can
            // arrive any more.
            std::future::pending::<()>().await;
        }
    }

    /// Awaits `start` (a kernel starting) unless Ctrl-C comes first; then says so and
    /// gives `None`, and dropping `start` stops the half-started kernel.
    pub(crate) async fn unless_interrupted<T>(
        &mut self,
        start: impl Future<Output = T>,
    ) -> Option<T> {
        tokio::select! {
            started = start => Some(started),
            () = self.recv() => {
                eprintln!("pyk: interrupted while the kernel was starting");
                None
            }
        }
    }

    /// Forgets a Ctrl-C that arrived while nothing was running, so it does not
    /// interrupt the next cell.
    pub(crate) fn forget_pending(&mut self) {
        while self.inner.recv().now_or_never().flatten().is_some() {}
    }
}

/// A signal that asks `pyk` to stop: the kernels it runs are shut down (the whole
/// ladder: `exit`, SIGTERM, SIGKILL to each runner's group) and `pyk` exits with
/// 128 plus the signal's number, as a shell reports a process the signal ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGTERM, the polite kill (`kill`, systemd, container runtimes).
    Terminate,
    /// SIGHUP: the terminal or the ssh session went away.
    Hangup,
}

impl Stop {
    /// The signal's number (as on Linux and the BSDs).
    pub(crate) fn number(self) -> u8 {
        match self {
            Self::Terminate => 15,
            Self::Hangup => 1,
        }
    }
}

/// SIGTERM and SIGHUP, caught from creation on so that neither ends `pyk` before its
/// kernels are shut down. On Windows nothing arrives: the console has no such signals.
pub(crate) struct Stops {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Stops {
    /// Starts catching SIGTERM and SIGHUP. Must run inside the tokio runtime.
    pub(crate) fn new() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the first stop signal.
    ///
    /// # Cancel safety
    /// Cancel safe: a signal that arrives after a dropped wait is seen by the next one.
    pub(crate) async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.terminate.recv() => return Stop::Terminate,
                Some(()) = self.hangup.recv() => return Stop::Hangup,
                else => {}
            }
        }
        // The signal driver is gone (the runtime is shutting down), or there are no
        // such signals here: none can arrive.
        std::future::pending().await
    }
}

/// The kernels `pyk` has started, so a stop signal can shut each one down.
static KERNELS: Mutex<Vec<Kernel>> = Mutex::new(Vec::new());

/// Registers `kernel` to be shut down when a stop signal arrives.
pub(crate) fn watch(kernel: &Kernel) {
    let mut kernels = KERNELS.lock().unwrap_or_else(PoisonError::into_inner);
    // Kernels already shut down or dead need no second shutdown.
    kernels.retain(Kernel::is_alive);
    kernels.push(kernel.clone());
}

/// Shuts down every watched kernel, concurrently, each through its whole ladder.
pub(crate) async fn shut_down_watched() {
    let kernels = std::mem::take(&mut *KERNELS.lock().unwrap_or_else(PoisonError::into_inner));
    futures::future::join_all(kernels.iter().map(Kernel::shutdown)).await;
}

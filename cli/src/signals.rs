//! Ctrl-C as a stream of events, so a running cell can be interrupted instead of `pyk`
//! dying.
//!
//! Creating [`Interrupts`] replaces the default SIGINT action for the rest of the
//! process: from then on Ctrl-C only arrives here.

use std::io;

use futures::FutureExt;

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

    /// Forgets a Ctrl-C that arrived while nothing was running, so it does not
    /// interrupt the next cell.
    pub(crate) fn forget_pending(&mut self) {
        while self.inner.recv().now_or_never().flatten().is_some() {}
    }
}

//! The keepalive on a launcher's link: ping an idle link, declare it dead when no answer
//! comes.
//!
//! A half-open ssh or `kubectl exec` stream delivers nothing and reports nothing, so
//! without it a session would wait forever. Any frame from the runner counts as an answer;
//! the runner's reader thread answers a `ping` at once, also while a cell runs.
//!
//! ```text
//!  Listening ── interval without a frame: send ping ──► Pinged
//!      ▲                                                  │ timeout without a frame
//!      └────────────── any frame ─────────────────────────┤
//!                                                         ▼
//!                                     Lost: kill the launcher; its exit ends the
//!                                     session with `Died`, naming the keepalive
//! ```

use std::time::{Duration, Instant};

use pykernel_protocol::Request;
use pykernel_transport::{Exit, Signal};
use tracing::warn;

use crate::machine::{Session, State};

/// How the host watches a launcher's link: after `interval` without a frame it sends a
/// `ping`; when nothing comes within `timeout` after it, the kernel is declared dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Keepalive {
    /// Silence on the link before a ping.
    pub interval: Duration,
    /// How long a ping may go unanswered.
    pub timeout: Duration,
}

impl Keepalive {
    /// The default for launchers: a ping after 10 s of silence, dead after 20 s more.
    pub const DEFAULT: Self = Self {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(20),
    };
}

impl Default for Keepalive {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where the keepalive stands.
#[derive(Debug)]
pub(crate) struct Pinger {
    config: Keepalive,
    link: Link,
}

#[derive(Clone, Copy, Debug)]
enum Link {
    /// Nothing heard yet (the start has its own deadline).
    Unheard,
    /// The last frame came at this instant.
    Listening { heard: Instant },
    /// A ping went out at this instant and nothing came since.
    Pinged { sent: Instant },
    /// The ping went unanswered.
    Lost,
}

impl Pinger {
    pub(crate) fn new(config: Keepalive) -> Self {
        Self {
            config,
            link: Link::Unheard,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match self.link {
            Link::Listening { heard } => Some(heard + self.config.interval),
            Link::Pinged { sent } => Some(sent + self.config.timeout),
            Link::Unheard | Link::Lost => None,
        }
    }
}

impl Session {
    /// Watches the link with `keepalive` once the runner has said hello.
    pub(crate) fn with_keepalive(mut self, keepalive: Keepalive) -> Self {
        self.keepalive = Some(Pinger::new(keepalive));
        self
    }

    /// A frame came from the runner at `now`.
    pub(super) fn keepalive_heard(&mut self, now: Instant) {
        if let Some(pinger) = &mut self.keepalive {
            if !matches!(pinger.link, Link::Lost) {
                pinger.link = Link::Listening { heard: now };
            }
        }
    }

    /// The keepalive's next deadline, while the kernel is ready (idle or busy).
    pub(super) fn keepalive_deadline(&self) -> Option<Instant> {
        if !matches!(self.state, State::Idle { .. } | State::Busy(_)) {
            return None;
        }
        self.keepalive.as_ref()?.deadline()
    }

    /// Sends a ping, or declares the link dead, when its deadline is due at `now`.
    pub(super) fn handle_keepalive_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.keepalive_deadline() else {
            return;
        };
        let Some(pinger) = &mut self.keepalive else {
            return;
        };
        if deadline > now {
            return;
        }
        match pinger.link {
            Link::Listening { .. } => {
                pinger.link = Link::Pinged { sent: now };
                self.transmits.push_back(Request::Ping);
            }
            Link::Pinged { .. } => {
                pinger.link = Link::Lost;
                warn!(
                    timeout = ?pinger.config.timeout,
                    "no answer to a keepalive ping; the link to the runner is dead"
                );
                self.transmits.clear();
                // The launcher's exit that follows ends every pending execution with `Died`.
                self.signals.push_back(Signal::Kill);
            }
            Link::Unheard | Link::Lost => {}
        }
    }

    /// `exit` with the keepalive's verdict added to its tail, when the link was lost.
    pub(super) fn keepalive_verdict(&self, mut exit: Exit) -> Exit {
        let Some(pinger) = &self.keepalive else {
            return exit;
        };
        if matches!(pinger.link, Link::Lost) {
            let verdict = format!(
                "pykernel: the link to the runner is dead: no answer to a keepalive ping within {:?}",
                pinger.config.timeout
            );
            exit.stderr_tail = if exit.stderr_tail.trim().is_empty() {
                verdict
            } else {
                format!("{}\n{verdict}", exit.stderr_tail.trim_end())
            };
        }
        exit
    }
}

#[cfg(test)]
mod tests;

//! How `pyk` ends: one exit code per kind of ending.

use std::process::ExitCode;

use pykernel::Outcome;

use crate::signals::Stop;

/// Why `pyk` exits, mapped to a process exit code by [`Exit::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The code ran to the end (0).
    Success,
    /// The code raised, or the kernel died while running it (1).
    Failure,
    /// Bad usage or the kernel could not start (2).
    Unusable,
    /// The code hit `--timeout` (124, like coreutils `timeout`).
    TimedOut,
    /// The user interrupted the code with Ctrl-C (130 = 128 + SIGINT).
    Interrupted,
    /// SIGTERM (143) or SIGHUP (129) stopped `pyk` after its kernels were shut down.
    Stopped(Stop),
    /// Stdout was closed by its reader (141 = 128 + SIGPIPE, as Unix tools end).
    BrokenPipe,
}

impl Exit {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Unusable => 2,
            Self::TimedOut => 124,
            Self::Interrupted => 130,
            Self::Stopped(stop) => 128 + stop.number(),
            Self::BrokenPipe => 141,
        }
    }

    /// How a finished cell ends the process. A user's Ctrl-C wins over everything, a
    /// timeout over a plain error: both explain why the cell raised.
    pub(crate) fn from_outcome(outcome: &Outcome, interrupted: bool) -> Self {
        if interrupted {
            Self::Interrupted
        } else if outcome.timed_out() {
            Self::TimedOut
        } else if outcome.is_ok() && !outcome.kernel_killed() {
            Self::Success
        } else {
            Self::Failure
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit.code())
    }
}

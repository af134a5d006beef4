//! What an execution yields: streamed outputs, then one outcome.

use pykernel_protocol::{MimeBundle, Status};

/// One output of a running cell, in the order the runner produced it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Text written to standard output (Python-level or fd-level).
    Stdout(String),
    /// Text written to standard error.
    Stderr(String),
    /// A rich output from `display()`, a figure, or a status event.
    Display(MimeBundle),
    /// The value of the cell's final expression.
    Result(MimeBundle),
    /// The exception that ended the cell; the same value is in [`Outcome::error`].
    Error(PyError),
    /// `input()` waits for a line; answer with [`crate::Execution::reply_input`].
    InputRequest {
        /// The prompt passed to `input()`.
        prompt: String,
        /// Whether the input should not be echoed.
        password: bool,
    },
}

/// A Python exception, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyError {
    /// The exception's class name, such as `ValueError`.
    pub ename: String,
    /// `str()` of the exception.
    pub evalue: String,
    /// Formatted traceback lines of the user's code.
    pub traceback: Vec<String>,
}

/// How an execution ended. A Python exception is a normal outcome, not a Rust error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok` when the cell ran to the end, `Error` when it raised or was stopped.
    pub status: Status,
    /// The execution counter the runner reported, when it reported one (`None` for a cell
    /// that never ran, or whose kernel was killed under it).
    pub execution_count: Option<u64>,
    /// The exception that ended the cell.
    pub error: Option<PyError>,
    /// Why the cell stopped before its own end; `None` when it ran to its end, with or
    /// without an exception of its own.
    pub stop: Option<Stop>,
}

/// Why a cell stopped before its own end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// An interruption ended the cell (or took it off the queue before it ran); the kernel
    /// lives on with its namespace.
    Interrupted(Interrupt),
    /// The kernel was killed or shut down while the cell ran or waited in the queue, so the
    /// kernel and its namespace are gone. The interruption the cell ignored, if one came first.
    KernelKilled(Option<Interrupt>),
    /// The cell never ran: one queued before it failed (see
    /// [`crate::ExecuteOptions::continue_on_error`]).
    Aborted,
}

/// What interrupted a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interrupt {
    /// The caller cancelled the execution ([`crate::Execution::cancel`], or dropping it).
    Cancel,
    /// The execution's timeout fired.
    Timeout,
    /// The cell called `input()` although stdin was not allowed for it.
    StdinRefused,
    /// A `KeyboardInterrupt` this execution did not ask for: [`crate::Kernel::interrupt`],
    /// a SIGINT from elsewhere, or user code raising it.
    Other,
}

impl Outcome {
    /// The outcome of a queued cell aborted unrun because one before it failed.
    pub(crate) fn aborted_unrun() -> Self {
        Self {
            status: Status::Error,
            execution_count: None,
            error: None,
            stop: Some(Stop::Aborted),
        }
    }

    /// Whether the cell was aborted unrun because a cell queued before it failed.
    pub fn aborted(&self) -> bool {
        self.stop == Some(Stop::Aborted)
    }

    /// Whether the cell ran to the end without an exception.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The interruption that stopped the cell, whether or not the kernel was killed after it.
    pub fn interrupt(&self) -> Option<Interrupt> {
        match self.stop? {
            Stop::Interrupted(interrupt) => Some(interrupt),
            Stop::KernelKilled(interrupt) => interrupt,
            Stop::Aborted => None,
        }
    }

    /// Whether the cell was cancelled, timed out, interrupted or killed: every stop but a
    /// refused `input()` and an abort.
    pub fn cancelled(&self) -> bool {
        match self.stop {
            None | Some(Stop::Interrupted(Interrupt::StdinRefused) | Stop::Aborted) => false,
            Some(_) => true,
        }
    }

    /// Whether the cell hit its timeout (the kernel may have been killed after it).
    pub fn timed_out(&self) -> bool {
        self.interrupt() == Some(Interrupt::Timeout)
    }

    /// Whether the cell called `input()` although stdin was not allowed.
    pub fn stdin_requested(&self) -> bool {
        self.interrupt() == Some(Interrupt::StdinRefused)
    }

    /// Whether the kernel was killed or shut down under this cell; it is gone.
    pub fn kernel_killed(&self) -> bool {
        matches!(self.stop, Some(Stop::KernelKilled(_)))
    }
}

#[cfg(test)]
mod tests;

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
    /// The execution counter the runner reported, when it reported one.
    pub execution_count: Option<u64>,
    /// The exception that ended the cell.
    pub error: Option<PyError>,
    /// The cell was interrupted (caller cancel, timeout or `KeyboardInterrupt`).
    pub cancelled: bool,
    /// The cell hit its timeout.
    pub timed_out: bool,
    /// The cell called `input()` although stdin was not allowed.
    pub stdin_requested: bool,
    /// The kernel was killed to end this cell (it ignored the interrupt); it is gone.
    pub kernel_killed: bool,
}

impl Outcome {
    /// Whether the cell ran to the end without an exception.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// Whether the cell was interrupted (caller cancel, timeout or `KeyboardInterrupt`).
    pub fn cancelled(&self) -> bool {
        self.cancelled
    }

    /// Whether the cell hit its timeout.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Whether the cell called `input()` although stdin was not allowed.
    pub fn stdin_requested(&self) -> bool {
        self.stdin_requested
    }

    /// Whether the kernel was killed to end this cell; it is gone.
    pub fn kernel_killed(&self) -> bool {
        self.kernel_killed
    }
}

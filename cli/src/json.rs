//! The `--json` line format: one object per output event, then one outcome.
//!
//! These types are the format's definition; `README-json.md` documents them and the
//! snapshot tests pin every line's exact shape.

use std::io::{self, Write};

use pykernel::{KernelError, MimeBundle, Outcome, Output, PyError, Status};
use serde::Serialize;

/// One line of `pyk exec --json` output.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum JsonEvent {
    /// Text the code wrote to standard output.
    Stdout {
        /// The text, as it arrived (not split into lines).
        data: String,
    },
    /// Text the code wrote to standard error.
    Stderr {
        /// The text, as it arrived.
        data: String,
    },
    /// A rich output from `display()` (or a figure).
    Display {
        /// The MIME bundle, unchanged: images stay base64 strings.
        bundle: MimeBundle,
    },
    /// The value of the cell's final expression.
    Result {
        /// The MIME bundle, unchanged.
        bundle: MimeBundle,
    },
    /// The exception that ended the cell.
    Error(JsonError),
    /// How the execution ended; always the last line.
    Outcome(JsonOutcome),
}

/// A Python exception.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct JsonError {
    pub(crate) ename: String,
    pub(crate) evalue: String,
    pub(crate) traceback: Vec<String>,
}

/// The final line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JsonOutcome {
    /// `ok` or `error`.
    pub(crate) status: Status,
    /// The kernel's execution counter after the cell; null when there is none.
    pub(crate) execution_count: Option<u64>,
    /// The cell was interrupted (Ctrl-C or timeout).
    pub(crate) cancelled: bool,
    /// The cell hit `--timeout`.
    pub(crate) timed_out: bool,
    /// The kernel was killed or died while running the cell.
    pub(crate) kernel_killed: bool,
    /// The cell called `input()`, which `--json` does not answer.
    pub(crate) stdin_requested: bool,
    /// The exception that ended the cell, or null.
    pub(crate) error: Option<JsonError>,
    /// Why the kernel itself failed (it could not start, or it died), or null.
    pub(crate) kernel_error: Option<String>,
}

impl JsonEvent {
    /// The line for a streamed output; `None` for outputs `--json` does not report
    /// (input requests, which it never enables).
    pub(crate) fn from_output(output: &Output) -> Option<Self> {
        Some(match output {
            Output::Stdout(data) => Self::Stdout { data: data.clone() },
            Output::Stderr(data) => Self::Stderr { data: data.clone() },
            Output::Display(bundle) => Self::Display {
                bundle: bundle.clone(),
            },
            Output::Result(bundle) => Self::Result {
                bundle: bundle.clone(),
            },
            Output::Error(error) => Self::Error(JsonError::from(error)),
            _ => return None,
        })
    }

    /// The final line for a cell that ended.
    pub(crate) fn from_outcome(outcome: &Outcome) -> Self {
        Self::Outcome(JsonOutcome {
            status: outcome.status,
            execution_count: outcome.execution_count,
            cancelled: outcome.cancelled(),
            timed_out: outcome.timed_out(),
            kernel_killed: outcome.kernel_killed(),
            stdin_requested: outcome.stdin_requested(),
            error: outcome.error.as_ref().map(JsonError::from),
            kernel_error: None,
        })
    }

    /// The final line when the kernel failed instead of reporting an outcome: it could
    /// not start (`started` false) or it died under the cell.
    pub(crate) fn from_kernel_error(error: &KernelError, started: bool) -> Self {
        Self::Outcome(JsonOutcome {
            status: Status::Error,
            execution_count: None,
            cancelled: false,
            timed_out: false,
            kernel_killed: started,
            stdin_requested: false,
            error: None,
            kernel_error: Some(crate::error_chain(error)),
        })
    }

    /// Writes the event as one line and flushes, so a reader sees it at once.
    pub(crate) fn write_line(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

impl From<&PyError> for JsonError {
    fn from(error: &PyError) -> Self {
        Self {
            ename: error.ename.clone(),
            evalue: error.evalue.clone(),
            traceback: error.traceback.clone(),
        }
    }
}

#[cfg(test)]
mod tests;

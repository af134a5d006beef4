//! The `--json` line format: one object per output event, then one outcome.
//!
//! These types are the format's definition; `README-json.md` documents them and the
//! snapshot tests pin every line's exact shape.

use std::io::{self, Write};

use pykernel::{KernelError, Outcome, Output, Status};
use pykernel_server::serve::{ErrorJson, OutputJson, TruncatedJson};
use serde::Serialize;

/// One line of `pyk exec --json` output.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum JsonEvent {
    /// A streamed output: `stdout`, `stderr`, `display`, `result` or `error`, in the shape
    /// `pyk serve` streams them too.
    Output(OutputJson),
    /// How the execution ended; always the last line.
    Outcome(JsonOutcome),
}

/// The final line, `{"type":"outcome",...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename = "outcome", rename_all = "camelCase")]
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
    pub(crate) error: Option<ErrorJson>,
    /// Why the kernel itself failed (it could not start, or it died), or null.
    pub(crate) kernel_error: Option<String>,
    /// The displays the runner cut down to fit the display cap; absent when none was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) truncated: Vec<TruncatedJson>,
}

impl JsonEvent {
    /// The line for a streamed output; `None` for outputs `--json` does not report
    /// (input requests, which it never enables).
    pub(crate) fn from_output(output: &Output) -> Option<Self> {
        OutputJson::from_output(output).map(Self::Output)
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
            error: outcome.error.as_ref().map(ErrorJson::from),
            kernel_error: None,
            truncated: outcome.truncated.iter().map(TruncatedJson::from).collect(),
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
            truncated: Vec::new(),
        })
    }

    /// Writes the event as one line and flushes, so a reader sees it at once.
    pub(crate) fn write_line(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

#[cfg(test)]
mod tests;

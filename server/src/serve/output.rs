//! The JSON shape of a cell's outputs and outcome, as `pyk exec --json` writes them.

use std::collections::BTreeMap;

use pykernel::{
    CommKind, CommMessage, KernelError, MimeBundle, Outcome, Output, PyError, Status,
    TruncatedDisplay,
};
use serde::Serialize;
use serde_json::{Map, Value};

/// One streamed output, shaped as a line of `pyk exec --json` (see `cli/README-json.md`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputJson {
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
        /// Jupyter's display metadata (an image's `{"image/png":{"width":50}}`); absent
        /// when empty.
        #[serde(skip_serializing_if = "Map::is_empty")]
        metadata: Map<String, Value>,
        /// Names the display for later `update_display` lines; absent when it has none.
        #[serde(rename = "displayId", skip_serializing_if = "Option::is_none")]
        display_id: Option<String>,
    },
    /// Replaces every earlier display with `displayId`, in this cell or an earlier one;
    /// it shows nothing of its own.
    UpdateDisplay {
        /// The display to replace.
        #[serde(rename = "displayId")]
        display_id: String,
        /// The new MIME bundle.
        bundle: MimeBundle,
        /// The new display metadata, which replaces the old; absent when empty.
        #[serde(skip_serializing_if = "Map::is_empty")]
        metadata: Map<String, Value>,
    },
    /// Clears the cell's output so far; with `wait`, just before its next output.
    ClearOutput {
        /// Defer the clear to the next output.
        wait: bool,
    },
    /// The value of the cell's final expression.
    Result {
        /// The MIME bundle, unchanged.
        bundle: MimeBundle,
        /// Jupyter's metadata of the result; absent when empty.
        #[serde(skip_serializing_if = "Map::is_empty")]
        metadata: Map<String, Value>,
    },
    /// The exception that ended the cell.
    Error(ErrorJson),
    /// Python opened a Jupyter comm (an ipywidgets widget, with its state in `data`).
    CommOpen {
        /// Names the comm in later `comm_msg` and `comm_close` lines.
        #[serde(rename = "commId")]
        comm_id: String,
        /// What a frontend handles it with, such as `jupyter.widget`.
        #[serde(rename = "targetName")]
        target_name: String,
        /// The comm's body, buffers and metadata.
        #[serde(flatten)]
        body: CommBodyJson,
    },
    /// A message on a comm, such as a widget's state change.
    CommMsg {
        /// The comm.
        #[serde(rename = "commId")]
        comm_id: String,
        /// The message's body, buffers and metadata.
        #[serde(flatten)]
        body: CommBodyJson,
    },
    /// Python closed a comm.
    CommClose {
        /// The comm.
        #[serde(rename = "commId")]
        comm_id: String,
        /// The message's body, buffers and metadata.
        #[serde(flatten)]
        body: CommBodyJson,
    },
}

/// What every comm line carries besides its comm: `data`, and `metadata` and `buffers`
/// (base64) when there are any.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommBodyJson {
    /// The message body.
    pub data: Map<String, Value>,
    /// Jupyter's message metadata; absent when empty.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Binary buffers, each base64; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buffers: Vec<String>,
}

impl OutputJson {
    /// The line of a comm message.
    fn comm(message: &CommMessage) -> Self {
        let comm_id = message.comm_id.clone();
        let body = CommBodyJson {
            data: message.data.clone(),
            metadata: message.metadata.clone(),
            buffers: message.buffers.clone(),
        };
        match &message.kind {
            CommKind::Open { target_name } => Self::CommOpen {
                comm_id,
                target_name: target_name.clone(),
                body,
            },
            CommKind::Close => Self::CommClose { comm_id, body },
            _ => Self::CommMsg { comm_id, body },
        }
    }
}

/// A Python exception.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorJson {
    /// The exception's class name.
    pub ename: String,
    /// `str()` of the exception.
    pub evalue: String,
    /// Formatted traceback entries of the user's code.
    pub traceback: Vec<String>,
}

/// A display the runner cut down to fit the host's limits: `{"kind","displayId"?,"cut"}`,
/// `cut` mapping each MIME type cut to the size in bytes it had.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TruncatedJson {
    /// `display`, `result` or `update_display`.
    pub kind: &'static str,
    /// The display's id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_id: Option<String>,
    /// Each MIME type cut or shortened, with its size in bytes.
    pub cut: BTreeMap<String, u64>,
}

impl From<&TruncatedDisplay> for TruncatedJson {
    fn from(display: &TruncatedDisplay) -> Self {
        Self {
            kind: display.kind,
            display_id: display.display_id.clone(),
            cut: display.cut.clone(),
        }
    }
}

/// What an `execute` request answers: how the cell ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteResult {
    /// `ok` or `error`.
    pub status: Status,
    /// The kernel's execution counter after the cell; null when there is none.
    pub execution_count: Option<u64>,
    /// The exception that ended the cell; absent when none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorJson>,
    /// The cell was interrupted (`$/cancelRequest`, `interrupt`, or its timeout).
    pub cancelled: bool,
    /// The cell hit its timeout.
    pub timed_out: bool,
    /// The kernel was killed or died while running the cell; the session's next cell
    /// gets a fresh kernel.
    pub kernel_killed: bool,
    /// The session's kernel had died or was reaped since the previous call: this cell
    /// ran in a fresh namespace.
    pub kernel_restarted: bool,
    /// The cell called `input()` although the request did not allow stdin.
    pub stdin_requested: bool,
    /// Why the kernel itself failed under the cell; absent when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_error: Option<String>,
    /// The displays the runner cut down to fit the display cap, in order; absent when
    /// every display arrived whole. Each one's `text/plain` ends with a notice.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<TruncatedJson>,
}

impl OutputJson {
    /// The shape of a streamed output; `None` for outputs that are not streamed as such
    /// (input requests, which become `input` requests to the client).
    pub fn from_output(output: &Output) -> Option<Self> {
        Some(match output {
            Output::Stdout(data) => Self::Stdout { data: data.clone() },
            Output::Stderr(data) => Self::Stderr { data: data.clone() },
            Output::Display { bundle, metadata } => Self::Display {
                bundle: bundle.clone(),
                metadata: metadata.clone(),
                display_id: None,
            },
            Output::DisplayWithId {
                display_id,
                bundle,
                metadata,
            } => Self::Display {
                bundle: bundle.clone(),
                metadata: metadata.clone(),
                display_id: Some(display_id.clone()),
            },
            Output::UpdateDisplay {
                display_id,
                bundle,
                metadata,
            } => Self::UpdateDisplay {
                display_id: display_id.clone(),
                bundle: bundle.clone(),
                metadata: metadata.clone(),
            },
            Output::ClearOutput { wait } => Self::ClearOutput { wait: *wait },
            Output::Result { bundle, metadata } => Self::Result {
                bundle: bundle.clone(),
                metadata: metadata.clone(),
            },
            Output::Error(error) => Self::Error(ErrorJson::from(error)),
            Output::Comm(message) => Self::comm(message),
            _ => return None,
        })
    }
}

impl ExecuteResult {
    /// The result of a cell that ended with `outcome`.
    pub fn from_outcome(outcome: &Outcome, kernel_restarted: bool) -> Self {
        Self {
            status: outcome.status,
            execution_count: outcome.execution_count,
            error: outcome.error.as_ref().map(ErrorJson::from),
            cancelled: outcome.cancelled(),
            timed_out: outcome.timed_out(),
            kernel_killed: outcome.kernel_killed(),
            kernel_restarted,
            stdin_requested: outcome.stdin_requested(),
            kernel_error: None,
            truncated: outcome.truncated.iter().map(TruncatedJson::from).collect(),
        }
    }

    /// The result of a cell whose kernel failed under it.
    pub fn from_kernel_error(error: &KernelError, kernel_restarted: bool) -> Self {
        Self {
            status: Status::Error,
            execution_count: None,
            error: None,
            cancelled: false,
            timed_out: false,
            kernel_killed: true,
            kernel_restarted,
            stdin_requested: false,
            kernel_error: Some(error_chain(error)),
            truncated: Vec::new(),
        }
    }
}

impl From<&PyError> for ErrorJson {
    fn from(error: &PyError) -> Self {
        Self {
            ename: error.ename.clone(),
            evalue: error.evalue.clone(),
            traceback: error.traceback.clone(),
        }
    }
}

/// An error and its sources, joined by `: ` where a source adds something.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

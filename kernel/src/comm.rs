//! Jupyter comms: what ipywidgets' widgets send to a frontend, and what a frontend sends
//! back.

use pykernel_protocol::{CommMsg, CommOpen, HostCommMsg};
use serde_json::{Map, Value};

/// A message on a Jupyter comm that Python sent (ipywidgets opens one per widget, with its
/// state), as [`Output::Comm`](crate::Output::Comm) carries it.
///
/// A frontend keeps widget state from these: `data.state` of an open and of each
/// `{"method":"update"}` message. An `Output` widget whose `msg_id` state names an
/// execution's id takes that execution's output, as Jupyter frontends and nbclient do.
#[derive(Clone, Debug, PartialEq)]
pub struct CommMessage {
    /// Whether it opens, updates or closes the comm.
    pub kind: CommKind,
    /// The comm it is about.
    pub comm_id: String,
    /// The message body (a widget's `{"state":{..},"buffer_paths":[..]}`).
    pub data: Map<String, Value>,
    /// Jupyter's message metadata (a widget's `{"version":"2.1.0"}`).
    pub metadata: Map<String, Value>,
    /// Binary buffers, each base64.
    pub buffers: Vec<String>,
}

/// What a [`CommMessage`] does to its comm.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommKind {
    /// Opens it (Jupyter's `comm_open`).
    Open {
        /// What the frontend should handle it with, such as `jupyter.widget`.
        target_name: String,
    },
    /// A message on it (Jupyter's `comm_msg`).
    Msg,
    /// Closes it (Jupyter's `comm_close`).
    Close,
}

impl CommKind {
    /// Jupyter's message type: `comm_open`, `comm_msg` or `comm_close`.
    pub fn msg_type(&self) -> &'static str {
        match self {
            Self::Open { .. } => "comm_open",
            Self::Msg => "comm_msg",
            Self::Close => "comm_close",
        }
    }
}

impl CommMessage {
    /// The message of a `comm_open` frame.
    pub(crate) fn opened(frame: CommOpen) -> Self {
        Self {
            kind: CommKind::Open {
                target_name: frame.target_name,
            },
            comm_id: frame.comm_id,
            data: frame.data,
            metadata: frame.metadata,
            buffers: frame.buffers,
        }
    }

    /// The message of a `comm_msg` or `comm_close` frame.
    pub(crate) fn of_frame(kind: CommKind, frame: CommMsg) -> Self {
        Self {
            kind,
            comm_id: frame.comm_id,
            data: frame.data,
            metadata: frame.metadata,
            buffers: frame.buffers,
        }
    }

    /// A frontend's message to the comm `comm_id` with body `data`, for
    /// [`Kernel::send_comm_msg`](crate::Kernel::send_comm_msg): a widget's
    /// `{"method":"update","state":{..},"buffer_paths":[]}` sets its state.
    pub fn to_runner(comm_id: impl Into<String>, data: Map<String, Value>) -> HostCommMsg {
        HostCommMsg {
            comm_id: comm_id.into(),
            data,
            metadata: Map::new(),
            buffers: Vec::new(),
        }
    }
}

//! Typed frames of the wire protocol, in both directions.
//!
//! Host -> runner frames are [`Request`]s, runner -> host frames are [`Event`]s.
//! The JSON shape of every version 1 frame is exactly the seed's: an execute request
//! carries no `type` key, field names are camelCase (`storeHistory`, `executionCount`),
//! and runner frames are tagged by `type`.
//! Version 2 frames (`hello`, `interrupt`, `input_request`/`input_reply`, `call`/`reply`,
//! `complete`/`completions`, `update_display`, `clear_output`, a `display`'s
//! `displayId`, and the comm frames `comm_open`/`comm_msg`/`comm_close`) are additive:
//! a version 1 peer logs and skips them.
//!
//! Decoding is lenient where it is safe (unknown fields are ignored, a missing
//! `cancelled` means `false`) and strict where a guess would lose data (a frame without
//! its `id` or payload is rejected, so the codec reports it as malformed).

use std::{borrow::Cow, collections::BTreeMap, fmt, marker::PhantomData};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use serde_json::{Map, Value};

/// The protocol version this crate speaks; the runner announces its own in [`Hello`].
///
/// Version 1 is the seed's frame set. Version 2 adds the `hello` handshake, in-band
/// `interrupt`, `input_request`/`input_reply` and `call`/`reply`; `complete`/`completions`
/// are an optional version 2 feature, which a runner announces in [`Hello::features`] as
/// [`FEATURE_COMPLETE`].
pub const PROTOCOL_VERSION: u32 = 2;

/// The [`Hello::features`] entry of a runner that answers [`Request::Complete`].
pub const FEATURE_COMPLETE: &str = "complete";

crate::string_id! {
    /// Identifies one execution; every runner frame about it carries the same id.
    ///
    /// On the wire it is a JSON string. The host picks ids; the runner echoes them.
    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    pub struct ExecId;
}

crate::string_id! {
    /// Identifies one host call made from Python (protocol version 2).
    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    pub struct CallId;
}

crate::string_id! {
    /// Identifies one request that is not an execution, such as a [`Complete`] (version 2).
    ///
    /// Its own id space: the runner echoes it in the answer, and it never names an execution.
    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    pub struct RequestId;
}

/// A MIME bundle: MIME type to value, as in Jupyter's `display_data`.
///
/// Text types map to strings, `application/json` to any JSON value, binary image types
/// to base64 strings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MimeBundle(Map<String, Value>);

impl MimeBundle {
    /// An empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value stored under `mime`, if any.
    pub fn get(&self, mime: &str) -> Option<&Value> {
        self.0.get(mime)
    }

    /// The value under `mime` when it is a string.
    pub fn get_str(&self, mime: &str) -> Option<&str> {
        self.0.get(mime).and_then(Value::as_str)
    }

    /// Stores `value` under `mime`, returning the previous value.
    pub fn insert(&mut self, mime: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.0.insert(mime.into(), value.into())
    }

    /// Whether the bundle has a value for `mime`.
    pub fn contains(&self, mime: &str) -> bool {
        self.0.contains_key(mime)
    }

    /// The MIME types and values, ordered by MIME type.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(mime, value)| (mime.as_str(), value))
    }

    /// How many MIME types the bundle holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the bundle holds no MIME type.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Consumes the bundle into its JSON object.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

impl From<Map<String, Value>> for MimeBundle {
    fn from(map: Map<String, Value>) -> Self {
        Self(map)
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for MimeBundle {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// How an execution ended, as the runner reports it in `done`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The cell ran to the end.
    Ok,
    /// The cell raised (including `KeyboardInterrupt` and `SystemExit`).
    Error,
}

// ---------------------------------------------------------------------------------------
// Host -> runner
// ---------------------------------------------------------------------------------------

/// A frame the host sends to the runner.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Run a cell. On the wire: an object with `id` and `code` and no `type` key.
    Execute(Execute),
    /// Finish and exit with code 0: `{"type":"exit"}`.
    Exit,
    /// Raise `KeyboardInterrupt` in the running cell without a signal (version 2):
    /// `{"type":"interrupt"}`. Ignored while idle, like SIGINT.
    Interrupt,
    /// Answers an [`InputRequest`] (version 2).
    InputReply(InputReply),
    /// Answers a [`Call`] made from Python (version 2).
    CallReply(CallReply),
    /// Asks for completions at a cursor (version 2, feature [`FEATURE_COMPLETE`]); the
    /// runner answers with [`Event::Completions`], also while a cell runs.
    Complete(Complete),
    /// Kill the runner's process group at once, mid-cell too (version 2):
    /// `{"type":"kill"}`. For a runner behind a launcher, where no signal reaches.
    Kill,
    /// Asks for a [`Event::Pong`] at once, also while a cell runs (version 2):
    /// `{"type":"ping"}`. The host's keepalive on a launcher's link.
    Ping,
    /// A message from the frontend to a comm the runner opened, such as a widget's state
    /// change (version 2, optional):
    /// `{"type":"comm_msg","commId","data","metadata"?,"buffers"?}`.
    /// The runner handles it between cells, as ipykernel does on its shell channel.
    CommMsg(HostCommMsg),
}

impl Request {
    /// The request's `type` tag on the wire (`"execute"` for an execute request, which
    /// has none).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Execute(_) => "execute",
            Self::Exit => "exit",
            Self::Interrupt => "interrupt",
            Self::InputReply(_) => "input_reply",
            Self::CallReply(_) => "reply",
            Self::Complete(_) => "complete",
            Self::Kill => "kill",
            Self::Ping => "ping",
            Self::CommMsg(_) => "comm_msg",
        }
    }
}

/// Runs a cell: `{"id", "code", "silent", "storeHistory", "cwd"?, "env"?, "allowStdin"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execute {
    /// The execution's id, echoed by every frame about it.
    pub id: ExecId,
    /// The cell source.
    #[serde(default)]
    pub code: String,
    /// No result display and, by default, no history.
    #[serde(default)]
    pub silent: bool,
    /// Whether the cell counts in `In`/`Out` and the execution counter; `None` means `!silent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_history: Option<bool>,
    /// Directory to change into before the cell runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Environment changes before the cell runs: a string sets, `null` unsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, Option<String>>>,
    /// Whether `input()` may ask the host through [`InputRequest`] (version 2).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_stdin: bool,
}

impl Execute {
    /// A plain execution of `code` that stores history: what a user's cell sends.
    pub fn new(id: ExecId, code: impl Into<String>) -> Self {
        Self {
            id,
            code: code.into(),
            silent: false,
            store_history: Some(true),
            cwd: None,
            env: None,
            allow_stdin: false,
        }
    }

    /// Whether this execution counts in history, applying the `!silent` default.
    pub fn stores_history(&self) -> bool {
        self.store_history.unwrap_or(!self.silent)
    }
}

/// The text `input()` receives: `{"type":"input_reply","id","value"}`, or the end of
/// input: `{"type":"input_reply","id","value","eof":true}`, for which `input()` raises
/// `EOFError` as it does at the end of a file.
///
/// `eof` is additive: it is omitted when false, so every other reply keeps its bytes, and
/// a runner that predates it reads the empty `value` of an end-of-input reply instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputReply {
    /// The execution whose `input()` is waiting.
    pub id: ExecId,
    /// The line typed by the user, without a trailing newline; empty at the end of input.
    pub value: String,
    /// The user's input ended (Ctrl-D, a closed stdin): `input()` raises `EOFError`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub eof: bool,
}

impl InputReply {
    /// A reply that gives `input()` the line `value`.
    pub fn line(id: ExecId, value: impl Into<String>) -> Self {
        Self {
            id,
            value: value.into(),
            eof: false,
        }
    }

    /// A reply that says the input ended: `input()` raises `EOFError`.
    pub fn eof(id: ExecId) -> Self {
        Self {
            id,
            value: String::new(),
            eof: true,
        }
    }
}

/// The host's answer to a [`Call`]:
/// `{"type":"reply","callId","ok":true,"value"}` or `{"type":"reply","callId","ok":false,"error"}`.
#[derive(Clone, Debug, PartialEq)]
pub struct CallReply {
    /// The call being answered.
    pub call_id: CallId,
    /// The value returned to Python, or the message of the exception raised there.
    pub result: Result<Value, String>,
}

/// A frontend's message to a comm: `{"type":"comm_msg","commId","data","metadata"?,"buffers"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostCommMsg {
    /// The comm, as the runner's [`CommOpen`] named it.
    pub comm_id: String,
    /// The message body (a widget's `{"method":"update","state":{..}}`, say).
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Jupyter's message metadata.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Binary buffers, each base64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buffers: Vec<String>,
}

/// Asks for completions: `{"type":"complete","id","code","cursor"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complete {
    /// Pairs the request with its [`Completions`].
    pub id: RequestId,
    /// The text being edited, such as the cell so far.
    pub code: String,
    /// The cursor in `code`, in Unicode code points (as Python indexes a `str`).
    pub cursor: u64,
}

// ---------------------------------------------------------------------------------------
// Runner -> host
// ---------------------------------------------------------------------------------------

/// A frame the runner sends to the host.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The runner is ready and says which protocol it speaks (version 2, unsolicited,
    /// first frame after start).
    Hello(Hello),
    /// The execution began; always the first frame for its id.
    Started {
        /// The execution.
        id: ExecId,
    },
    /// Text written to standard output.
    Stdout(StreamData),
    /// Text written to standard error.
    Stderr(StreamData),
    /// A rich output from `display()`, a figure, or a status event.
    Display(DisplayData),
    /// The value of the cell's final expression.
    Result(BundleData),
    /// The exception that ended the cell.
    Error(ErrorData),
    /// The execution is over. Nothing follows for its id except late output: what a
    /// thread writes while no cell runs comes under the cell that ended last, and the host
    /// hands it on as output tied to no running cell.
    Done(Done),
    /// `input()` is waiting for a line (version 2).
    InputRequest(InputRequest),
    /// Python calls a host function and blocks until the [`CallReply`] (version 2).
    Call(Call),
    /// The answer to a [`Complete`] request (version 2).
    Completions(Completions),
    /// The answer to a [`Request::Ping`] (version 2): `{"type":"pong"}`.
    Pong,
    /// Replaces every earlier display with the same display id, in this cell or an
    /// earlier one (version 2; Jupyter's `update_display_data`).
    UpdateDisplay(UpdateDisplay),
    /// Clears the cell's output so far, or just before its next output (version 2;
    /// Jupyter's `clear_output`).
    ClearOutput(ClearOutput),
    /// Python opened a comm, such as an ipywidgets widget with its state (version 2,
    /// optional; Jupyter's `comm_open`).
    CommOpen(CommOpen),
    /// A message on an open comm, such as a widget's state change (Jupyter's `comm_msg`).
    CommMsg(CommMsg),
    /// Python closed a comm (Jupyter's `comm_close`).
    CommClose(CommMsg),
}

impl Event {
    /// The execution this frame belongs to; `None` for `hello` and `completions`.
    pub fn exec_id(&self) -> Option<&ExecId> {
        Some(match self {
            Self::Hello(_) | Self::Completions(_) | Self::Pong => return None,
            Self::Started { id } => id,
            Self::Stdout(frame) | Self::Stderr(frame) => &frame.id,
            Self::Display(frame) => &frame.id,
            Self::Result(frame) => &frame.id,
            Self::UpdateDisplay(frame) => &frame.id,
            Self::ClearOutput(frame) => &frame.id,
            Self::CommOpen(frame) => &frame.id,
            Self::CommMsg(frame) | Self::CommClose(frame) => &frame.id,
            Self::Error(frame) => &frame.id,
            Self::Done(frame) => &frame.id,
            Self::InputRequest(frame) => &frame.id,
            Self::Call(frame) => &frame.id,
        })
    }

    /// The frame's `type` tag on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::Started { .. } => "started",
            Self::Stdout(_) => "stdout",
            Self::Stderr(_) => "stderr",
            Self::Display(_) => "display",
            Self::Result(_) => "result",
            Self::Error(_) => "error",
            Self::Done(_) => "done",
            Self::InputRequest(_) => "input_request",
            Self::Call(_) => "call",
            Self::Completions(_) => "completions",
            Self::Pong => "pong",
            Self::UpdateDisplay(_) => "update_display",
            Self::ClearOutput(_) => "clear_output",
            Self::CommOpen(_) => "comm_open",
            Self::CommMsg(_) => "comm_msg",
            Self::CommClose(_) => "comm_close",
        }
    }
}

/// The runner's greeting: `{"type":"hello","protocol","runner","python","pid","features"?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the runner speaks; the host refuses a different one.
    pub protocol: u32,
    /// The runner's own version string.
    pub runner: String,
    /// The interpreter's version, such as `3.11.7`.
    pub python: String,
    /// The runner's process id.
    pub pid: u32,
    /// Optional capabilities beyond the version's baseline, and the engine that runs the
    /// cells: `engine:light` (the runner's own) or `engine:ipython` (IPython's shell, which
    /// the host asks for with `PYKERNEL_ENGINE=ipython`; a runner that cannot import IPython
    /// says `engine:light`). A runner without an `engine:` entry runs the light engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// The sha256 of the runner package, from a runner started by the launcher bootstrap
    /// (which checked it), so the host knows what runs on the far side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// A chunk of text on an output stream: `{"id","data"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamData {
    /// The execution that wrote it.
    pub id: ExecId,
    /// The text, in the order it was written.
    pub data: String,
}

/// A cell's result: `{"id","bundle","metadata"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleData {
    /// The execution that produced it.
    pub id: ExecId,
    /// The MIME bundle.
    pub bundle: MimeBundle,
    /// The MIME types the runner cut from the bundle to fit the host's limits, each with
    /// the size in bytes it had (its raw bytes for a payload part, its JSON text
    /// otherwise); empty when nothing was cut. `text/plain` then ends with a notice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub truncated: BTreeMap<String, u64>,
    /// Jupyter's metadata of the bundle, keyed by MIME type or for the whole bundle (an
    /// image's `{"image/png": {"width": 100}}`); empty when there is none.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

/// A display: `{"id","bundle","displayId"?,"metadata"?}`.
///
/// A display with a `displayId` can be replaced later by an [`UpdateDisplay`] naming it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisplayData {
    /// The execution that produced it.
    pub id: ExecId,
    /// The MIME bundle.
    pub bundle: MimeBundle,
    /// Names the display for later updates (Jupyter's transient `display_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_id: Option<String>,
    /// The MIME types the runner cut from the bundle to fit the host's limits, each with
    /// the size in bytes it had (its raw bytes for a payload part, its JSON text
    /// otherwise); empty when nothing was cut. `text/plain` then ends with a notice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub truncated: BTreeMap<String, u64>,
    /// Jupyter's metadata of the bundle, keyed by MIME type or for the whole bundle (an
    /// image's `{"image/png": {"width": 100}}`); empty when there is none. The runner's
    /// own `{"pager": true}` marks text IPython would send to its pager (help, `%magic`):
    /// Jupyter shows it aside and a notebook does not keep it.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

/// Replaces a display: `{"type":"update_display","id","bundle","displayId","metadata"?}`.
///
/// Every earlier output displayed with `displayId`, in any cell, now shows `bundle`; the
/// update itself adds no output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateDisplay {
    /// The execution that sent the update (not necessarily the display's).
    pub id: ExecId,
    /// The new MIME bundle.
    pub bundle: MimeBundle,
    /// The display to replace.
    pub display_id: String,
    /// The MIME types the runner cut from the bundle to fit the host's limits, each with
    /// the size in bytes it had (its raw bytes for a payload part, its JSON text
    /// otherwise); empty when nothing was cut. `text/plain` then ends with a notice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub truncated: BTreeMap<String, u64>,
    /// Jupyter's metadata of the bundle, keyed by MIME type or for the whole bundle (an
    /// image's `{"image/png": {"width": 100}}`); empty when there is none.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

/// Clears output: `{"type":"clear_output","id","wait"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearOutput {
    /// The execution whose output is cleared.
    pub id: ExecId,
    /// Clear just before the next output arrives instead of now, so a redraw does not
    /// flicker (`clear_output(wait=True)`).
    #[serde(default)]
    pub wait: bool,
}

/// A comm opened by Python:
/// `{"type":"comm_open","id","commId","targetName","data","metadata"?,"buffers"?}`.
///
/// `id` is the execution running when it was opened (the last one, when no cell runs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommOpen {
    /// The execution it belongs to.
    pub id: ExecId,
    /// Names the comm in every later message about it.
    pub comm_id: String,
    /// What the frontend should handle it with, such as `jupyter.widget`.
    pub target_name: String,
    /// The opening message body (a widget's `{"state":{..},"buffer_paths":[..]}`).
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Jupyter's message metadata (a widget's `{"version":"2.1.0"}`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Binary buffers, each base64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buffers: Vec<String>,
}

/// A message on a comm, or its closing:
/// `{"type":"comm_msg"|"comm_close","id","commId","data","metadata"?,"buffers"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommMsg {
    /// The execution it belongs to.
    pub id: ExecId,
    /// The comm, as its [`CommOpen`] named it.
    pub comm_id: String,
    /// The message body (a widget's `{"method":"update","state":{..}}`).
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Jupyter's message metadata.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Binary buffers, each base64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buffers: Vec<String>,
}

/// A Python exception: `{"id","ename","evalue","traceback"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorData {
    /// The execution it ended.
    pub id: ExecId,
    /// The exception's class name, such as `ValueError`.
    pub ename: String,
    /// `str()` of the exception.
    pub evalue: String,
    /// Formatted traceback lines, the user's cell frames only; an item may hold newlines.
    #[serde(default)]
    pub traceback: Vec<String>,
}

/// The end of an execution: `{"id","status","executionCount","cancelled"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Done {
    /// The execution that ended.
    pub id: ExecId,
    /// Whether it raised.
    pub status: Status,
    /// The execution counter after this cell (counts stored executions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_count: Option<u64>,
    /// Whether it ended by `KeyboardInterrupt`.
    #[serde(default)]
    pub cancelled: bool,
}

/// `input()` waits for a line: `{"type":"input_request","id","prompt","password"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRequest {
    /// The execution that called `input()`.
    pub id: ExecId,
    /// The prompt passed to `input()`.
    #[serde(default)]
    pub prompt: String,
    /// Whether the input should not be echoed (`getpass`).
    #[serde(default)]
    pub password: bool,
}

/// Python calls a host function: `{"type":"call","id","callId","name","args"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The execution making the call.
    pub id: ExecId,
    /// Pairs the call with its [`CallReply`].
    pub call_id: CallId,
    /// The host function's name.
    pub name: String,
    /// Its arguments, any JSON value (`null` when none were given).
    #[serde(default)]
    pub args: Value,
}

/// Completions at a cursor:
/// `{"type":"completions","id","matches","cursorStart","cursorEnd"}`.
///
/// Each match replaces the text between `cursorStart` and `cursorEnd` (code point offsets
/// into the request's `code`); no match means nothing to offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completions {
    /// The [`Complete`] request answered.
    pub id: RequestId,
    /// The candidates, in the order to show them.
    pub matches: Vec<String>,
    /// Where the replaced text starts, in code points.
    pub cursor_start: u64,
    /// Where the replaced text ends, in code points.
    pub cursor_end: u64,
}

// ---------------------------------------------------------------------------------------
// Serde for the two enums. Both go through one flat struct of optional fields, because an
// execute request has no `type` key and because serde's internally tagged enums buffer
// every frame before decoding it; the flat form decodes in one pass.
// ---------------------------------------------------------------------------------------

fn is_false(value: &bool) -> bool {
    !*value
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Tagged<'a> {
            Exit,
            Interrupt,
            Kill,
            Ping,
            InputReply(&'a InputReply),
            Complete(&'a Complete),
            CommMsg(&'a HostCommMsg),
            Reply {
                #[serde(rename = "callId")]
                call_id: &'a CallId,
                ok: bool,
                #[serde(skip_serializing_if = "Option::is_none")]
                value: Option<&'a Value>,
                #[serde(skip_serializing_if = "Option::is_none")]
                error: Option<&'a str>,
            },
        }
        match self {
            Self::Execute(execute) => execute.serialize(serializer),
            Self::Exit => Tagged::Exit.serialize(serializer),
            Self::Interrupt => Tagged::Interrupt.serialize(serializer),
            Self::Kill => Tagged::Kill.serialize(serializer),
            Self::Ping => Tagged::Ping.serialize(serializer),
            Self::InputReply(reply) => Tagged::InputReply(reply).serialize(serializer),
            Self::Complete(complete) => Tagged::Complete(complete).serialize(serializer),
            Self::CommMsg(message) => Tagged::CommMsg(message).serialize(serializer),
            Self::CallReply(reply) => {
                let (ok, value, error) = match &reply.result {
                    Ok(value) => (true, Some(value), None),
                    Err(message) => (false, None, Some(message.as_str())),
                };
                Tagged::Reply {
                    call_id: &reply.call_id,
                    ok,
                    value,
                    error,
                }
                .serialize(serializer)
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestRepr<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    id: Option<ExecId>,
    code: Option<String>,
    #[serde(default)]
    silent: bool,
    store_history: Option<bool>,
    cwd: Option<String>,
    env: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    allow_stdin: bool,
    value: Option<Value>,
    #[serde(default)]
    eof: bool,
    call_id: Option<CallId>,
    ok: Option<bool>,
    error: Option<String>,
    cursor: Option<u64>,
    comm_id: Option<String>,
    data: Option<Map<String, Value>>,
    metadata: Option<Map<String, Value>>,
    buffers: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr: RequestRepr<'de> = from_object(deserializer, "a request object")?;
        let kind = repr.kind.as_deref().unwrap_or("execute");
        Ok(match kind {
            "execute" => Self::Execute(Execute {
                id: required(repr.id, kind, "id")?,
                code: repr.code.unwrap_or_default(),
                silent: repr.silent,
                store_history: repr.store_history,
                cwd: repr.cwd,
                env: repr.env,
                allow_stdin: repr.allow_stdin,
            }),
            "exit" => Self::Exit,
            "interrupt" => Self::Interrupt,
            "kill" => Self::Kill,
            "ping" => Self::Ping,
            "input_reply" => {
                let Value::String(value) = required(repr.value, kind, "value")? else {
                    return Err(de::Error::custom("`input_reply` value must be a string"));
                };
                Self::InputReply(InputReply {
                    id: required(repr.id, kind, "id")?,
                    value,
                    eof: repr.eof,
                })
            }
            "complete" => Self::Complete(Complete {
                id: RequestId(required(repr.id, kind, "id")?.0),
                code: required(repr.code, kind, "code")?,
                cursor: required(repr.cursor, kind, "cursor")?,
            }),
            "comm_msg" => Self::CommMsg(HostCommMsg {
                comm_id: required(repr.comm_id, kind, "commId")?,
                data: repr.data.unwrap_or_default(),
                metadata: repr.metadata.unwrap_or_default(),
                buffers: repr.buffers.unwrap_or_default(),
            }),
            "reply" => {
                let result = if required(repr.ok, kind, "ok")? {
                    Ok(repr.value.unwrap_or(Value::Null))
                } else {
                    Err(repr.error.unwrap_or_default())
                };
                Self::CallReply(CallReply {
                    call_id: required(repr.call_id, kind, "callId")?,
                    result,
                })
            }
            other => {
                return Err(de::Error::custom(format_args!(
                    "unknown request type `{other}`"
                )));
            }
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventRepr<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    id: Option<ExecId>,
    data: Option<Value>,
    bundle: Option<MimeBundle>,
    truncated: Option<BTreeMap<String, u64>>,
    ename: Option<String>,
    evalue: Option<String>,
    traceback: Option<Vec<String>>,
    status: Option<Status>,
    execution_count: Option<u64>,
    cancelled: Option<bool>,
    protocol: Option<u32>,
    runner: Option<String>,
    python: Option<String>,
    pid: Option<u32>,
    features: Option<Vec<String>>,
    hash: Option<String>,
    prompt: Option<String>,
    password: Option<bool>,
    call_id: Option<CallId>,
    name: Option<String>,
    args: Option<Value>,
    matches: Option<Vec<String>>,
    cursor_start: Option<u64>,
    cursor_end: Option<u64>,
    display_id: Option<String>,
    wait: Option<bool>,
    comm_id: Option<String>,
    target_name: Option<String>,
    metadata: Option<Map<String, Value>>,
    buffers: Option<Vec<String>>,
}

/// Requests never carry a raw payload.
impl crate::codec::Decodable for Request {}

/// A `stdout` or `stderr` frame takes a raw payload as its text; a `display`, `result`
/// or `update_display` frame takes its payload's parts into its bundle.
impl crate::codec::Decodable for Event {
    fn attach_payload(
        &mut self,
        payload: crate::codec::RawPayload<'_>,
    ) -> Result<(), crate::MalformedKind> {
        let bundle = match self {
            Self::Stdout(frame) | Self::Stderr(frame) => {
                frame.data = payload.text()?;
                return Ok(());
            }
            Self::Display(DisplayData { bundle, .. })
            | Self::Result(BundleData { bundle, .. })
            | Self::UpdateDisplay(UpdateDisplay { bundle, .. }) => bundle,
            _ => {
                return Err(crate::MalformedKind::InvalidFrame(
                    "this frame cannot carry a payload".to_owned(),
                ));
            }
        };
        for (mime, value) in payload.bundle_entries()? {
            if bundle.contains(&mime) {
                // Two values for one type: keeping either would hide the other.
                return Err(crate::MalformedKind::InvalidFrame(format!(
                    "part `{mime}` is also in the bundle"
                )));
            }
            bundle.insert(mime, value);
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let EventRepr {
            kind,
            id,
            data,
            bundle,
            truncated,
            ename,
            evalue,
            traceback,
            status,
            execution_count,
            cancelled,
            protocol,
            runner,
            python,
            pid,
            features,
            hash,
            prompt,
            password,
            call_id,
            name,
            args,
            matches,
            cursor_start,
            cursor_end,
            display_id,
            wait,
            comm_id,
            target_name,
            metadata,
            buffers,
        } = from_object(deserializer, "a frame object")?;
        let kind = &*kind;
        Ok(match kind {
            "hello" => Self::Hello(Hello {
                protocol: required(protocol, kind, "protocol")?,
                runner: runner.unwrap_or_default(),
                python: python.unwrap_or_default(),
                pid: pid.unwrap_or_default(),
                features: features.unwrap_or_default(),
                hash,
            }),
            "started" => Self::Started {
                id: required(id, kind, "id")?,
            },
            "stdout" | "stderr" => {
                let Value::String(data) = required(data, kind, "data")? else {
                    return Err(de::Error::custom(format_args!(
                        "`{kind}` frame `data` must be a string"
                    )));
                };
                let frame = StreamData {
                    id: required(id, kind, "id")?,
                    data,
                };
                if kind == "stdout" {
                    Self::Stdout(frame)
                } else {
                    Self::Stderr(frame)
                }
            }
            "display" => Self::Display(DisplayData {
                id: required(id, kind, "id")?,
                bundle: required(bundle, kind, "bundle")?,
                display_id,
                truncated: truncated.unwrap_or_default(),
                metadata: metadata.unwrap_or_default(),
            }),
            "result" => Self::Result(BundleData {
                id: required(id, kind, "id")?,
                bundle: required(bundle, kind, "bundle")?,
                truncated: truncated.unwrap_or_default(),
                metadata: metadata.unwrap_or_default(),
            }),
            "update_display" => Self::UpdateDisplay(UpdateDisplay {
                id: required(id, kind, "id")?,
                bundle: required(bundle, kind, "bundle")?,
                display_id: required(display_id, kind, "displayId")?,
                truncated: truncated.unwrap_or_default(),
                metadata: metadata.unwrap_or_default(),
            }),
            "clear_output" => Self::ClearOutput(ClearOutput {
                id: required(id, kind, "id")?,
                wait: wait.unwrap_or(false),
            }),
            "error" => Self::Error(ErrorData {
                id: required(id, kind, "id")?,
                ename: ename.unwrap_or_default(),
                evalue: evalue.unwrap_or_default(),
                traceback: traceback.unwrap_or_default(),
            }),
            "done" => Self::Done(Done {
                id: required(id, kind, "id")?,
                status: required(status, kind, "status")?,
                execution_count,
                cancelled: cancelled.unwrap_or(false),
            }),
            "input_request" => Self::InputRequest(InputRequest {
                id: required(id, kind, "id")?,
                prompt: prompt.unwrap_or_default(),
                password: password.unwrap_or(false),
            }),
            "call" => Self::Call(Call {
                id: required(id, kind, "id")?,
                call_id: required(call_id, kind, "callId")?,
                name: required(name, kind, "name")?,
                args: args.unwrap_or(Value::Null),
            }),
            "completions" => Self::Completions(Completions {
                id: RequestId(required(id, kind, "id")?.0),
                matches: required(matches, kind, "matches")?,
                cursor_start: required(cursor_start, kind, "cursorStart")?,
                cursor_end: required(cursor_end, kind, "cursorEnd")?,
            }),
            "comm_open" => Self::CommOpen(CommOpen {
                id: required(id, kind, "id")?,
                comm_id: required(comm_id, kind, "commId")?,
                target_name: required(target_name, kind, "targetName")?,
                data: comm_body(data, kind)?,
                metadata: metadata.unwrap_or_default(),
                buffers: buffers.unwrap_or_default(),
            }),
            "comm_msg" | "comm_close" => {
                let frame = CommMsg {
                    id: required(id, kind, "id")?,
                    comm_id: required(comm_id, kind, "commId")?,
                    data: comm_body(data, kind)?,
                    metadata: metadata.unwrap_or_default(),
                    buffers: buffers.unwrap_or_default(),
                };
                if kind == "comm_msg" {
                    Self::CommMsg(frame)
                } else {
                    Self::CommClose(frame)
                }
            }
            "pong" => Self::Pong,
            other => {
                return Err(de::Error::custom(format_args!(
                    "unknown frame type `{other}`"
                )));
            }
        })
    }
}

/// A comm frame's `data`: an object, or nothing (`null` or missing) for an empty one.
fn comm_body<E: de::Error>(data: Option<Value>, kind: &str) -> Result<Map<String, Value>, E> {
    match data {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(E::custom(format_args!(
            "`{kind}` frame `data` must be an object"
        ))),
    }
}

fn required<T, E: de::Error>(value: Option<T>, kind: &str, field: &str) -> Result<T, E> {
    value.ok_or_else(|| E::custom(format_args!("`{kind}` frame is missing `{field}`")))
}

/// Deserializes `T` from a JSON object only. A derived struct alone would also accept an
/// array of its fields in declaration order, which no peer writes.
fn from_object<'de, D, T>(deserializer: D, expecting: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectOnly<T> {
        expecting: &'static str,
        value: PhantomData<fn() -> T>,
    }

    impl<'de, T: Deserialize<'de>> de::Visitor<'de> for ObjectOnly<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_map(ObjectOnly {
        expecting,
        value: PhantomData,
    })
}

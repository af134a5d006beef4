//! JSON-RPC 2.0 messages: what a line from the client is, and the lines the server writes.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object (or is a batch, which is not supported).
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The method's parameters are missing, of the wrong type or out of range.
pub const INVALID_PARAMS: i64 = -32602;
/// The server failed in a way the client could not have caused.
pub const INTERNAL_ERROR: i64 = -32603;
/// The session's kernel could not start, or failed.
pub const KERNEL_FAILED: i64 = -32000;
/// A new session would pass the server's session limit.
pub const TOO_MANY_SESSIONS: i64 = -32001;
/// The session has no running kernel.
pub const NO_SUCH_SESSION: i64 = -32002;
/// The server is shutting down.
pub const SHUTTING_DOWN: i64 = -32003;
/// A line was longer than the server's limit; it was skipped.
pub const LINE_TOO_LONG: i64 = -32004;
/// The request was cancelled with `$/cancelRequest` before it could start.
pub const REQUEST_CANCELLED: i64 = -32800;

/// A JSON-RPC request id: a number or a string, as the client chose it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A numeric id.
    Number(i64),
    /// A string id.
    String(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(number) => write!(f, "{number}"),
            Self::String(string) => write!(f, "{string:?}"),
        }
    }
}

/// A JSON-RPC error object: a code, a message, and maybe data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// One of the codes in this module, or the client's own.
    pub code: i64,
    /// A short lowercase description.
    pub message: String,
    /// More about the error, when there is more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message` and no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The error for parameters that do not fit the method.
    pub(crate) fn invalid_params(message: impl fmt::Display) -> Self {
        Self::new(INVALID_PARAMS, format!("invalid params: {message}"))
    }
}

/// One line from the client, classified.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Incoming {
    /// A call that wants a response.
    Request {
        id: RequestId,
        method: String,
        params: Value,
    },
    /// A call without an id: no response, whatever happens.
    Notification { method: String, params: Value },
    /// The client's answer to one of the server's requests.
    Response {
        id: RequestId,
        result: Result<Value, RpcError>,
    },
    /// Not a message: answer with this error (and this id, when one could be read).
    Invalid {
        id: Option<RequestId>,
        error: RpcError,
    },
}

impl Incoming {
    /// Reads one line (without its newline).
    pub(crate) fn parse(line: &[u8]) -> Self {
        let value: Value = match serde_json::from_slice(line) {
            Ok(value) => value,
            Err(err) => {
                return Self::invalid(None, PARSE_ERROR, format!("parse error: {err}"));
            }
        };
        let Value::Object(mut object) = value else {
            let message = if value.is_array() {
                "invalid request: batches are not supported; send one object per line"
            } else {
                "invalid request: a message is a JSON object"
            };
            return Self::invalid(None, INVALID_REQUEST, message);
        };
        let id = match object.remove("id") {
            None => None,
            Some(id) => match serde_json::from_value::<RequestId>(id) {
                Ok(id) => Some(id),
                Err(_) => {
                    let message = "invalid request: `id` must be a string or an integer";
                    return Self::invalid(None, INVALID_REQUEST, message);
                }
            },
        };
        if object.get("jsonrpc") != Some(&Value::from("2.0")) {
            return Self::invalid(
                id,
                INVALID_REQUEST,
                "invalid request: `jsonrpc` must be \"2.0\"",
            );
        }
        match object.remove("method") {
            Some(Value::String(method)) => Self::call(id, method, object.remove("params")),
            Some(_) => Self::invalid(
                id,
                INVALID_REQUEST,
                "invalid request: `method` must be a string",
            ),
            None => Self::response(id, &mut object),
        }
    }

    fn call(id: Option<RequestId>, method: String, params: Option<Value>) -> Self {
        let params = match params {
            None => Value::Object(Map::new()),
            Some(params @ (Value::Object(_) | Value::Array(_))) => params,
            Some(_) => {
                let message = "invalid request: `params` must be an object or an array";
                return Self::invalid(id, INVALID_REQUEST, message);
            }
        };
        match id {
            Some(id) => Self::Request { id, method, params },
            None => Self::Notification { method, params },
        }
    }

    fn response(id: Option<RequestId>, object: &mut Map<String, Value>) -> Self {
        let Some(id) = id else {
            return Self::invalid(
                None,
                INVALID_REQUEST,
                "invalid request: no `method` and no `id`",
            );
        };
        match (object.remove("result"), object.remove("error")) {
            (Some(result), None) => Self::Response {
                id,
                result: Ok(result),
            },
            (None, Some(error)) => match serde_json::from_value::<RpcError>(error) {
                Ok(error) => Self::Response {
                    id,
                    result: Err(error),
                },
                Err(err) => Self::invalid(
                    Some(id),
                    INVALID_REQUEST,
                    format!("invalid error object: {err}"),
                ),
            },
            _ => Self::invalid(
                Some(id),
                INVALID_REQUEST,
                "invalid request: a response has exactly one of `result` and `error`",
            ),
        }
    }

    fn invalid(id: Option<RequestId>, code: i64, message: impl Into<String>) -> Self {
        Self::Invalid {
            id,
            error: RpcError::new(code, message),
        }
    }
}

/// JSON text of a value the server sends, serialized once, with its fields in the order
/// its type declares them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Json(String);

impl Json {
    /// `value` as JSON text.
    pub(crate) fn of<T: Serialize + ?Sized>(value: &T) -> Self {
        // The server's own types have string keys and no failing `Serialize`.
        Self(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
    }

    /// An empty object, the result of a method with nothing to say.
    pub(crate) fn empty() -> Self {
        Self("{}".to_owned())
    }
}

/// One line the server writes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outgoing {
    /// The answer to a client's request (`id` is null when the request's id was unreadable).
    Response {
        id: Option<RequestId>,
        result: Result<Json, RpcError>,
    },
    /// A notification to the client, such as `output`.
    Notification { method: &'static str, params: Json },
    /// A request to the client, such as `input` or `call`.
    Request {
        id: RequestId,
        method: &'static str,
        params: Json,
    },
}

impl Outgoing {
    /// The message as one JSON line, newline included: `jsonrpc` first, then `id`, then
    /// `method` and `params`, or `result` or `error`.
    pub(crate) fn to_line(&self) -> Vec<u8> {
        let line = match self {
            Self::Response {
                id,
                result: Ok(Json(result)),
            } => format!(
                r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
                Json::of(id).0
            ),
            Self::Response {
                id,
                result: Err(error),
            } => format!(
                r#"{{"jsonrpc":"2.0","id":{},"error":{}}}"#,
                Json::of(id).0,
                Json::of(error).0
            ),
            Self::Notification {
                method,
                params: Json(params),
            } => format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params}}}"#),
            Self::Request {
                id,
                method,
                params: Json(params),
            } => format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"{method}","params":{params}}}"#,
                Json::of(id).0
            ),
        };
        let mut line = line.into_bytes();
        line.push(b'\n');
        line
    }
}

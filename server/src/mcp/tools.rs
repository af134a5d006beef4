//! The MCP tools' names, descriptions and JSON Schemas, written for a model to read.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

/// `run_python`.
pub(crate) const RUN_PYTHON: &str = "run_python";
/// `list_sessions`.
pub(crate) const LIST_SESSIONS: &str = "list_sessions";
/// `interrupt_session`.
pub(crate) const INTERRUPT_SESSION: &str = "interrupt_session";
/// `restart_session`.
pub(crate) const RESTART_SESSION: &str = "restart_session";

/// Every tool, in the order `tools/list` gives them.
pub(crate) fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            RUN_PYTHON,
            "Run Python code as one cell in a persistent kernel, like a Jupyter notebook cell. \
             Variables, imports and functions stay defined for later calls in the same session. \
             The result shows stdout and stderr, the value of the last expression, rich outputs \
             (HTML and tables as text) and the traceback of an exception; plots and images come \
             back as images. A Python exception makes the call an error whose text holds the \
             traceback. Long output keeps its beginning and its end, with a line saying where \
             the whole output was saved. If structuredContent.kernelRestarted is true, the \
             session's kernel had died or been stopped, so earlier variables are gone and must \
             be recreated. Use separate session names for independent work.",
            object(json!({
                "type": "object",
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "The Python code to run. The value of the last line, if it is an expression, is shown. Top-level await, %magics and !shell commands work."
                    },
                    "session": {
                        "type": "string",
                        "default": "default",
                        "minLength": 1,
                        "maxLength": crate::MAX_SESSION_NAME,
                        "description": "The session (kernel) to run in; it is created on first use. Sessions do not share variables."
                    },
                    "timeout": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "description": "Seconds before the cell is interrupted (KeyboardInterrupt); the kernel is killed if it ignores the interrupt. Defaults to the server's --timeout."
                    }
                },
                "required": ["code"],
                "additionalProperties": false
            })),
        )
        .with_title("Run Python")
        .with_raw_output_schema(object(run_output_schema()))
        .with_annotations(annotations(false, true, true)),
        Tool::new(
            LIST_SESSIONS,
            "List the Python sessions: each one's name, whether its kernel is alive and busy \
             running a cell, how long it has been idle, and its working directory.",
            object(json!({"type": "object", "properties": {}, "additionalProperties": false})),
        )
        .with_title("List Python sessions")
        .with_raw_output_schema(object(json!({
            "type": "object",
            "properties": {
                "sessions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "alive": {"type": "boolean", "description": "False once the kernel died or was shut down for idleness; the next run_python starts a fresh one."},
                            "busy": {"type": "boolean", "description": "A cell runs or waits in it."},
                            "idleSeconds": {"type": ["number", "null"], "description": "Seconds since its last cell ended; null while busy."},
                            "cwd": {"type": ["string", "null"], "description": "The kernel's current working directory."},
                            "generation": {"type": "integer", "description": "1 for the session's first kernel, one more for each replacement."}
                        },
                        "required": ["name", "alive", "busy", "idleSeconds", "cwd", "generation"]
                    }
                }
            },
            "required": ["sessions"]
        })))
        .with_annotations(annotations(true, false, false)),
        Tool::new(
            INTERRUPT_SESSION,
            "Interrupt the code running in a session now, like Ctrl-C: the run_python call that \
             runs it returns with a KeyboardInterrupt traceback. Variables stay defined. Nothing \
             happens if the session is idle.",
            session_input("The session to interrupt."),
        )
        .with_title("Interrupt a Python session")
        .with_raw_output_schema(object(json!({
            "type": "object",
            "properties": {
                "session": {"type": "string"},
                "busy": {"type": "boolean", "description": "Whether a cell was running when the interrupt was sent."}
            },
            "required": ["session", "busy"]
        })))
        .with_annotations(annotations(false, false, false)),
        Tool::new(
            RESTART_SESSION,
            "Restart a session's kernel: all of its variables, imports and state are discarded \
             and the next run_python starts from an empty namespace. Code running there is \
             stopped.",
            session_input("The session to restart."),
        )
        .with_title("Restart a Python session")
        .with_raw_output_schema(object(json!({
            "type": "object",
            "properties": {
                "session": {"type": "string"},
                "generation": {"type": "integer", "description": "The new kernel's generation."}
            },
            "required": ["session", "generation"]
        })))
        .with_annotations(annotations(false, true, false)),
    ]
}

/// The schema of `run_python`'s `structuredContent`.
fn run_output_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "error"]},
            "session": {"type": "string"},
            "executionCount": {"type": ["integer", "null"]},
            "error": {
                "type": ["object", "null"],
                "properties": {"ename": {"type": "string"}, "evalue": {"type": "string"}},
                "required": ["ename", "evalue"]
            },
            "timedOut": {"type": "boolean"},
            "cancelled": {"type": "boolean"},
            "kernelRestarted": {"type": "boolean", "description": "The session's kernel died or was stopped since the previous call: earlier variables are gone."},
            "kernelKilled": {"type": "boolean", "description": "The kernel was killed or died during this call; the next call starts a fresh one."},
            "stdinRequested": {"type": "boolean"},
            "truncated": {"type": "boolean"},
            "savedOutput": {"type": ["string", "null"], "description": "The file holding the whole text output when it was cut."}
        },
        "required": ["status", "session", "executionCount", "error", "timedOut", "cancelled", "kernelRestarted", "truncated"]
    })
}

fn session_input(description: &str) -> Arc<JsonObject> {
    object(json!({
        "type": "object",
        "properties": {
            "session": {"type": "string", "minLength": 1, "description": description}
        },
        "required": ["session"],
        "additionalProperties": false
    }))
}

/// Hints for clients: whether the tool only reads, may destroy state, and reaches the
/// world outside (`run_python` runs arbitrary code).
fn annotations(read_only: bool, destructive: bool, open_world: bool) -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(read_only)
        .destructive(destructive)
        .open_world(open_world)
}

/// A `json!` object literal as a schema object.
fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        // Only called with object literals above.
        _ => Arc::new(JsonObject::new()),
    }
}

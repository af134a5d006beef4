//! Jupyter widgets in a run, as nbclient handles them: every widget's state kept from
//! the comm messages, `Output` widgets mimicked so that what a cell writes inside
//! `with out:` goes into the widget's `outputs` instead of the cell, and the state
//! written to the notebook's `metadata.widgets` when the run ends.
//!
//! This is sans-IO: [`Widgets`] takes comm messages and cell events, and says which
//! messages go back to the kernel (an `Output` widget's new `outputs`, as nbclient syncs
//! them).

use std::collections::HashMap;

use pykernel::{CommKind, CommMessage, HostCommMsg};
use serde_json::{Map, Value, json};

use crate::apply::{CellEvent, merge_stream, new_output};

/// The MIME type of the widget state in a notebook's `metadata.widgets`.
pub const WIDGET_STATE_MIME: &str = "application/vnd.jupyter.widget-state+json";

/// The comm target of ipywidgets' widgets.
const WIDGET_TARGET: &str = "jupyter.widget";

/// An `Output` widget as nbclient's `OutputWidget` mimics a frontend's.
#[derive(Debug, Default)]
struct OutputWidget {
    /// The outputs it holds.
    outputs: Vec<Value>,
    /// A `clear_output(wait=True)` waits for the next output.
    clear_before_next: bool,
    /// The execution whose output it takes, empty when none.
    msg_id: String,
}

/// The widgets of one run.
#[derive(Debug, Default)]
pub struct Widgets {
    /// Comm id to state, merged from every message with a `state`, in opening order.
    state: Vec<(String, Map<String, Value>)>,
    /// Comm id to buffer path to buffer (`{"data","encoding","path"}`), in arrival order.
    buffers: HashMap<String, Vec<(Value, Value)>>,
    /// The `Output` widgets, by comm id.
    outputs: HashMap<String, OutputWidget>,
    /// Execution id to the `Output` widgets capturing it, the last one taking output
    /// (nbclient's `output_hook_stack`).
    hooks: HashMap<String, Vec<String>>,
}

impl Widgets {
    /// No widgets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one comm message from the kernel.
    pub fn handle(&mut self, message: &CommMessage) {
        let comm_id = &message.comm_id;
        if let Some(Value::Object(state)) = message.data.get("state") {
            self.merge_state(comm_id, state);
            self.keep_buffers(message);
        }
        match &message.kind {
            CommKind::Open { target_name } if target_name == WIDGET_TARGET => {
                let state = message.data.get("state").and_then(Value::as_object);
                let model = |key: &str| state.and_then(|state| state.get(key)?.as_str());
                if model("_model_module") == Some("@jupyter-widgets/output")
                    && model("_model_name") == Some("OutputModel")
                {
                    let outputs = state
                        .and_then(|state| state.get("outputs")?.as_array().cloned())
                        .unwrap_or_default();
                    self.outputs.insert(
                        comm_id.clone(),
                        OutputWidget {
                            outputs,
                            ..OutputWidget::default()
                        },
                    );
                }
            }
            CommKind::Msg => {
                if let Some(Value::Object(state)) = message.data.get("state") {
                    if let Some(msg_id) = state.get("msg_id").and_then(Value::as_str) {
                        self.set_msg_id(comm_id, msg_id);
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether an `Output` widget takes the output of execution `exec_id`.
    pub fn captures(&self, exec_id: &str) -> bool {
        self.hooks
            .get(exec_id)
            .is_some_and(|hooks| !hooks.is_empty())
    }

    /// Gives a cell event of execution `exec_id` to the `Output` widget capturing it, if
    /// one does. Returns `Err(event)` when none does (the cell takes it), else the message
    /// that tells the kernel's widget its new `outputs`, if any.
    ///
    /// # Errors
    /// The event itself when no widget takes it.
    pub fn capture(
        &mut self,
        exec_id: &str,
        event: CellEvent,
    ) -> Result<Option<HostCommMsg>, CellEvent> {
        let Some(comm_id) = self
            .hooks
            .get(exec_id)
            .and_then(|hooks| hooks.last())
            .cloned()
        else {
            return Err(event);
        };
        let Some(widget) = self.outputs.get_mut(&comm_id) else {
            return Err(event);
        };
        match event {
            CellEvent::ClearOutput { wait: true } => {
                widget.clear_before_next = true;
                return Ok(None);
            }
            CellEvent::ClearOutput { wait: false } => widget.outputs.clear(),
            event @ CellEvent::UpdateDisplay { .. } => return Err(event),
            event => {
                let Some((output, _)) = new_output(event) else {
                    return Ok(None);
                };
                if std::mem::take(&mut widget.clear_before_next) {
                    widget.outputs.clear();
                }
                if !merge_stream(&mut widget.outputs, &output) {
                    widget.outputs.push(output);
                }
            }
        }
        let outputs = Value::Array(widget.outputs.clone());
        self.merge_state(
            &comm_id,
            &Map::from_iter([("outputs".to_owned(), outputs.clone())]),
        );
        let data = json!({"method": "update", "state": {"outputs": outputs}, "buffer_paths": []});
        Ok(Some(CommMessage::to_runner(
            comm_id,
            data.as_object().cloned().unwrap_or_default(),
        )))
    }

    /// The notebook's `metadata.widgets` as nbclient writes it, or `None` when no widget
    /// state was seen.
    pub fn metadata(&self) -> Option<Value> {
        if self.state.is_empty() {
            return None;
        }
        let mut states = Map::new();
        for (comm_id, state) in &self.state {
            let Some(model_name) = state.get("_model_name") else {
                continue;
            };
            let field = |key: &str| state.get(key).cloned().unwrap_or(Value::Null);
            let mut entry = json!({
                "model_name": model_name,
                "model_module": field("_model_module"),
                "model_module_version": field("_model_module_version"),
                "state": state,
            });
            if let Some(buffers) = self.buffers.get(comm_id).filter(|b| !b.is_empty()) {
                entry["buffers"] = buffers.iter().map(|(_, buffer)| buffer.clone()).collect();
            }
            states.insert(comm_id.clone(), entry);
        }
        Some(json!({
            WIDGET_STATE_MIME: {
                "state": states,
                "version_major": 2,
                "version_minor": 0,
            }
        }))
    }

    fn merge_state(&mut self, comm_id: &str, state: &Map<String, Value>) {
        let held = match self.state.iter().position(|(id, _)| id == comm_id) {
            Some(position) => &mut self.state[position].1,
            None => {
                self.state.push((comm_id.to_owned(), Map::new()));
                let last = self.state.len() - 1;
                &mut self.state[last].1
            }
        };
        for (key, value) in state {
            held.insert(key.clone(), value.clone());
        }
    }

    /// Keeps the buffers a message carries, by path, as nbclient's `widget_buffers`.
    fn keep_buffers(&mut self, message: &CommMessage) {
        let Some(Value::Array(paths)) = message.data.get("buffer_paths") else {
            return;
        };
        if paths.is_empty() {
            return;
        }
        let held = self.buffers.entry(message.comm_id.clone()).or_default();
        for (path, data) in paths.iter().zip(&message.buffers) {
            let buffer = json!({"data": data, "encoding": "base64", "path": path});
            match held.iter_mut().find(|(held_path, _)| held_path == path) {
                Some(entry) => entry.1 = buffer,
                None => held.push((path.clone(), buffer)),
            }
        }
    }

    /// An `Output` widget's `msg_id` changed: it starts or stops taking that execution's
    /// output (nbclient's `register_output_hook` and `remove_output_hook`).
    fn set_msg_id(&mut self, comm_id: &str, msg_id: &str) {
        let Some(widget) = self.outputs.get_mut(comm_id) else {
            return;
        };
        if msg_id.is_empty() {
            let previous = std::mem::take(&mut widget.msg_id);
            if let Some(hooks) = self.hooks.get_mut(&previous) {
                if let Some(position) = hooks.iter().rposition(|hook| hook == comm_id) {
                    hooks.remove(position);
                }
            }
        } else {
            msg_id.clone_into(&mut widget.msg_id);
            self.hooks
                .entry(msg_id.to_owned())
                .or_default()
                .push(comm_id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests;

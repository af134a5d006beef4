//! Turning what a cell produces into nbformat outputs, as nbclient does: streams merged,
//! display ids remembered across cells so `update_display_data` rewrites earlier outputs,
//! and `clear_output` (with `wait`) applied.
//!
//! This is sans-IO: [`Applier`] takes [`CellEvent`]s and edits the cells it is given.

use std::collections::{BTreeMap, HashMap};

use pykernel::MimeBundle;
use serde_json::{Map, Value, json};

use crate::nbformat::Cell;

/// Which stream a piece of text was written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamName {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One thing a running cell produced, in Jupyter's message terms.
#[derive(Clone, Debug, PartialEq)]
pub enum CellEvent {
    /// Text on a stream (`stream`).
    Stream {
        /// The stream.
        name: StreamName,
        /// The text.
        text: String,
    },
    /// A rich output (`display_data`), with its display id if it has one.
    Display {
        /// The MIME bundle.
        bundle: MimeBundle,
        /// The output's `metadata` (an image's `{"image/png": {"width": 50}}`).
        metadata: Map<String, Value>,
        /// The display id that later updates target.
        display_id: Option<String>,
    },
    /// The value of the cell's last expression (`execute_result`); its count is filled in
    /// when the cell ends ([`Applier::finish_cell`]).
    Result {
        /// The MIME bundle.
        bundle: MimeBundle,
        /// The output's `metadata`.
        metadata: Map<String, Value>,
    },
    /// Rewrite the data and metadata of every earlier output with this display id
    /// (`update_display_data`).
    UpdateDisplay {
        /// The new MIME bundle.
        bundle: MimeBundle,
        /// The new metadata, which replaces the old as nbclient replaces it.
        metadata: Map<String, Value>,
        /// The display id to update.
        display_id: String,
    },
    /// Clear the cell's outputs (`clear_output`), now or, with `wait`, just before the
    /// next output arrives.
    ClearOutput {
        /// Whether to wait for the next output.
        wait: bool,
    },
    /// The exception that ended the cell (`error`).
    Error {
        /// The exception's class name.
        ename: String,
        /// `str()` of the exception.
        evalue: String,
        /// The traceback lines.
        traceback: Vec<String>,
    },
}

/// Applies cell events to a notebook's cells, keeping the state that spans cells.
#[derive(Debug, Default)]
pub struct Applier {
    /// Display id to cell index to output indices, as nbclient's `_display_id_map`.
    display_ids: HashMap<String, BTreeMap<usize, Vec<usize>>>,
    /// A `clear_output(wait=True)` waits for the next output.
    clear_before_next: bool,
}

impl Applier {
    /// A fresh applier for one notebook run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts running the cell at `index`: its outputs are emptied.
    pub fn start_cell(&mut self, cells: &mut [Cell], index: usize) {
        self.clear_before_next = false;
        if let Some(cell) = cells.get_mut(index) {
            cell.outputs = Some(Vec::new());
            self.forget_cell(index);
        }
    }

    /// Applies one event of the cell at `index`.
    pub fn apply(&mut self, cells: &mut [Cell], index: usize, event: CellEvent) {
        match event {
            CellEvent::ClearOutput { wait: true } => self.clear_before_next = true,
            CellEvent::ClearOutput { wait: false } => self.clear(cells, index),
            CellEvent::UpdateDisplay {
                bundle,
                metadata,
                display_id,
            } => {
                self.update(cells, &display_id, &bundle, &metadata);
            }
            event => {
                if let CellEvent::Display {
                    bundle,
                    metadata,
                    display_id: Some(display_id),
                } = &event
                {
                    self.update(cells, display_id, bundle, metadata);
                }
                if let Some(output) = new_output(event) {
                    self.push(cells, index, output);
                }
            }
        }
    }

    /// Ends the cell at `index`: sets its execution count, on the cell and on its
    /// `execute_result`.
    pub fn finish_cell(&mut self, cells: &mut [Cell], index: usize, execution_count: Option<u64>) {
        let Some(cell) = cells.get_mut(index) else {
            return;
        };
        cell.execution_count = Some(execution_count.map_or(Value::Null, Value::from));
        for output in cell.outputs.iter_mut().flatten() {
            if output.get("output_type").and_then(Value::as_str) == Some("execute_result") {
                output["execution_count"] = execution_count.map_or(Value::Null, Value::from);
            }
        }
    }

    fn push(
        &mut self,
        cells: &mut [Cell],
        index: usize,
        (output, display_id): (Value, Option<String>),
    ) {
        if self.clear_before_next {
            self.clear_before_next = false;
            self.clear(cells, index);
        }
        let Some(outputs) = cells.get_mut(index).and_then(|cell| cell.outputs.as_mut()) else {
            return;
        };
        if merge_stream(outputs, &output) {
            return;
        }
        if let Some(display_id) = display_id {
            self.display_ids
                .entry(display_id)
                .or_default()
                .entry(index)
                .or_default()
                .push(outputs.len());
        }
        outputs.push(output);
    }

    fn clear(&mut self, cells: &mut [Cell], index: usize) {
        if let Some(cell) = cells.get_mut(index) {
            cell.outputs = Some(Vec::new());
        }
        self.forget_cell(index);
    }

    /// Drops the cell's outputs from the display id map (nbclient's
    /// `clear_display_id_mapping`).
    fn forget_cell(&mut self, index: usize) {
        for cell_map in self.display_ids.values_mut() {
            cell_map.remove(&index);
        }
    }

    /// Rewrites the data and metadata of every output recorded under `display_id`, as
    /// nbclient's `_update_display_id` does.
    fn update(
        &self,
        cells: &mut [Cell],
        display_id: &str,
        bundle: &MimeBundle,
        metadata: &Map<String, Value>,
    ) {
        let Some(cell_map) = self.display_ids.get(display_id) else {
            return;
        };
        for (cell_index, output_indices) in cell_map {
            let Some(outputs) = cells
                .get_mut(*cell_index)
                .and_then(|cell| cell.outputs.as_mut())
            else {
                continue;
            };
            for output_index in output_indices {
                if let Some(output) = outputs.get_mut(*output_index) {
                    output["data"] = Value::Object(bundle.as_map().clone());
                    output["metadata"] = Value::Object(metadata.clone());
                }
            }
        }
    }
}

/// The nbformat output an event adds, with its display id; `None` for an update or a
/// clear, which add none.
pub(crate) fn new_output(event: CellEvent) -> Option<(Value, Option<String>)> {
    Some(match event {
        CellEvent::ClearOutput { .. } | CellEvent::UpdateDisplay { .. } => return None,
        CellEvent::Display {
            bundle,
            metadata,
            display_id,
        } => (display_data(bundle, metadata), display_id),
        CellEvent::Result { bundle, metadata } => (
            json!({
                "output_type": "execute_result",
                "execution_count": null,
                "data": bundle.into_map(),
                "metadata": metadata,
            }),
            None,
        ),
        CellEvent::Stream { name, text } => (stream(name, &text), None),
        CellEvent::Error {
            ename,
            evalue,
            traceback,
        } => (
            json!({
                "output_type": "error",
                "ename": ename,
                "evalue": evalue,
                "traceback": traceback,
            }),
            None,
        ),
    })
}

/// Appends a stream output's text to the last output when that is the same stream, as
/// consecutive writes to one stream are one output (ipykernel's buffered stream messages
/// arrive so); returns whether it did.
pub(crate) fn merge_stream(outputs: &mut [Value], output: &Value) -> bool {
    let Some(last) = outputs.last_mut() else {
        return false;
    };
    let is_stream =
        |output: &Value| output.get("output_type").and_then(Value::as_str) == Some("stream");
    if !is_stream(last) || !is_stream(output) || last.get("name") != output.get("name") {
        return false;
    }
    match (
        last.get_mut("text"),
        output.get("text").and_then(Value::as_str),
    ) {
        (Some(Value::String(last_text)), Some(text)) => {
            last_text.push_str(text);
            true
        }
        _ => false,
    }
}

fn display_data(bundle: MimeBundle, metadata: Map<String, Value>) -> Value {
    json!({
        "output_type": "display_data",
        "data": bundle.into_map(),
        "metadata": metadata,
    })
}

fn stream(name: StreamName, text: &str) -> Value {
    let name = match name {
        StreamName::Stdout => "stdout",
        StreamName::Stderr => "stderr",
    };
    json!({ "output_type": "stream", "name": name, "text": text })
}

#[cfg(test)]
mod tests;

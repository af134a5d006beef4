//! The nbformat 4 document: reading, the cell accessors a run needs, and writing as
//! Jupyter writes (sorted keys, one-space indent, multi-line strings as lists of lines).

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process,
    sync::atomic::{AtomicU64, Ordering},
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::NotebookError;

/// A notebook in nbformat 4. Fields this crate does not know are kept as read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notebook {
    /// The cells, in order.
    pub cells: Vec<Cell>,
    /// Notebook-level metadata (kernelspec, language info, ...).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The major format version; always 4 for a notebook this crate read.
    pub nbformat: u64,
    /// The minor format version.
    pub nbformat_minor: u64,
}

/// One cell. Code cells have `outputs` and an `execution_count`; the others do not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// `code`, `markdown` or `raw`.
    pub cell_type: String,
    /// The cell id (nbformat 4.5 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Cell metadata: tags, timing, ...
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The source, a string or a list of lines as stored.
    pub source: Value,
    /// The outputs of a code cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<Value>>,
    /// The execution count of a code cell; `Some(Value::Null)` when it has not run.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_count: Option<Value>,
    /// Every other field (attachments, ...), kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Notebook {
    /// Reads and parses the notebook at `path`.
    ///
    /// # Errors
    /// [`NotebookError::Read`] when the file cannot be read, [`NotebookError::Parse`] when
    /// it is not an nbformat 4 notebook.
    pub fn read(path: &Path) -> Result<Self, NotebookError> {
        let text = fs::read_to_string(path).map_err(|source| NotebookError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| NotebookError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses a notebook from its JSON text; the error says what is wrong.
    ///
    /// # Errors
    /// A message when the text is not JSON, not nbformat 4, or a cell lacks a field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
        match value.get("nbformat").and_then(Value::as_u64) {
            Some(4) => {}
            Some(other) => {
                return Err(format!(
                    "nbformat {other} is not supported, only 4 (convert it with `jupyter nbconvert --to notebook --nbformat 4`)"
                ));
            }
            None => return Err("no `nbformat` version: not a Jupyter notebook".to_owned()),
        }
        let notebook: Self =
            serde_json::from_value(value).map_err(|err| format!("not a valid notebook: {err}"))?;
        for (index, cell) in notebook.cells.iter().enumerate() {
            if cell.source_text().is_none() {
                return Err(format!(
                    "cell {} has a source that is neither a string nor a list of strings",
                    index + 1
                ));
            }
        }
        Ok(notebook)
    }

    /// The notebook as Jupyter writes it: keys sorted, one-space indent, multi-line
    /// strings split into lists of lines, a final newline.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        split_lines(&mut value);
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Serialising a `Value` into a `Vec` cannot fail.
        let _ = value.serialize(&mut serializer);
        out.push(b'\n');
        // serde_json writes UTF-8 only.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Writes the notebook to `path` atomically: a temporary file beside it, then a
    /// rename, so a reader (or a crash) never sees a half-written notebook.
    ///
    /// # Errors
    /// [`NotebookError::Write`] when the file cannot be written.
    pub fn write_atomic(&self, path: &Path) -> Result<(), NotebookError> {
        let error = |source| NotebookError::Write {
            path: path.to_owned(),
            source,
        };
        let temp = temp_path(path);
        let res = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(self.to_json().as_bytes())?;
            file.sync_all()?;
            // Keep the permissions of a notebook being replaced.
            if let Ok(meta) = fs::metadata(path) {
                fs::set_permissions(&temp, meta.permissions())?;
            }
            fs::rename(&temp, path)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&temp);
        }
        res.map_err(error)
    }
}

impl Cell {
    /// Whether this is a code cell.
    pub fn is_code(&self) -> bool {
        self.cell_type == "code"
    }

    /// The source as one string, or `None` when it is neither a string nor a list of them.
    pub fn source_text(&self) -> Option<String> {
        join_text(&self.source)
    }

    /// The cell's tags (`metadata.tags`).
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.metadata
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// Whether the cell has `tag` among its tags.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags().any(|candidate| candidate == tag)
    }

    /// A new code cell with no outputs.
    pub fn code(source: &str, tags: &[&str], id: Option<String>) -> Self {
        let mut metadata = Map::new();
        metadata.insert(
            "tags".to_owned(),
            Value::Array(tags.iter().map(|tag| Value::from(*tag)).collect()),
        );
        Self {
            cell_type: "code".to_owned(),
            id,
            metadata,
            source: Value::from(source),
            outputs: Some(Vec::new()),
            execution_count: Some(Value::Null),
            extra: Map::new(),
        }
    }
}

/// A field that is present, `null` included: serde reads `null` as `None` otherwise,
/// and a code cell's `"execution_count": null` is required by nbformat.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A fresh path beside `path` for the temporary copy; created with `create_new`, so an
/// existing file is never reused.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.pyk-{}-{n}.tmp", process::id()))
}

/// nbformat's `split_lines`: sources, stream text and non-JSON string data become lists
/// of lines, each keeping its newline.
fn split_lines(notebook: &mut Value) {
    let Some(cells) = notebook.get_mut("cells").and_then(Value::as_array_mut) else {
        return;
    };
    for cell in cells {
        if let Some(source) = cell.get_mut("source") {
            split_value(source);
        }
        let Some(outputs) = cell.get_mut("outputs").and_then(Value::as_array_mut) else {
            continue;
        };
        for output in outputs {
            if let Some(text) = output.get_mut("text") {
                split_value(text);
            }
            let Some(data) = output.get_mut("data").and_then(Value::as_object_mut) else {
                continue;
            };
            for (mime, value) in data.iter_mut() {
                if !is_json_mime(mime) {
                    split_value(value);
                }
            }
        }
    }
}

fn split_value(value: &mut Value) {
    if let Value::String(text) = value {
        *value = Value::Array(text.split_inclusive('\n').map(Value::from).collect());
    }
}

/// Whether nbformat stores this MIME type's value as JSON rather than text.
pub(crate) fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Joins a stored multi-line string (a string or a list of lines).
pub(crate) fn join_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Array(lines) => lines
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<&str>>>()
            .map(|lines| lines.concat()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

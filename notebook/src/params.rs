//! Parameters injected as papermill injects them: a code cell tagged
//! `injected-parameters` right after the cell tagged `parameters` (or first, when no cell
//! has that tag), replacing one an earlier run injected.

use crate::{error::NotebookError, nbformat::Notebook};

/// The tag of the cell whose defaults the parameters override.
pub const PARAMETERS_TAG: &str = "parameters";
/// The tag of the injected cell.
pub const INJECTED_TAG: &str = "injected-parameters";

/// One parameter: a Python name and the source of its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    /// The variable name.
    pub name: String,
    /// The value as Python source (`0.5`, `'text'`, `[1, 2]`).
    pub value_source: String,
}

/// Splits `NAME=VALUE`, checking that the name is a Python identifier.
///
/// # Errors
/// [`NotebookError::Parameter`] when there is no `=` or the name is not an identifier.
pub fn parse_assignment(raw: &str) -> Result<(String, String), NotebookError> {
    let Some((name, value)) = raw.split_once('=') else {
        return Err(NotebookError::Parameter(format!(
            "expected NAME=VALUE, found `{raw}` (no `=`)"
        )));
    };
    let name = name.trim();
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|first| first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric());
    if !valid {
        return Err(NotebookError::Parameter(format!(
            "`{name}` is not a Python identifier"
        )));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// Inserts (or replaces) the injected-parameters cell; returns its index, or `None` when
/// there are no parameters.
pub fn inject(notebook: &mut Notebook, parameters: &[Parameter]) -> Option<usize> {
    if parameters.is_empty() {
        return None;
    }
    let mut source = String::from("# Parameters\n");
    for parameter in parameters {
        source.push_str(&parameter.name);
        source.push_str(" = ");
        source.push_str(&parameter.value_source);
        source.push('\n');
    }
    let cells = &mut notebook.cells;
    let old = cells.iter().position(|cell| cell.has_tag(INJECTED_TAG));
    let id = old.and_then(|index| cells.remove(index).id).or_else(|| {
        // Ids are required from nbformat 4.5 on; a notebook older than that has none.
        let needs_id = notebook.nbformat_minor >= 5;
        needs_id.then(|| "injected-parameters".to_owned())
    });
    let at = cells
        .iter()
        .position(|cell| cell.has_tag(PARAMETERS_TAG))
        .map_or(0, |index| index + 1);
    cells.insert(
        at,
        crate::nbformat::Cell::code(&source, &[INJECTED_TAG], id),
    );
    Some(at)
}

/// The code that turns raw parameter values into Python source, in the kernel: a
/// value that `ast.literal_eval` accepts is kept as that literal's `repr`, anything else
/// becomes a string. It prints one JSON list and leaves no names behind.
pub(crate) fn literal_probe(raw_values: &[String]) -> String {
    // A JSON string is a valid Python string literal.
    let values = serde_json::to_string(raw_values).unwrap_or_else(|_| "[]".to_owned());
    format!(
        "exec({:?}, {{'RAW': {values}}})",
        "import ast, json\n\
         def literal(text):\n    \
             try:\n        \
                 return repr(ast.literal_eval(text))\n    \
             except Exception:\n        \
                 return repr(text)\n\
         print(json.dumps([literal(text) for text in RAW]))\n"
    )
}

#[cfg(test)]
mod tests;

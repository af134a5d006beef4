//! A widgets notebook (`widgets/widgets.ipynb`) compared with nbclient's: the cells'
//! outputs, what the `Output` widget took, and the notebook's `metadata.widgets`, with the
//! random widget ids masked.

use pykernel_notebook::{Notebook, WIDGET_STATE_MIME};
use pykernel_runner::testing::test_python;
use serde_json::Value;

use crate::{cell_outputs, engines, imports, join_lines, reference, run_fixture, validate};

/// What the comparison looks at: every code cell's outputs, then every widget's state
/// (sorted, as ids are random), each with 32-hex-digit ids masked.
fn normalized(notebook: &Notebook) -> String {
    let mut lines: Vec<String> = cell_outputs(notebook)
        .iter()
        .map(|line| mask_ids(line))
        .collect();
    let states = notebook
        .metadata
        .get("widgets")
        .and_then(|widgets| widgets.get(WIDGET_STATE_MIME));
    let mut widgets: Vec<String> = states
        .and_then(|states| states.get("state"))
        .and_then(Value::as_object)
        .map(|state| {
            state
                .values()
                .map(|widget| mask_ids(&join_lines(widget).to_string()))
                .collect()
        })
        .unwrap_or_default();
    widgets.sort();
    lines.extend(
        widgets
            .into_iter()
            .map(|widget| format!("widget: {widget}")),
    );
    let version = states.map(|states| (states.get("version_major"), states.get("version_minor")));
    lines.push(format!("version: {version:?}"));
    lines.join("\n")
}

/// Replaces every run of exactly 32 lowercase hex digits (a widget's uuid) by `<id>`.
fn mask_ids(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 32 {
            out.push_str("<id>");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_digit() || ('a'..='f').contains(&ch) {
            run.push(ch);
        } else {
            flush(&mut run, &mut out);
            out.push(ch);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[tokio::test]
async fn widgets_notebook_matches_nbclient_and_ipykernel() {
    let Some(python) = test_python() else {
        return;
    };
    if !imports(&python, "ipywidgets") {
        eprintln!("skipped: {} cannot import ipywidgets", python.display());
        return;
    }
    let expected = normalized(&reference("widgets"));
    // The reference holds what the widget took, not just the cells' outputs.
    assert!(
        expected.contains(r#""text":"again\nfrom a function\n""#),
        "{expected}"
    );
    for engine in engines(&python) {
        let notebook = run_fixture(&python, "widgets", engine).await;
        assert_eq!(normalized(&notebook), expected, "{engine:?}");
        validate(&python, &notebook);
    }
}

use pykernel::{LEGACY_STATUS_MIME, MimeBundle, Output, PyError, STATUS_MIME};
use serde_json::{Map, Value, json};

use super::cell_event;
use crate::apply::{CellEvent, StreamName};

fn display(entries: &[(&str, Value)], metadata: Value) -> Output {
    let mut bundle = MimeBundle::new();
    for (mime, value) in entries {
        bundle.insert(*mime, value.clone());
    }
    let metadata: Map<String, Value> = metadata.as_object().cloned().unwrap_or_default();
    Output::Display { bundle, metadata }
}

#[test]
fn status_events_and_pager_text_are_not_notebook_outputs() {
    for mime in [STATUS_MIME, LEGACY_STATUS_MIME] {
        let status = display(
            &[
                (mime, json!({"op": "writefile"})),
                ("text/plain", json!("")),
            ],
            json!({}),
        );
        assert!(cell_event(status).is_none(), "{mime}");
    }
    let page = display(
        &[("text/plain", json!("Signature: len(obj, /)"))],
        json!({"pager": true}),
    );
    assert!(cell_event(page).is_none());
    // Other displays, with or without metadata, are outputs.
    let html = display(&[("text/html", json!("<b>hi</b>"))], json!({}));
    assert!(cell_event(html).is_some());
    let sized = display(
        &[
            ("image/png", json!("iVBOR")),
            ("text/plain", json!("<Image>")),
        ],
        json!({"image/png": {"width": 50}, "pager": false}),
    );
    assert!(cell_event(sized).is_some());
}

#[test]
fn a_magics_usage_error_is_a_stderr_line_as_in_ipykernel() {
    let usage = Output::Error(PyError {
        ename: "UsageError".to_owned(),
        evalue: "Line magic function `%nope` not found.".to_owned(),
        traceback: vec!["UsageError: Line magic function `%nope` not found.".to_owned()],
    });
    let Some(CellEvent::Stream { name, text }) = cell_event(usage) else {
        panic!("not a stream");
    };
    assert_eq!(
        (name, text.as_str()),
        (
            StreamName::Stderr,
            "UsageError: Line magic function `%nope` not found.\n"
        )
    );
    // User code's own exception of that name keeps its traceback.
    let raised = Output::Error(PyError {
        ename: "UsageError".to_owned(),
        evalue: "bad flag".to_owned(),
        traceback: vec![
            "Traceback (most recent call last):".to_owned(),
            "UsageError: bad flag".to_owned(),
        ],
    });
    assert!(matches!(cell_event(raised), Some(CellEvent::Error { .. })));
}

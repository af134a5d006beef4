use pykernel::{LEGACY_STATUS_MIME, MimeBundle, Output, STATUS_MIME};
use serde_json::{Map, Value, json};

use super::cell_event;

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

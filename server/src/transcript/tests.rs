use pykernel::{MimeBundle, Output, PyError};
use serde_json::json;

use pykernel::Artifacts;

use crate::transcript::Transcript;

/// Feeds `outputs` to a transcript and renders its text and images.
fn check(outputs: &[Output]) -> String {
    let artifacts = Artifacts::create_private().expect("a private directory");
    let mut transcript = Transcript::new(&artifacts, 1000);
    for output in outputs {
        transcript.push(output);
    }
    let cell = transcript.finish();
    let mut rendered = cell.text;
    for image in &cell.images {
        rendered.push_str(&format!("[image {} {}]\n", image.mime, image.data));
    }
    if let Some(error) = &cell.error {
        rendered.push_str(&format!("[error {}: {}]\n", error.ename, error.evalue));
    }
    rendered
}

fn bundle(value: serde_json::Value) -> MimeBundle {
    serde_json::from_value(value).expect("a bundle")
}

#[test]
fn streams_results_images_and_errors_become_text_in_order() {
    let outputs = [
        Output::Stdout("\u{1b}[31mred\u{1b}[0m text\n".to_owned()),
        Output::Stderr("warn\u{1b}]0;title\u{7}ing\n".to_owned()),
        Output::Display {
            bundle: bundle(json!({
                "text/plain": "<Figure>",
                "image/png": "iVBORw0KGgo=",
            })),
            metadata: serde_json::Map::new(),
        },
        Output::Result {
            bundle: bundle(json!({"text/html": "<b>bold</b> and <i>it</i>"})),
            metadata: serde_json::Map::new(),
        },
        Output::Error(PyError {
            ename: "ValueError".to_owned(),
            evalue: "bad".to_owned(),
            traceback: vec![
                "Traceback (most recent call last):".to_owned(),
                "\u{1b}[1mValueError\u{1b}[0m: bad".to_owned(),
            ],
        }),
    ];
    insta::assert_snapshot!(check(&outputs), @r"
    red text
    warning
    <Figure>
    **bold** and *it*
    Traceback (most recent call last):
    ValueError: bad
    [image image/png iVBORw0KGgo=]
    [error ValueError: bad]
    ");
}

#[test]
fn progress_lines_leave_their_last_state_and_the_reference_cases_hold() {
    let outputs = [
        Output::Stdout("\u{1b}[31mred\r\n".to_owned()),
        Output::Stdout("10%\r50".to_owned()),
        Output::Stdout("%\r100%\n".to_owned()),
        Output::Stderr("\u{1b}[1mwarn\u{1b}[0m: last line without newline".to_owned()),
    ];
    insta::assert_snapshot!(check(&outputs), @r#"
    red
    100%
    warn: last line without newline
    "#);
}

use pykernel::{
    CommKind, CommMessage, Interrupt, KernelError, MimeBundle, Outcome, Output, PyError, Status,
    Stop, TruncatedDisplay,
};

use crate::json::JsonEvent;

/// The exact line `--json` prints for `event`.
fn check(event: &JsonEvent) -> String {
    let mut line = Vec::new();
    event
        .write_line(&mut line)
        .expect("writing to a Vec cannot fail");
    String::from_utf8(line).expect("serde_json writes UTF-8")
}

fn output(output: Output) -> String {
    check(&JsonEvent::from_output(&output).expect("this output has a line"))
}

fn no_metadata() -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::new()
}

fn metadata(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn zero_division() -> PyError {
    PyError {
        ename: "ZeroDivisionError".into(),
        evalue: "division by zero".into(),
        traceback: vec![
            "Cell In[1], line 1\n    1/0\n".into(),
            "ZeroDivisionError: division by zero".into(),
        ],
    }
}

fn outcome() -> Outcome {
    Outcome {
        status: Status::Ok,
        execution_count: Some(1),
        error: None,
        stop: None,
        generation: 1,
        truncated: Vec::new(),
    }
}

#[test]
fn stream_lines() {
    insta::assert_snapshot!(output(Output::Stdout("hi\n".into())), @r#"{"type":"stdout","data":"hi\n"}"#);
    insta::assert_snapshot!(output(Output::Stderr("warn\n".into())), @r#"{"type":"stderr","data":"warn\n"}"#);
}

#[test]
fn bundle_lines_keep_the_bundle_as_is() {
    let bundle: MimeBundle = [
        ("text/plain", serde_json::json!("<Figure>")),
        ("image/png", serde_json::json!("iVBORw0KGgo=")),
        ("application/json", serde_json::json!({"a": [1, null]})),
    ]
    .into_iter()
    .collect();
    insta::assert_snapshot!(output(Output::Display { bundle, metadata: no_metadata() }), @r#"{"type":"display","bundle":{"application/json":{"a":[1,null]},"image/png":"iVBORw0KGgo=","text/plain":"<Figure>"}}"#);
    let result: MimeBundle = [("text/plain", "2")].into_iter().collect();
    insta::assert_snapshot!(output(Output::Result { bundle: result, metadata: no_metadata() }), @r#"{"type":"result","bundle":{"text/plain":"2"}}"#);
}

#[test]
fn display_metadata_follows_the_bundle_when_there_is_some() {
    let image: MimeBundle = [("image/png", "iVBORw0KGgo="), ("text/plain", "<Image>")]
        .into_iter()
        .collect();
    let width = |width: u64| metadata(serde_json::json!({"image/png": {"width": width}}));
    insta::assert_snapshot!(output(Output::Display { bundle: image.clone(), metadata: width(50) }), @r#"{"type":"display","bundle":{"image/png":"iVBORw0KGgo=","text/plain":"<Image>"},"metadata":{"image/png":{"width":50}}}"#);
    insta::assert_snapshot!(output(Output::Result { bundle: image.clone(), metadata: width(30) }), @r#"{"type":"result","bundle":{"image/png":"iVBORw0KGgo=","text/plain":"<Image>"},"metadata":{"image/png":{"width":30}}}"#);
    insta::assert_snapshot!(output(Output::DisplayWithId { display_id: "img".into(), bundle: image.clone(), metadata: width(50) }), @r#"{"type":"display","bundle":{"image/png":"iVBORw0KGgo=","text/plain":"<Image>"},"metadata":{"image/png":{"width":50}},"displayId":"img"}"#);
    insta::assert_snapshot!(output(Output::UpdateDisplay { display_id: "img".into(), bundle: image, metadata: width(80) }), @r#"{"type":"update_display","displayId":"img","bundle":{"image/png":"iVBORw0KGgo=","text/plain":"<Image>"},"metadata":{"image/png":{"width":80}}}"#);
}

#[test]
fn comm_messages_pass_through() {
    let comm = |kind, data: serde_json::Value| {
        Output::Comm(CommMessage {
            kind,
            comm_id: "c1".into(),
            data: data.as_object().cloned().unwrap_or_default(),
            metadata: serde_json::Map::new(),
            buffers: Vec::new(),
        })
    };
    let mut open = comm(
        CommKind::Open {
            target_name: "jupyter.widget".into(),
        },
        serde_json::json!({"state": {"value": 3}, "buffer_paths": []}),
    );
    if let Output::Comm(message) = &mut open {
        message.metadata.insert("version".into(), "2.1.0".into());
        message.buffers.push("AAE=".into());
    }
    insta::assert_snapshot!(output(open), @r#"{"type":"comm_open","commId":"c1","targetName":"jupyter.widget","data":{"buffer_paths":[],"state":{"value":3}},"metadata":{"version":"2.1.0"},"buffers":["AAE="]}"#);
    insta::assert_snapshot!(output(comm(CommKind::Msg, serde_json::json!({"method": "update", "state": {"msg_id": "r2"}}))), @r#"{"type":"comm_msg","commId":"c1","data":{"method":"update","state":{"msg_id":"r2"}}}"#);
    insta::assert_snapshot!(output(comm(CommKind::Close, serde_json::json!({}))), @r#"{"type":"comm_close","commId":"c1","data":{}}"#);
}

#[test]
fn display_ids_updates_and_clears_pass_through() {
    let bundle: MimeBundle = [("text/plain", "50%")].into_iter().collect();
    insta::assert_snapshot!(output(Output::DisplayWithId { display_id: "bar".into(), bundle: bundle.clone(), metadata: no_metadata() }), @r#"{"type":"display","bundle":{"text/plain":"50%"},"displayId":"bar"}"#);
    insta::assert_snapshot!(output(Output::UpdateDisplay { display_id: "bar".into(), bundle, metadata: no_metadata() }), @r#"{"type":"update_display","displayId":"bar","bundle":{"text/plain":"50%"}}"#);
    insta::assert_snapshot!(output(Output::ClearOutput { wait: true }), @r#"{"type":"clear_output","wait":true}"#);
}

#[test]
fn error_line() {
    insta::assert_snapshot!(output(Output::Error(zero_division())), @r#"{"type":"error","ename":"ZeroDivisionError","evalue":"division by zero","traceback":["Cell In[1], line 1\n    1/0\n","ZeroDivisionError: division by zero"]}"#);
}

#[test]
fn input_requests_have_no_line() {
    let request = Output::InputRequest {
        prompt: "name? ".into(),
        password: false,
    };
    assert_eq!(JsonEvent::from_output(&request), None);
}

#[test]
fn outcome_lines() {
    insta::assert_snapshot!(check(&JsonEvent::from_outcome(&outcome())), @r#"{"type":"outcome","status":"ok","executionCount":1,"cancelled":false,"timedOut":false,"kernelKilled":false,"stdinRequested":false,"error":null,"kernelError":null}"#);
    let failed = Outcome {
        status: Status::Error,
        error: Some(zero_division()),
        ..outcome()
    };
    insta::assert_snapshot!(check(&JsonEvent::from_outcome(&failed)), @r#"{"type":"outcome","status":"error","executionCount":1,"cancelled":false,"timedOut":false,"kernelKilled":false,"stdinRequested":false,"error":{"ename":"ZeroDivisionError","evalue":"division by zero","traceback":["Cell In[1], line 1\n    1/0\n","ZeroDivisionError: division by zero"]},"kernelError":null}"#);
    let timed_out = Outcome {
        status: Status::Error,
        execution_count: None,
        stop: Some(Stop::Interrupted(Interrupt::Timeout)),
        ..outcome()
    };
    insta::assert_snapshot!(check(&JsonEvent::from_outcome(&timed_out)), @r#"{"type":"outcome","status":"error","executionCount":null,"cancelled":true,"timedOut":true,"kernelKilled":false,"stdinRequested":false,"error":null,"kernelError":null}"#);
    let cut = Outcome {
        truncated: vec![TruncatedDisplay {
            kind: "result",
            display_id: None,
            cut: [("text/html".to_owned(), 73_400_320)].into(),
        }],
        ..outcome()
    };
    insta::assert_snapshot!(check(&JsonEvent::from_outcome(&cut)), @r#"{"type":"outcome","status":"ok","executionCount":1,"cancelled":false,"timedOut":false,"kernelKilled":false,"stdinRequested":false,"error":null,"kernelError":null,"truncated":[{"kind":"result","cut":{"text/html":73400320}}]}"#);
}

#[test]
fn kernel_error_outcomes() {
    let not_found = KernelError::PythonUnusable {
        path: "/nope/python".into(),
        reason: "no such file".into(),
    };
    insta::assert_snapshot!(check(&JsonEvent::from_kernel_error(&not_found, false)), @r#"{"type":"outcome","status":"error","executionCount":null,"cancelled":false,"timedOut":false,"kernelKilled":false,"stdinRequested":false,"error":null,"kernelError":"python interpreter /nope/python is not usable: no such file"}"#);
    insta::assert_snapshot!(check(&JsonEvent::from_kernel_error(&KernelError::NotRunning, true)), @r#"{"type":"outcome","status":"error","executionCount":null,"cancelled":false,"timedOut":false,"kernelKilled":true,"stdinRequested":false,"error":null,"kernelError":"kernel is not running"}"#);
}

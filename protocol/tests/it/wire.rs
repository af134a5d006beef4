//! The exact wire line of every frame variant.
//!
//! A diff here changes the protocol: the runner package (`runner-py/python/pykernel_runner`)
//! must change with it, and version 1 frames must stay byte-identical to the seed's.

use std::{collections::BTreeMap, io};

use pykernel_protocol::{
    BundleData, Call, CallId, CallReply, ClearOutput, Complete, Completions, Decoded, DisplayData,
    Done, ErrorData, Event, ExecId, Execute, Hello, InputReply, InputRequest, MimeBundle,
    NdjsonCodec, Request, RequestId, Status, StreamData, UpdateDisplay,
};
use serde_json::{Map, json};
use tokio_util::codec::{Decoder, Encoder};

use crate::{TestFrame, decode_all, encode};

/// Encodes `frame`, checks the framing (one line, one final `\n`) and that the line
/// decodes back to `frame`, and returns the line without its newline.
fn check_wire<T: TestFrame>(frame: T) -> String
where
    NdjsonCodec<T>: Encoder<T, Error = io::Error> + Decoder<Item = Decoded<T>, Error = io::Error>,
{
    let bytes = encode(&frame);
    let line = String::from_utf8(bytes.clone()).expect("serde_json writes utf-8");
    let Some(body) = line.strip_suffix('\n') else {
        panic!("encoded frame does not end with a newline: {line:?}");
    };
    assert!(
        !body.contains(['\n', '\r']),
        "line break inside the frame: {line:?}"
    );
    assert_eq!(decode_all::<T>(usize::MAX, &bytes), [Decoded::Frame(frame)]);
    body.to_owned()
}

fn id() -> ExecId {
    ExecId::new("py-1")
}

#[test]
fn execute_is_byte_identical_to_the_seed() {
    let line = check_wire(Request::Execute(Execute::new(ExecId::new("x"), "1+1")));
    insta::assert_snapshot!(line, @r#"{"id":"x","code":"1+1","silent":false,"storeHistory":true}"#);
}

#[test]
fn execute_with_every_field() {
    let env = BTreeMap::from([
        ("PI_SESSION".to_owned(), Some("s1".to_owned())),
        ("VIRTUAL_ENV".to_owned(), None),
    ]);
    let line = check_wire(Request::Execute(Execute {
        id: id(),
        code: "import os\nos.getcwd()".to_owned(),
        silent: true,
        store_history: Some(false),
        cwd: Some("/tmp/work".to_owned()),
        env: Some(env),
        allow_stdin: true,
    }));
    insta::assert_snapshot!(line, @r#"{"id":"py-1","code":"import os\nos.getcwd()","silent":true,"storeHistory":false,"cwd":"/tmp/work","env":{"PI_SESSION":"s1","VIRTUAL_ENV":null},"allowStdin":true}"#);
}

#[test]
fn execute_without_store_history_omits_it() {
    let mut execute = Execute::new(id(), "");
    execute.store_history = None;
    let line = check_wire(Request::Execute(execute));
    insta::assert_snapshot!(line, @r#"{"id":"py-1","code":"","silent":false}"#);
}

#[test]
fn exit() {
    insta::assert_snapshot!(check_wire(Request::Exit), @r#"{"type":"exit"}"#);
}

#[test]
fn interrupt() {
    insta::assert_snapshot!(check_wire(Request::Interrupt), @r#"{"type":"interrupt"}"#);
}

#[test]
fn kill() {
    insta::assert_snapshot!(check_wire(Request::Kill), @r#"{"type":"kill"}"#);
}

#[test]
fn ping() {
    insta::assert_snapshot!(check_wire(Request::Ping), @r#"{"type":"ping"}"#);
}

#[test]
fn input_reply() {
    let line = check_wire(Request::InputReply(InputReply::line(id(), "Ada")));
    insta::assert_snapshot!(line, @r#"{"type":"input_reply","id":"py-1","value":"Ada"}"#);
    let eof = check_wire(Request::InputReply(InputReply::eof(id())));
    insta::assert_snapshot!(eof, @r#"{"type":"input_reply","id":"py-1","value":"","eof":true}"#);
}

#[test]
fn call_reply_ok() {
    let line = check_wire(Request::CallReply(CallReply {
        call_id: CallId::new("c1"),
        result: Ok(json!({"rows": [1, 2.5, null]})),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"reply","callId":"c1","ok":true,"value":{"rows":[1,2.5,null]}}"#);
}

#[test]
fn call_reply_ok_null() {
    let line = check_wire(Request::CallReply(CallReply {
        call_id: CallId::new("c1"),
        result: Ok(serde_json::Value::Null),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"reply","callId":"c1","ok":true,"value":null}"#);
}

#[test]
fn call_reply_error() {
    let line = check_wire(Request::CallReply(CallReply {
        call_id: CallId::new("c2"),
        result: Err("no tool named `grep`".to_owned()),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"reply","callId":"c2","ok":false,"error":"no tool named `grep`"}"#);
}

#[test]
fn complete() {
    // The cursor counts code points: "é" is one, so the cursor after `x.é` is 3.
    let line = check_wire(Request::Complete(Complete {
        id: RequestId::new("c-1"),
        code: "x.é".to_owned(),
        cursor: 3,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"complete","id":"c-1","code":"x.é","cursor":3}"#);
}

#[test]
fn hello() {
    let line = check_wire(Event::Hello(Hello {
        protocol: 2,
        runner: "0.1.0".to_owned(),
        python: "3.11.7".to_owned(),
        pid: 4242,
        features: vec!["completion".to_owned()],
        hash: None,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"hello","protocol":2,"runner":"0.1.0","python":"3.11.7","pid":4242,"features":["completion"]}"#);
}

#[test]
fn hello_without_features_omits_them() {
    let line = check_wire(Event::Hello(Hello {
        protocol: 2,
        runner: "0.1.0".to_owned(),
        python: "3.13.0".to_owned(),
        pid: 1,
        features: Vec::new(),
        hash: None,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"hello","protocol":2,"runner":"0.1.0","python":"3.13.0","pid":1}"#);
}

#[test]
fn hello_from_a_bootstrapped_runner_names_its_hash() {
    let line = check_wire(Event::Hello(Hello {
        protocol: 2,
        runner: "0.1.0".to_owned(),
        python: "3.12.1".to_owned(),
        pid: 7,
        features: Vec::new(),
        hash: Some("ab12".to_owned()),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"hello","protocol":2,"runner":"0.1.0","python":"3.12.1","pid":7,"hash":"ab12"}"#);
}

#[test]
fn pong() {
    insta::assert_snapshot!(check_wire(Event::Pong), @r#"{"type":"pong"}"#);
}

#[test]
fn started() {
    let line = check_wire(Event::Started { id: id() });
    insta::assert_snapshot!(line, @r#"{"type":"started","id":"py-1"}"#);
}

#[test]
fn stdout() {
    let line = check_wire(Event::Stdout(StreamData {
        id: id(),
        data: "2\n".to_owned(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"stdout","id":"py-1","data":"2\n"}"#);
}

#[test]
fn stderr() {
    let line = check_wire(Event::Stderr(StreamData {
        id: id(),
        data: "warning: x\r\n".to_owned(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"stderr","id":"py-1","data":"warning: x\r\n"}"#);
}

#[test]
fn display() {
    let bundle = MimeBundle::from_iter([
        ("text/plain", json!("<Figure size 640x480 with 1 Axes>")),
        ("image/png", json!("iVBORw0KGgo=")),
    ]);
    let line = check_wire(Event::Display(DisplayData {
        id: id(),
        bundle,
        display_id: None,
        truncated: BTreeMap::new(),
        metadata: Default::default(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"display","id":"py-1","bundle":{"image/png":"iVBORw0KGgo=","text/plain":"<Figure size 640x480 with 1 Axes>"}}"#);
}

#[test]
fn display_status_event() {
    let bundle = MimeBundle::from_iter([(
        "application/x-omp-status",
        json!({"op": "phase", "title": "load"}),
    )]);
    let line = check_wire(Event::Display(DisplayData {
        id: id(),
        bundle,
        display_id: None,
        truncated: BTreeMap::new(),
        metadata: Default::default(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"display","id":"py-1","bundle":{"application/x-omp-status":{"op":"phase","title":"load"}}}"#);
}

#[test]
fn display_with_id() {
    let bundle = MimeBundle::from_iter([("text/plain", "0%")]);
    let line = check_wire(Event::Display(DisplayData {
        id: id(),
        bundle,
        display_id: Some("bar".to_owned()),
        truncated: BTreeMap::new(),
        metadata: Default::default(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"display","id":"py-1","bundle":{"text/plain":"0%"},"displayId":"bar"}"#);
}

#[test]
fn update_display() {
    let bundle = MimeBundle::from_iter([("text/plain", "50%")]);
    let line = check_wire(Event::UpdateDisplay(UpdateDisplay {
        id: id(),
        bundle,
        display_id: "bar".to_owned(),
        truncated: BTreeMap::new(),
        metadata: Default::default(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"update_display","id":"py-1","bundle":{"text/plain":"50%"},"displayId":"bar"}"#);
}

#[test]
fn clear_output() {
    let line = check_wire(Event::ClearOutput(ClearOutput {
        id: id(),
        wait: true,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"clear_output","id":"py-1","wait":true}"#);
}

#[test]
fn clear_output_without_wait_means_now() {
    let line = r#"{"type":"clear_output","id":"py-1"}"#;
    let frame: Event = serde_json::from_str(line).expect("a clear_output line decodes");
    insta::assert_debug_snapshot!(frame, @r#"
    ClearOutput(
        ClearOutput {
            id: ExecId(
                "py-1",
            ),
            wait: false,
        },
    )
    "#);
}

#[test]
fn update_display_without_display_id_is_rejected() {
    let line = r#"{"type":"update_display","id":"py-1","bundle":{}}"#;
    let err = serde_json::from_str::<Event>(line).expect_err("no displayId is malformed");
    insta::assert_snapshot!(err, @"`update_display` frame is missing `displayId`");
}

#[test]
fn result() {
    let bundle = MimeBundle::from_iter([("text/plain", "2")]);
    let line = check_wire(Event::Result(BundleData {
        id: id(),
        bundle,
        truncated: BTreeMap::new(),
        metadata: Default::default(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"result","id":"py-1","bundle":{"text/plain":"2"}}"#);
}

#[test]
fn a_cut_display_says_what_was_cut() {
    let bundle = MimeBundle::from_iter([("text/plain", "x\n[output truncated]")]);
    let line = check_wire(Event::Result(BundleData {
        id: id(),
        bundle,
        truncated: BTreeMap::from([("text/html".to_owned(), 73_400_320)]),
        metadata: Default::default(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"result","id":"py-1","bundle":{"text/plain":"x\n[output truncated]"},"truncated":{"text/html":73400320}}"#);
}

#[test]
fn error() {
    let line = check_wire(Event::Error(ErrorData {
        id: id(),
        ename: "ZeroDivisionError".to_owned(),
        evalue: "division by zero".to_owned(),
        traceback: vec![
            "Traceback (most recent call last):".to_owned(),
            "  File \"<cell>\", line 1, in <module>\n    1/0".to_owned(),
            "ZeroDivisionError: division by zero".to_owned(),
        ],
    }));
    insta::assert_snapshot!(line, @r#"{"type":"error","id":"py-1","ename":"ZeroDivisionError","evalue":"division by zero","traceback":["Traceback (most recent call last):","  File \"<cell>\", line 1, in <module>\n    1/0","ZeroDivisionError: division by zero"]}"#);
}

#[test]
fn done() {
    let line = check_wire(Event::Done(Done {
        id: id(),
        status: Status::Ok,
        execution_count: Some(3),
        cancelled: false,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"done","id":"py-1","status":"ok","executionCount":3,"cancelled":false}"#);
}

#[test]
fn done_cancelled_without_count() {
    let line = check_wire(Event::Done(Done {
        id: id(),
        status: Status::Error,
        execution_count: None,
        cancelled: true,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"done","id":"py-1","status":"error","cancelled":true}"#);
}

#[test]
fn input_request() {
    let line = check_wire(Event::InputRequest(InputRequest {
        id: id(),
        prompt: "password: ".to_owned(),
        password: true,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"input_request","id":"py-1","prompt":"password: ","password":true}"#);
}

#[test]
fn call() {
    let line = check_wire(Event::Call(Call {
        id: id(),
        call_id: CallId::new("c1"),
        name: "read".to_owned(),
        args: json!({"path": "a.txt", "limit": 10}),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"call","id":"py-1","callId":"c1","name":"read","args":{"limit":10,"path":"a.txt"}}"#);
}

#[test]
fn call_without_args_sends_null() {
    let line = check_wire(Event::Call(Call {
        id: id(),
        call_id: CallId::new("c2"),
        name: "now".to_owned(),
        args: serde_json::Value::Null,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"call","id":"py-1","callId":"c2","name":"now","args":null}"#);
}

#[test]
fn completions() {
    let line = check_wire(Event::Completions(Completions {
        id: RequestId::new("c-1"),
        matches: vec!["import".to_owned(), "in".to_owned()],
        cursor_start: 0,
        cursor_end: 2,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"completions","id":"c-1","matches":["import","in"],"cursorStart":0,"cursorEnd":2}"#);
}

#[test]
fn completions_empty() {
    let line = check_wire(Event::Completions(Completions {
        id: RequestId::new("c-2"),
        matches: Vec::new(),
        cursor_start: 5,
        cursor_end: 5,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"completions","id":"c-2","matches":[],"cursorStart":5,"cursorEnd":5}"#);
}

#[test]
fn awkward_text_is_escaped_onto_one_line() {
    // Control characters are escaped; DEL, U+2028 and other non-ASCII text are written
    // raw as UTF-8, which Python's `json.loads` and JavaScript both accept. The snapshot
    // shows every raw non-ASCII or DEL character as `<U+XXXX>`.
    let data = "a\nb\r\nc\t\"q\" \\ \0\u{8}\u{c}\u{1b}\u{7f} \u{2028}\u{2029} é 🐍\u{feff}";
    let line = check_wire(Event::Stdout(StreamData {
        id: ExecId::new(""),
        data: data.to_owned(),
    }));
    let shown: String = line
        .chars()
        .map(|c| match c {
            ' '..='~' => c.to_string(),
            _ => format!("<U+{:04X}>", u32::from(c)),
        })
        .collect();
    insta::assert_snapshot!(shown, @r#"{"type":"stdout","id":"","data":"a\nb\r\nc\t\"q\" \\ \u0000\b\f\u001b<U+007F> <U+2028><U+2029> <U+00E9> <U+1F40D><U+FEFF>"}"#);
}

#[test]
fn display_with_metadata() {
    // Jupyter's metadata travels beside the bundle, as `Image(width=100)` gives it.
    let bundle = MimeBundle::from_iter([("image/png", "iVBORw0KGgo="), ("text/plain", "<Image>")]);
    let metadata = Map::from_iter([("image/png".to_owned(), json!({"width": 100}))]);
    let line = check_wire(Event::Display(DisplayData {
        id: id(),
        bundle,
        display_id: None,
        truncated: BTreeMap::new(),
        metadata,
    }));
    insta::assert_snapshot!(line, @r#"{"type":"display","id":"py-1","bundle":{"image/png":"iVBORw0KGgo=","text/plain":"<Image>"},"metadata":{"image/png":{"width":100}}}"#);
}

//! Lines exactly as the seed's runner and host write them decode into typed frames.
//!
//! The seed's runner writes `json.dumps(frame, ensure_ascii=False)` plus `\n`: Python's
//! default separators put a space after `:` and `,`, and non-ASCII text is raw UTF-8.
//! Its host writes `JSON.stringify(request)` plus `\n`: compact.

use pykernel_protocol::{Event, Request};

use crate::{decode_all, render};

fn check_events(input: &str) -> String {
    render(&decode_all::<Event>(usize::MAX, input.as_bytes()))
}

fn check_requests(input: &str) -> String {
    render(&decode_all::<Request>(usize::MAX, input.as_bytes()))
}

#[test]
fn a_whole_execution_from_the_seed_runner() {
    let input = concat!(
        r#"{"type": "started", "id": "r1"}"#,
        "\n",
        r#"{"type": "stdout", "id": "r1", "data": "hello\n"}"#,
        "\n",
        r#"{"type": "stderr", "id": "r1", "data": "careful\n"}"#,
        "\n",
        r#"{"type": "display", "id": "r1", "bundle": {"text/plain": "<Figure size 640x480 with 1 Axes>", "image/png": "iVBORw0KGgo="}}"#,
        "\n",
        r#"{"type": "display", "id": "r1", "bundle": {"application/x-omp-status": {"op": "phase", "title": "load"}}}"#,
        "\n",
        r#"{"type": "result", "id": "r1", "bundle": {"text/plain": "2"}}"#,
        "\n",
        r#"{"type": "done", "id": "r1", "status": "ok", "executionCount": 3, "cancelled": false}"#,
        "\n",
    );
    insta::assert_snapshot!(check_events(input), @r#"
    frame Started { id: ExecId("r1") }
    frame Stdout(StreamData { id: ExecId("r1"), data: "hello\n" })
    frame Stderr(StreamData { id: ExecId("r1"), data: "careful\n" })
    frame Display(DisplayData { id: ExecId("r1"), bundle: MimeBundle({"image/png": String("iVBORw0KGgo="), "text/plain": String("<Figure size 640x480 with 1 Axes>")}), display_id: None, truncated: {}, metadata: {} })
    frame Display(DisplayData { id: ExecId("r1"), bundle: MimeBundle({"application/x-omp-status": Object {"op": String("phase"), "title": String("load")}}), display_id: None, truncated: {}, metadata: {} })
    frame Result(BundleData { id: ExecId("r1"), bundle: MimeBundle({"text/plain": String("2")}), truncated: {}, metadata: {} })
    frame Done(Done { id: ExecId("r1"), status: Ok, execution_count: Some(3), cancelled: false })
    "#);
}

#[test]
fn a_failed_execution_from_the_seed_runner() {
    let input = concat!(
        r#"{"type": "error", "id": "r2", "ename": "ValueError", "evalue": "bad", "traceback": ["Traceback (most recent call last):\n", "  File \"<cell>\", line 1, in <module>\n    raise ValueError('bad')\n", "ValueError: bad\n"]}"#,
        "\n",
        r#"{"type": "done", "id": "r2", "status": "error", "executionCount": 4, "cancelled": false}"#,
        "\n",
        r#"{"type": "error", "id": "r3", "ename": "KeyboardInterrupt", "evalue": "", "traceback": []}"#,
        "\n",
        r#"{"type": "done", "id": "r3", "status": "error", "executionCount": 5, "cancelled": true}"#,
        "\n",
    );
    insta::assert_snapshot!(check_events(input), @r#"
    frame Error(ErrorData { id: ExecId("r2"), ename: "ValueError", evalue: "bad", traceback: ["Traceback (most recent call last):\n", "  File \"<cell>\", line 1, in <module>\n    raise ValueError('bad')\n", "ValueError: bad\n"] })
    frame Done(Done { id: ExecId("r2"), status: Error, execution_count: Some(4), cancelled: false })
    frame Error(ErrorData { id: ExecId("r3"), ename: "KeyboardInterrupt", evalue: "", traceback: [] })
    frame Done(Done { id: ExecId("r3"), status: Error, execution_count: Some(5), cancelled: true })
    "#);
}

#[test]
fn the_protocol_error_frame_has_an_empty_id() {
    let input = r#"{"type": "error", "id": "", "ename": "ProtocolError", "evalue": "Invalid JSON request: Expecting value: line 1 column 1 (char 0)", "traceback": []}"#;
    insta::assert_snapshot!(check_events(input), @r#"frame Error(ErrorData { id: ExecId(""), ename: "ProtocolError", evalue: "Invalid JSON request: Expecting value: line 1 column 1 (char 0)", traceback: [] })"#);
}

#[test]
fn raw_utf8_text_from_ensure_ascii_false() {
    let input =
        "{\"type\": \"stdout\", \"id\": \"r1\", \"data\": \"h\u{e9}llo \u{1f40d} \u{4e2d}\\n\"}\n";
    insta::assert_snapshot!(check_events(input), @r#"frame Stdout(StreamData { id: ExecId("r1"), data: "héllo 🐍 中\n" })"#);
}

#[test]
fn lone_surrogate_escapes_become_replacement_characters() {
    // A `surrogateescape`d file name printed by Python reaches the pipe as `\udcff`
    // (the runner's `backslashreplace`); serde_json alone rejects that line.
    // A proper pair and an escaped backslash stay as they are.
    let input = concat!(
        r#"{"type": "stdout", "id": "r1", "data": "caf\udce9.txt\n"}"#,
        "\n",
        r#"{"type": "stdout", "id": "r1", "data": "\ud83d\ude00 \ud83d x \ude00\ud83d \\udcff"}"#,
        "\n",
        r#"{"type": "stdout", "id": "r1", "data": "\ud800"}"#,
        "\n",
    );
    insta::assert_snapshot!(check_events(input), @r#"
    frame Stdout(StreamData { id: ExecId("r1"), data: "caf�.txt\n" })
    frame Stdout(StreamData { id: ExecId("r1"), data: "😀 � x �� \\udcff" })
    frame Stdout(StreamData { id: ExecId("r1"), data: "�" })
    "#);
}

#[test]
fn requests_from_the_seed_host() {
    let input = concat!(
        r#"{"id":"x","code":"1+1","silent":false,"storeHistory":true}"#,
        "\n",
        r#"{"id":"py-1","code":"print(1)","silent":true,"storeHistory":false,"cwd":"/w","env":{"PI_SESSION":"s","VIRTUAL_ENV":null}}"#,
        "\n",
        r#"{"type":"exit"}"#,
        "\n",
    );
    insta::assert_snapshot!(check_requests(input), @r#"
    frame Execute(Execute { id: ExecId("x"), code: "1+1", silent: false, store_history: Some(true), cwd: None, env: None, allow_stdin: false })
    frame Execute(Execute { id: ExecId("py-1"), code: "print(1)", silent: true, store_history: Some(false), cwd: Some("/w"), env: Some({"PI_SESSION": Some("s"), "VIRTUAL_ENV": None}), allow_stdin: false })
    frame Exit
    "#);
}

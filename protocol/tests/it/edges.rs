//! Codec edge cases: line endings, limits, malformed lines, lenient decoding.

use std::collections::BTreeMap;

use bytes::BytesMut;
use pykernel_protocol::{
    DEFAULT_MAX_LINE_LENGTH, Decoded, Event, ExecId, Malformed, MalformedKind, NdjsonCodec,
    Request, StreamData,
};
use tokio_util::codec::{Decoder, Encoder};

use crate::{decode_stream, encode, render};

/// Decodes `chunks` as one runner -> host stream with a line limit of `max_length`.
fn check<C: AsRef<[u8]>>(max_length: usize, chunks: &[C]) -> String {
    render(&decode_stream(
        &mut NdjsonCodec::<Event>::new_with_max_length(max_length),
        chunks,
    ))
}

/// Decodes `input` as one host -> runner stream with the default limit.
fn check_requests(input: &str) -> String {
    render(&decode_stream(&mut NdjsonCodec::<Request>::new(), [input]))
}

/// A stdout frame line, without newline, of exactly `len` bytes (at least 35).
fn stdout_line(len: usize) -> Vec<u8> {
    let empty = encode(&Event::Stdout(StreamData {
        id: ExecId::new("a"),
        data: String::new(),
    }));
    let data = "x".repeat(len + 1 - empty.len());
    let mut line = encode(&Event::Stdout(StreamData {
        id: ExecId::new("a"),
        data,
    }));
    line.pop();
    assert_eq!(line.len(), len);
    line
}

fn lines_of(input: &[u8]) -> Vec<&[u8]> {
    input.split_inclusive(|&b| b == b'\n').collect()
}

#[test]
fn crlf_line_endings() {
    let input = b"{\"type\":\"started\",\"id\":\"a\"}\r\n{\"type\":\"stdout\",\"id\":\"a\",\"data\":\"x\"}\r\n";
    insta::assert_snapshot!(check(100, &[input]), @r#"
    frame Started { id: ExecId("a") }
    frame Stdout(StreamData { id: ExecId("a"), data: "x" })
    "#);
    // The same, one byte per read.
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(check(100, &bytes), check(100, &[input]));
}

#[test]
fn final_line_without_newline_is_decoded_at_eof() {
    let mut codec = NdjsonCodec::<Event>::new();
    let mut buf = BytesMut::from(
        &b"{\"type\":\"started\",\"id\":\"a\"}\n{\"type\":\"started\",\"id\":\"b\"}"[..],
    );
    let first = codec.decode(&mut buf).unwrap();
    assert_eq!(
        first,
        Some(Decoded::Frame(Event::Started {
            id: ExecId::new("a")
        }))
    );
    // Without a newline the last line may still grow: `decode` waits for more.
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    let last = codec.decode_eof(&mut buf).unwrap();
    assert_eq!(
        last,
        Some(Decoded::Frame(Event::Started {
            id: ExecId::new("b")
        }))
    );
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn final_line_with_only_cr_at_eof() {
    insta::assert_snapshot!(check(100, &[b"{\"type\":\"started\",\"id\":\"a\"}\r"]), @r#"frame Started { id: ExecId("a") }"#);
}

#[test]
fn blank_and_whitespace_lines_yield_nothing() {
    let input = b"\n\n \t \r\n\r\n\x0c\n{\"type\":\"started\",\"id\":\"a\"}\n \n  ";
    insta::assert_snapshot!(check(100, &[input]), @r#"frame Started { id: ExecId("a") }"#);
    insta::assert_snapshot!(check(100, &[&b""[..], b"\n", b"", b"   "]), @"");
}

#[test]
fn whitespace_around_the_object_is_accepted() {
    insta::assert_snapshot!(check(100, &[b"  {\"type\":\"started\",\"id\":\"a\"}\t \r\n"]), @r#"frame Started { id: ExecId("a") }"#);
}

#[test]
fn line_at_max_length_is_kept_and_one_byte_over_is_not() {
    let line = stdout_line(200);
    let mut input = line.clone();
    input.push(b'\n');
    let frame = check(200, &[&input]);
    assert!(frame.starts_with("frame Stdout"), "{frame}");
    insta::assert_snapshot!(check(199, &[&input]), @r#"malformed (too long) len=200 preview="{\"type\":\"stdout\",\"id\":\"a\",\"data\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx""#);

    // The verdict does not depend on how the reads split the line.
    for max_length in [199, 200] {
        let whole = check(max_length, &[&input]);
        for cut in 0..=input.len() {
            let (head, tail) = input.split_at(cut);
            assert_eq!(
                check(max_length, &[head, tail]),
                whole,
                "max {max_length} cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            check(max_length, &bytes),
            whole,
            "max {max_length} byte by byte"
        );
    }
}

#[test]
fn crlf_line_at_max_length_is_kept_however_it_is_split() {
    // The `\r` of `\r\n` is not part of the line, even when it arrives in an earlier read
    // than the `\n` and the buffered part is one byte over the limit.
    let mut input = stdout_line(200);
    input.extend_from_slice(b"\r\n");
    let whole = check(200, &[&input]);
    assert!(whole.starts_with("frame Stdout"), "{whole}");
    for cut in 0..=input.len() {
        let (head, tail) = input.split_at(cut);
        assert_eq!(check(200, &[head, tail]), whole, "cut at {cut}");
    }
    insta::assert_snapshot!(check(199, &[&input[..201], &input[201..]]), @r#"malformed (too long) len=200 preview="{\"type\":\"stdout\",\"id\":\"a\",\"data\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx""#);
}

#[test]
fn over_long_line_split_across_many_reads_is_discarded_while_streaming() {
    let max_length = 1024;
    let chunk_len = 100;
    let long = stdout_line(100 * 1024);
    let mut input = long.clone();
    input.extend_from_slice(b"\r\n{\"type\":\"started\",\"id\":\"next\"}\n");

    let mut codec = NdjsonCodec::<Event>::new_with_max_length(max_length);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in input.chunks(chunk_len) {
        buf.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            items.push(item);
        }
        // Memory stays bounded by the limit, a pending `\r` and one read.
        assert!(
            buf.len() <= max_length + 1 + chunk_len,
            "buffer holds {} bytes",
            buf.len()
        );
    }
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    insta::assert_snapshot!(render(&items), @r#"
    malformed (too long) len=102400 preview="{\"type\":\"stdout\",\"id\":\"a\",\"data\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    frame Started { id: ExecId("next") }
    "#);

    // Same verdict and length when the `\r` and the `\n` come in different reads, and
    // when the line arrives in one read.
    let at_cr = long.len() + 1;
    let split_crlf = [&input[..1500], &input[1500..at_cr], &input[at_cr..]];
    assert_eq!(check(max_length, &split_crlf), render(&items));
    assert_eq!(check(max_length, &[&input]), render(&items));
}

#[test]
fn over_long_final_line_at_eof() {
    let long = stdout_line(5000);
    let chunks: Vec<&[u8]> = long.chunks(64).collect();
    let streamed = check(1000, &chunks);
    insta::assert_snapshot!(streamed, @r#"malformed (too long) len=5000 preview="{\"type\":\"stdout\",\"id\":\"a\",\"data\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx""#);
    assert_eq!(check(1000, &[&long]), streamed);
    // A final `\r` is not counted, as for any last line.
    let mut with_cr = long.clone();
    with_cr.push(b'\r');
    let chunks: Vec<&[u8]> = with_cr.chunks(64).collect();
    assert_eq!(check(1000, &chunks), streamed);
    assert_eq!(check(1000, &[&with_cr]), streamed);
}

#[test]
fn invalid_utf8_is_one_malformed_line() {
    let input = b"{\"type\":\"stdout\",\"id\":\"a\",\"data\":\"\xff\xfe\"}\n\xc3\n{\"type\":\"started\",\"id\":\"a\"}\n";
    insta::assert_snapshot!(check(100, &[input]), @r#"
    malformed (invalid utf-8) len=38 preview="{\"type\":\"stdout\",\"id\":\"a\",\"data\":\"��\"}"
    malformed (invalid utf-8) len=1 preview="�"
    frame Started { id: ExecId("a") }
    "#);
}

#[test]
fn json_that_is_not_an_object() {
    let input = b"[1,2]\n3\n\"started\"\nnull\ntrue\n";
    insta::assert_snapshot!(check(100, &[input]), @r#"
    malformed (invalid frame: invalid type: sequence, expected a frame object at line 1 column 0) len=5 preview="[1,2]"
    malformed (invalid frame: invalid type: integer `3`, expected a frame object at line 1 column 1) len=1 preview="3"
    malformed (invalid frame: invalid type: string "started", expected a frame object at line 1 column 9) len=9 preview="\"started\""
    malformed (invalid frame: invalid type: null, expected a frame object at line 1 column 4) len=4 preview="null"
    malformed (invalid frame: invalid type: boolean `true`, expected a frame object at line 1 column 4) len=4 preview="true"
    "#);
    // Serde's derived structs also read an array of their fields in order; frames are
    // objects only.
    let event_fields = format!("[\"started\",\"a\"{}]\n", ",null".repeat(18));
    insta::assert_snapshot!(check(200, &[event_fields.as_bytes()]), @r#"malformed (invalid frame: invalid type: sequence, expected a frame object at line 1 column 0) len=105 preview="[\"started\",\"a\",null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null]""#);
    let request_fields = "[null,\"x\",\"1+1\",false,null,null,null,false,null,null,null,null]\n";
    insta::assert_snapshot!(check_requests(request_fields), @r#"malformed (invalid frame: invalid type: sequence, expected a request object at line 1 column 0) len=63 preview="[null,\"x\",\"1+1\",false,null,null,null,false,null,null,null,null]""#);
    insta::assert_snapshot!(check_requests("[1,2]\n3\n"), @r#"
    malformed (invalid frame: invalid type: sequence, expected a request object at line 1 column 0) len=5 preview="[1,2]"
    malformed (invalid frame: invalid type: integer `3`, expected a request object at line 1 column 1) len=1 preview="3"
    "#);
}

#[test]
fn bad_json() {
    let input = b"{\"type\":\"started\",\"id\":\n{\"type\":\"started\",\"id\":\"a\"} trailing\nnot json\n{'type':'started'}\n";
    insta::assert_snapshot!(check(100, &[input]), @r#"
    malformed (invalid json: EOF while parsing a value at line 1 column 23) len=23 preview="{\"type\":\"started\",\"id\":"
    malformed (invalid json: trailing characters at line 1 column 29) len=36 preview="{\"type\":\"started\",\"id\":\"a\"} trailing"
    malformed (invalid json: expected ident at line 1 column 2) len=8 preview="not json"
    malformed (invalid json: key must be a string at line 1 column 2) len=18 preview="{'type':'started'}"
    "#);
}

#[test]
fn unknown_types() {
    let input =
        b"{\"type\":\"shadow_snapshot\",\"id\":\"a\"}\n{\"id\":\"a\"}\n{\"type\":7,\"id\":\"a\"}\n";
    insta::assert_snapshot!(check(100, &[input]), @r#"
    malformed (invalid frame: unknown frame type `shadow_snapshot`) len=35 preview="{\"type\":\"shadow_snapshot\",\"id\":\"a\"}"
    malformed (invalid frame: missing field `type` at line 1 column 10) len=10 preview="{\"id\":\"a\"}"
    malformed (invalid frame: invalid type: integer `7`, expected a string at line 1 column 9) len=19 preview="{\"type\":7,\"id\":\"a\"}"
    "#);
    insta::assert_snapshot!(check_requests("{\"type\":\"shutdown\"}\n"), @r#"malformed (invalid frame: unknown request type `shutdown`) len=19 preview="{\"type\":\"shutdown\"}""#);
}

#[test]
fn missing_required_fields() {
    let input = concat!(
        "{\"type\":\"started\"}\n",
        "{\"type\":\"stdout\",\"data\":\"x\"}\n",
        "{\"type\":\"stdout\",\"id\":\"a\"}\n",
        "{\"type\":\"display\",\"id\":\"a\"}\n",
        "{\"type\":\"done\",\"id\":\"a\"}\n",
        "{\"type\":\"hello\",\"runner\":\"0.1\"}\n",
        "{\"type\":\"call\",\"id\":\"a\",\"name\":\"read\"}\n",
        "{\"type\":\"started\",\"id\":null}\n",
    );
    insta::assert_snapshot!(check(100, &[input.as_bytes()]), @r#"
    malformed (invalid frame: `started` frame is missing `id`) len=18 preview="{\"type\":\"started\"}"
    malformed (invalid frame: `stdout` frame is missing `id`) len=28 preview="{\"type\":\"stdout\",\"data\":\"x\"}"
    malformed (invalid frame: `stdout` frame is missing `data`) len=26 preview="{\"type\":\"stdout\",\"id\":\"a\"}"
    malformed (invalid frame: `display` frame is missing `bundle`) len=27 preview="{\"type\":\"display\",\"id\":\"a\"}"
    malformed (invalid frame: `done` frame is missing `status`) len=24 preview="{\"type\":\"done\",\"id\":\"a\"}"
    malformed (invalid frame: `hello` frame is missing `protocol`) len=31 preview="{\"type\":\"hello\",\"runner\":\"0.1\"}"
    malformed (invalid frame: `call` frame is missing `callId`) len=38 preview="{\"type\":\"call\",\"id\":\"a\",\"name\":\"read\"}"
    malformed (invalid frame: `started` frame is missing `id`) len=28 preview="{\"type\":\"started\",\"id\":null}"
    "#);
    let requests = concat!(
        "{\"code\":\"1+1\"}\n",
        "{\"type\":\"input_reply\",\"id\":\"a\"}\n",
        "{\"type\":\"input_reply\",\"id\":\"a\",\"value\":3}\n",
        "{\"type\":\"reply\",\"ok\":true,\"value\":1}\n",
        "{\"type\":\"reply\",\"callId\":\"c1\"}\n",
    );
    insta::assert_snapshot!(check_requests(requests), @r#"
    malformed (invalid frame: `execute` frame is missing `id`) len=14 preview="{\"code\":\"1+1\"}"
    malformed (invalid frame: `input_reply` frame is missing `value`) len=31 preview="{\"type\":\"input_reply\",\"id\":\"a\"}"
    malformed (invalid frame: `input_reply` value must be a string) len=41 preview="{\"type\":\"input_reply\",\"id\":\"a\",\"value\":3}"
    malformed (invalid frame: `reply` frame is missing `callId`) len=36 preview="{\"type\":\"reply\",\"ok\":true,\"value\":1}"
    malformed (invalid frame: `reply` frame is missing `ok`) len=30 preview="{\"type\":\"reply\",\"callId\":\"c1\"}"
    "#);
}

#[test]
fn completion_frames_missing_fields() {
    let events = concat!(
        "{\"type\":\"completions\",\"id\":\"c-1\",\"cursorStart\":0,\"cursorEnd\":0}\n",
        "{\"type\":\"completions\",\"matches\":[],\"cursorStart\":0,\"cursorEnd\":0}\n",
    );
    insta::assert_snapshot!(check(100, &[events.as_bytes()]), @r#"
    malformed (invalid frame: `completions` frame is missing `matches`) len=63 preview="{\"type\":\"completions\",\"id\":\"c-1\",\"cursorStart\":0,\"cursorEnd\":0}"
    malformed (invalid frame: `completions` frame is missing `id`) len=65 preview="{\"type\":\"completions\",\"matches\":[],\"cursorStart\":0,\"cursorEnd\":0}"
    "#);
    let requests = concat!(
        "{\"type\":\"complete\",\"id\":\"c-1\",\"code\":\"x\"}\n",
        "{\"type\":\"complete\",\"id\":\"c-1\",\"code\":\"x\",\"cursor\":-1}\n",
    );
    insta::assert_snapshot!(check_requests(requests), @r#"
    malformed (invalid frame: `complete` frame is missing `cursor`) len=41 preview="{\"type\":\"complete\",\"id\":\"c-1\",\"code\":\"x\"}"
    malformed (invalid frame: invalid value: integer `-1`, expected u64 at line 1 column 52) len=53 preview="{\"type\":\"complete\",\"id\":\"c-1\",\"code\":\"x\",\"cursor\":-1}"
    "#);
}

#[test]
fn wrong_field_types() {
    let input = concat!(
        "{\"type\":\"done\",\"id\":\"a\",\"status\":\"maybe\"}\n",
        "{\"type\":\"done\",\"id\":\"a\",\"status\":\"ok\",\"executionCount\":-1}\n",
        "{\"type\":\"started\",\"id\":5}\n",
        "{\"type\":\"started\",\"id\":\"a\",\"id\":\"b\"}\n",
    );
    insta::assert_snapshot!(check(100, &[input.as_bytes()]), @r#"
    malformed (invalid frame: unknown variant `maybe`, expected `ok` or `error` at line 1 column 40) len=41 preview="{\"type\":\"done\",\"id\":\"a\",\"status\":\"maybe\"}"
    malformed (invalid frame: invalid value: integer `-1`, expected u64 at line 1 column 57) len=58 preview="{\"type\":\"done\",\"id\":\"a\",\"status\":\"ok\",\"executionCount\":-1}"
    malformed (invalid frame: invalid type: integer `5`, expected a string at line 1 column 24) len=25 preview="{\"type\":\"started\",\"id\":5}"
    malformed (invalid frame: duplicate field `id` at line 1 column 31) len=36 preview="{\"type\":\"started\",\"id\":\"a\",\"id\":\"b\"}"
    "#);
}

#[test]
fn unknown_fields_are_ignored_and_optional_ones_defaulted() {
    let input = concat!(
        "{\"type\":\"started\",\"id\":\"a\",\"ts\":1.5,\"extra\":{\"x\":[1]}}\n",
        "{\"type\":\"done\",\"id\":\"a\",\"status\":\"ok\"}\n",
        "{\"type\":\"error\",\"id\":\"a\"}\n",
        "{\"type\":\"hello\",\"protocol\":2}\n",
        "{\"type\":\"input_request\",\"id\":\"a\"}\n",
    );
    insta::assert_snapshot!(check(100, &[input.as_bytes()]), @r#"
    frame Started { id: ExecId("a") }
    frame Done(Done { id: ExecId("a"), status: Ok, execution_count: None, cancelled: false })
    frame Error(ErrorData { id: ExecId("a"), ename: "", evalue: "", traceback: [] })
    frame Hello(Hello { protocol: 2, runner: "", python: "", pid: 0, features: [], hash: None })
    frame InputRequest(InputRequest { id: ExecId("a"), prompt: "", password: false })
    "#);
    let requests = concat!(
        "{\"id\":\"x\",\"code\":\"1\",\"future\":true}\n",
        "{\"type\":\"execute\",\"id\":\"y\"}\n",
        "{\"type\":\"exit\",\"id\":\"ignored\"}\n",
        "{\"type\":\"reply\",\"callId\":\"c1\",\"ok\":false}\n",
        "{\"type\":\"reply\",\"callId\":\"c2\",\"ok\":true}\n",
    );
    insta::assert_snapshot!(check_requests(requests), @r#"
    frame Execute(Execute { id: ExecId("x"), code: "1", silent: false, store_history: None, cwd: None, env: None, allow_stdin: false })
    frame Execute(Execute { id: ExecId("y"), code: "", silent: false, store_history: None, cwd: None, env: None, allow_stdin: false })
    frame Exit
    frame CallReply(CallReply { call_id: CallId("c1"), result: Err("") })
    frame CallReply(CallReply { call_id: CallId("c2"), result: Ok(Null) })
    "#);
}

#[test]
fn malformed_lines_display_for_logs() {
    let malformed = Malformed {
        kind: MalformedKind::InvalidJson("EOF while parsing".to_owned()),
        preview: "{\"type\"".to_owned(),
        len: 7,
    };
    insta::assert_snapshot!(malformed.to_string(), @r#"line is not json: EOF while parsing (starts "{\"type\"")"#);
    let too_long = Malformed {
        kind: MalformedKind::TooLong,
        preview: "x".to_owned(),
        len: 70,
    };
    insta::assert_snapshot!(too_long.to_string(), @r#"line of 70 bytes exceeds the limit (starts "x")"#);
}

#[test]
fn failed_encode_leaves_the_buffer_untouched() {
    let mut codec = NdjsonCodec::<Event>::new();
    let mut dst = BytesMut::new();
    codec
        .encode(
            Event::Started {
                id: ExecId::new("a"),
            },
            &mut dst,
        )
        .unwrap();
    let before = dst.clone();
    // JSON object keys must be strings, so this map cannot be written.
    let unwritable = BTreeMap::from([([1u8, 2], "value")]);
    let err = codec.encode(unwritable, &mut dst).unwrap_err();
    insta::assert_snapshot!(err, @"key must be a string");
    assert_eq!(dst, before);
    codec.encode(Request::Exit, &mut dst).unwrap();
    assert_eq!(
        lines_of(&dst),
        [
            &b"{\"type\":\"started\",\"id\":\"a\"}\n"[..],
            b"{\"type\":\"exit\"}\n"
        ]
    );
}

#[test]
fn default_limit() {
    assert_eq!(
        NdjsonCodec::<Event>::new().max_length(),
        DEFAULT_MAX_LINE_LENGTH
    );
    assert_eq!(
        NdjsonCodec::<Event>::default().max_length(),
        64 * 1024 * 1024
    );
}

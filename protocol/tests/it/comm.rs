//! The wire lines of the comm frames (`comm_open`, `comm_msg`, `comm_close` and the
//! host's `comm_msg`), and the malformed ones the codec rejects.

use std::io;

use pykernel_protocol::{
    CommMsg, CommOpen, Decoded, Event, ExecId, HostCommMsg, NdjsonCodec, Request,
};
use serde_json::{Map, Value, json};
use tokio_util::codec::{Decoder, Encoder};

use crate::{TestFrame, decode_all, encode};

/// Encodes `frame`, checks that its one line decodes back to it, and returns the line.
fn check<T: TestFrame>(frame: T) -> String
where
    NdjsonCodec<T>: Encoder<T, Error = io::Error> + Decoder<Item = Decoded<T>, Error = io::Error>,
{
    let bytes = encode(&frame);
    assert_eq!(decode_all::<T>(usize::MAX, &bytes), [Decoded::Frame(frame)]);
    String::from_utf8(bytes)
        .expect("serde_json writes utf-8")
        .trim_end()
        .to_owned()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[test]
fn comm_open_of_a_widget() {
    let line = check(Event::CommOpen(CommOpen {
        id: ExecId::new("py-1"),
        comm_id: "c1".to_owned(),
        target_name: "jupyter.widget".to_owned(),
        data: object(json!({"state": {"value": 3}, "buffer_paths": []})),
        metadata: object(json!({"version": "2.1.0"})),
        buffers: Vec::new(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"comm_open","id":"py-1","commId":"c1","targetName":"jupyter.widget","data":{"buffer_paths":[],"state":{"value":3}},"metadata":{"version":"2.1.0"}}"#);
}

#[test]
fn comm_msg_and_close_with_buffers() {
    let message = CommMsg {
        id: ExecId::new("py-2"),
        comm_id: "c1".to_owned(),
        data: object(json!({"method": "update", "state": {"msg_id": "py-2"}})),
        metadata: Map::new(),
        buffers: vec!["AAEC".to_owned()],
    };
    let sent = check(Event::CommMsg(message.clone()));
    let closed = check(Event::CommClose(CommMsg {
        data: Map::new(),
        buffers: Vec::new(),
        ..message
    }));
    insta::assert_snapshot!(format!("{sent}\n{closed}"), @r#"
    {"type":"comm_msg","id":"py-2","commId":"c1","data":{"method":"update","state":{"msg_id":"py-2"}},"buffers":["AAEC"]}
    {"type":"comm_close","id":"py-2","commId":"c1","data":{}}
    "#);
}

#[test]
fn host_comm_msg() {
    let line = check(Request::CommMsg(HostCommMsg {
        comm_id: "c1".to_owned(),
        data: object(json!({"method": "update", "state": {"value": 7}, "buffer_paths": []})),
        metadata: Map::new(),
        buffers: Vec::new(),
    }));
    insta::assert_snapshot!(line, @r#"{"type":"comm_msg","commId":"c1","data":{"buffer_paths":[],"method":"update","state":{"value":7}}}"#);
}

#[test]
fn a_comm_frame_without_data_has_an_empty_body() {
    let frame: Event =
        serde_json::from_str(r#"{"type":"comm_close","id":"a","commId":"c","data":null}"#)
            .expect("a comm_close with null data decodes");
    assert_eq!(
        frame,
        Event::CommClose(CommMsg {
            id: ExecId::new("a"),
            comm_id: "c".to_owned(),
            data: Map::new(),
            metadata: Map::new(),
            buffers: Vec::new(),
        })
    );
}

#[test]
fn malformed_comm_frames_are_rejected() {
    let errors: Vec<String> = [
        r#"{"type":"comm_open","id":"a","commId":"c","data":{}}"#,
        r#"{"type":"comm_msg","id":"a","data":{}}"#,
        r#"{"type":"comm_msg","id":"a","commId":"c","data":[1]}"#,
        r#"{"type":"stdout","id":"a","data":{}}"#,
    ]
    .iter()
    .map(|line| match serde_json::from_str::<Event>(line) {
        Ok(frame) => format!("decoded {frame:?}"),
        Err(err) => err.to_string(),
    })
    .collect();
    let host = serde_json::from_str::<Request>(r#"{"type":"comm_msg","data":{}}"#)
        .map_or_else(|err| err.to_string(), |frame| format!("decoded {frame:?}"));
    insta::assert_snapshot!(format!("{}\n{host}", errors.join("\n")), @"
    `comm_open` frame is missing `targetName`
    `comm_msg` frame is missing `commId`
    `comm_msg` frame `data` must be an object
    `stdout` frame `data` must be a string
    `comm_msg` frame is missing `commId`
    ");
}

//! Stream frames whose text follows their header line as a raw payload.

use proptest::{collection::vec, prelude::*, sample::Index};
use pykernel_protocol::{
    Decoded, Event, ExecId, NdjsonCodec, Request, StreamData,
    strategies::{arb_exec_id, arb_text},
};

use crate::{decode_stream, encode, render, split_at_cuts};

/// Decodes `chunks` as one runner -> host stream with a line limit of `max_length`.
fn check<C: AsRef<[u8]>>(max_length: usize, chunks: &[C]) -> String {
    render(&decode_stream(
        &mut NdjsonCodec::<Event>::new_with_max_length(max_length),
        chunks,
    ))
}

/// The payload form of a stream frame, as the runner writes it.
fn payload_frame(stream: &str, id: &ExecId, text: &str) -> Vec<u8> {
    let id = serde_json::to_string(id).unwrap_or_default();
    let mut bytes = format!(
        "{{\"type\":\"{stream}\",\"id\":{id},\"bytes\":{}}}\n",
        text.len()
    )
    .into_bytes();
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    bytes
}

const DONE: &[u8] = b"{\"type\":\"done\",\"id\":\"a\",\"status\":\"ok\"}\n";

#[test]
fn a_payload_is_the_frame_text_whatever_it_holds() {
    let text = "line 1\n{\"type\":\"done\",\"id\":\"a\",\"status\":\"ok\"}\r\n\"q\" \\ \t\u{1b}[31m \u{0}é ☃ 😀\n";
    let id = ExecId::new("a");
    let mut input = payload_frame("stdout", &id, text);
    input.extend(payload_frame("stderr", &id, ""));
    input.extend_from_slice(DONE);
    let whole = check(1000, &[&input]);
    assert_eq!(
        whole,
        format!(
            "frame Stdout(StreamData {{ id: ExecId(\"a\"), data: {text:?} }})\n\
             frame Stderr(StreamData {{ id: ExecId(\"a\"), data: \"\" }})\n\
             frame Done(Done {{ id: ExecId(\"a\"), status: Ok, execution_count: None, cancelled: false }})"
        )
    );
    // The same, one byte per read.
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(check(1000, &bytes), whole);
}

#[test]
fn a_wrong_length_is_reported_and_the_stream_recovers() {
    let mut input = b"{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":3}\nhello\n".to_vec();
    input.extend_from_slice(DONE);
    insta::assert_snapshot!(check(1000, &[&input]), @r#"
    malformed (invalid frame: no newline after the 3-byte payload) len=36 preview="{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":3}"
    malformed (invalid json: expected value at line 1 column 1) len=5 preview="hello"
    frame Done(Done { id: ExecId("a"), status: Ok, execution_count: None, cancelled: false })
    "#);
}

#[test]
fn bad_payloads_are_malformed_and_skipped() {
    // Not UTF-8; longer than the limit; on a frame that has no text; cut by the end.
    let mut input = b"{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":2}\n\xff\xfe\n".to_vec();
    input.extend_from_slice(b"{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":2000}\nx\n");
    input.extend_from_slice(b"{\"type\":\"started\",\"id\":\"a\",\"bytes\":1}\nx\n");
    input.extend_from_slice(DONE);
    input.extend_from_slice(b"{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":10}\nabc");
    insta::assert_snapshot!(check(1000, &[&input]), @r#"
    malformed (invalid utf-8) len=36 preview="{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":2}"
    malformed (invalid frame: a payload of 2000 bytes exceeds the limit of 1000) len=39 preview="{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":2000}"
    malformed (invalid json: expected value at line 1 column 1) len=1 preview="x"
    malformed (invalid frame: this frame cannot carry a payload) len=37 preview="{\"type\":\"started\",\"id\":\"a\",\"bytes\":1}"
    frame Done(Done { id: ExecId("a"), status: Ok, execution_count: None, cancelled: false })
    malformed (invalid frame: the stream ended 3 bytes into a 10-byte payload) len=37 preview="{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":10}"
    "#);
    // A header as the very last line.
    insta::assert_snapshot!(check(1000, &[b"{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":1}"]), @r#"malformed (invalid frame: the stream ended 0 bytes into a 1-byte payload) len=36 preview="{\"type\":\"stdout\",\"id\":\"a\",\"bytes\":1}""#);
}

#[test]
fn only_a_last_bytes_member_makes_a_header() {
    // `bytes` elsewhere, inside a nested object, or inside a string is an ordinary member.
    let input = b"{\"type\":\"stdout\",\"bytes\":3,\"id\":\"a\",\"data\":\"x\"}\n\
        {\"type\":\"display\",\"id\":\"a\",\"bundle\":{\"k\":\"v\",\"bytes\":3}}\n\
        {\"type\":\"stdout\",\"id\":\"a\",\"data\":\",\\\"bytes\\\":3}\"}\n";
    insta::assert_snapshot!(check(1000, &[input]), @r#"
    frame Stdout(StreamData { id: ExecId("a"), data: "x" })
    frame Display(DisplayData { id: ExecId("a"), bundle: MimeBundle({"bytes": Number(3), "k": String("v")}), display_id: None, truncated: {}, metadata: {} })
    frame Stdout(StreamData { id: ExecId("a"), data: ",\"bytes\":3}" })
    "#);
}

#[test]
fn requests_never_carry_a_payload() {
    let input = b"{\"id\":\"a\",\"code\":\"x\",\"bytes\":1}\nx\n{\"type\":\"exit\"}\n";
    let items = decode_stream(&mut NdjsonCodec::<Request>::new(), [input]);
    // The header is malformed (and its payload too, when it is not waited for); the
    // stream goes on with the next request.
    let (last, rest) = items.split_last().expect("items decoded");
    assert!(
        !rest.is_empty()
            && rest
                .iter()
                .all(|item| matches!(item, Decoded::Malformed(_))),
        "{items:?}"
    );
    assert_eq!(*last, Decoded::Frame(Request::Exit));
}

proptest! {
    /// Payload frames and JSON lines mixed, cut anywhere, decode to the frames sent.
    #[test]
    fn payload_frames_survive_any_split(
        texts in vec((arb_exec_id(), arb_text(), any::<bool>(), any::<bool>()), 1..8),
        cuts in vec(any::<Index>(), 0..12),
    ) {
        let mut input = Vec::new();
        let mut sent = Vec::new();
        for (id, text, stderr, as_payload) in texts {
            let frame = StreamData { id, data: text };
            let event = if stderr { Event::Stderr(frame.clone()) } else { Event::Stdout(frame.clone()) };
            if as_payload {
                let stream = if stderr { "stderr" } else { "stdout" };
                input.extend(payload_frame(stream, &frame.id, &frame.data));
            } else {
                input.extend(encode(&event));
            }
            sent.push(Decoded::Frame(event));
        }
        let chunks = split_at_cuts(&input, &cuts);
        let decoded = decode_stream(&mut NdjsonCodec::<Event>::new(), chunks);
        prop_assert_eq!(decoded, sent);
    }
}

//! Property tests: round trips, split invariance and recovery from garbage lines.

use std::io;

use proptest::{
    collection::vec,
    prelude::*,
    sample::{Index, select},
    test_runner::TestCaseError,
};
use pykernel_protocol::{
    Decoded, Event, MalformedKind, NdjsonCodec, Request, StreamData,
    strategies::{arb_event, arb_exec_id, arb_json, arb_request, arb_text},
};
use tokio_util::codec::Decoder;

use crate::{TestFrame, decode_all, decode_stream, encode, split_at_cuts};

/// Encodes `frame`, checks it is one line ending in its only newline, and decodes it.
fn check_round_trip<T: TestFrame>(frame: &T) -> Result<(), TestCaseError>
where
    NdjsonCodec<T>: Decoder<Item = Decoded<T>, Error = io::Error>
        + tokio_util::codec::Encoder<T, Error = io::Error>,
{
    let bytes = encode(frame);
    prop_assert_eq!(bytes.last(), Some(&b'\n'));
    let n_newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    prop_assert_eq!(
        n_newlines,
        1,
        "newline inside {:?}",
        String::from_utf8_lossy(&bytes)
    );
    prop_assert!(!bytes.contains(&b'\r'), "carriage return inside the line");
    let decoded = decode_all::<T>(usize::MAX, &bytes);
    prop_assert_eq!(decoded, vec![Decoded::Frame(frame.clone())]);
    Ok(())
}

/// What one line must decode to.
#[derive(Clone, Debug)]
enum Expect {
    Frame(Event),
    /// A malformed line of this length (without `\r\n`) and one of these kinds.
    Malformed {
        len: usize,
        kinds: &'static [&'static str],
    },
    Nothing,
}

fn kind_name(kind: &MalformedKind) -> &'static str {
    match kind {
        MalformedKind::TooLong => "too long",
        MalformedKind::InvalidUtf8 => "utf-8",
        MalformedKind::InvalidJson(_) => "json",
        MalformedKind::InvalidFrame(_) => "frame",
    }
}

/// One line of a stream, with what it must decode to under `max_length`.
#[derive(Clone, Debug)]
struct Line {
    bytes: Vec<u8>,
    expect: Expect,
}

impl Line {
    fn malformed(bytes: Vec<u8>, max_length: usize, kinds: &'static [&'static str]) -> Self {
        let len = bytes.len();
        let kinds = if len > max_length {
            &["too long"][..]
        } else {
            kinds
        };
        Self {
            bytes,
            expect: Expect::Malformed { len, kinds },
        }
    }

    fn frame(event: Event, max_length: usize) -> Self {
        let mut bytes = encode(&event);
        bytes.pop();
        if bytes.len() > max_length {
            return Self::malformed(bytes, max_length, &[]);
        }
        Self {
            bytes,
            expect: Expect::Frame(event),
        }
    }
}

/// A line of the garbage stream: a valid frame, a blank line or one kind of garbage.
fn arb_line(max_length: usize) -> impl Strategy<Value = Line> {
    let random_bytes = vec(any::<u8>(), 1..200).prop_map(move |mut bytes| {
        for byte in &mut bytes {
            if *byte == b'\n' {
                *byte = b'n';
            }
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            bytes.push(b'#');
        }
        // A `\r` before the newline is part of the line ending, not of the line.
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
            bytes.push(b'#');
        }
        Line::malformed(bytes, max_length, &["utf-8", "json", "frame"])
    });
    let invalid_utf8 = (arb_event(), any::<Index>()).prop_map(move |(event, at)| {
        let mut bytes = encode(&event);
        bytes.pop();
        let at = at.index(bytes.len() + 1);
        bytes.insert(at, 0xff);
        Line::malformed(bytes, max_length, &["utf-8"])
    });
    let truncated = (arb_event(), any::<Index>()).prop_map(move |(event, at)| {
        let mut bytes = encode(&event);
        bytes.truncate(1 + at.index(bytes.len() - 2));
        let kinds: &[&str] = if std::str::from_utf8(&bytes).is_ok() {
            &["json"]
        } else {
            &["utf-8"]
        };
        Line::malformed(bytes, max_length, kinds)
    });
    let unknown_type = ("[a-z_]{1,14}", arb_exec_id())
        .prop_filter("a known type", |(kind, _)| {
            ![
                "hello",
                "started",
                "stdout",
                "stderr",
                "display",
                "result",
                "error",
                "done",
                "input_request",
                "call",
            ]
            .contains(&kind.as_str())
        })
        .prop_map(move |(kind, id)| {
            let bytes = serde_json::to_vec(&serde_json::json!({"type": kind, "id": id})).unwrap();
            Line::malformed(bytes, max_length, &["frame"])
        });
    let missing_field = (
        select(&["started", "stdout", "display", "done", "call"][..]),
        arb_text(),
    )
        .prop_map(move |(kind, data)| {
            let bytes =
                serde_json::to_vec(&serde_json::json!({"type": kind, "data": data})).unwrap();
            Line::malformed(bytes, max_length, &["frame"])
        });
    let not_an_object = arb_json()
        .prop_filter("an object", |value| !value.is_object())
        .prop_map(move |value| {
            Line::malformed(serde_json::to_vec(&value).unwrap(), max_length, &["frame"])
        });
    let too_long = (arb_exec_id(), 1..3 * max_length).prop_map(move |(id, extra)| {
        Line::frame(
            Event::Stdout(StreamData {
                id,
                data: "z".repeat(max_length + extra),
            }),
            max_length,
        )
    });
    let blank = select(&["", " ", "\t", "\r", " \t \r", "\u{c}"][..]).prop_map(|blank| Line {
        bytes: blank.as_bytes().to_vec(),
        expect: Expect::Nothing,
    });
    prop_oneof![
        6 => arb_event().prop_map(move |event| Line::frame(event, max_length)),
        2 => random_bytes,
        1 => invalid_utf8,
        1 => truncated,
        1 => unknown_type,
        1 => missing_field,
        1 => not_an_object,
        1 => too_long,
        1 => blank,
    ]
}

/// A line limit, then lines under it, line endings and a flag for a final newline.
fn arb_stream() -> impl Strategy<Value = (usize, Vec<(Line, bool)>, bool)> {
    (256usize..1024).prop_flat_map(|max_length| {
        (
            Just(max_length),
            vec((arb_line(max_length), any::<bool>()), 0..24),
            any::<bool>(),
        )
    })
}

/// Checks decoded items against the expected lines, in order.
/// Decodes `bytes` in one read and checks it against `lines`, then checks that reads cut
/// at `cuts` decode to the same items.
fn check_whole_and_split(
    max_length: usize,
    bytes: &[u8],
    lines: &[(Line, bool)],
    cuts: &[Index],
) -> Result<(), TestCaseError> {
    let whole = decode_all::<Event>(max_length, bytes);
    check_against(&whole, lines)?;
    let mut codec = NdjsonCodec::new_with_max_length(max_length);
    let split = decode_stream(&mut codec, split_at_cuts(bytes, cuts));
    prop_assert_eq!(split, whole);
    Ok(())
}

fn check_against(items: &[Decoded<Event>], lines: &[(Line, bool)]) -> Result<(), TestCaseError> {
    let expected: Vec<&Expect> = lines
        .iter()
        .map(|(line, _)| &line.expect)
        .filter(|expect| !matches!(expect, Expect::Nothing))
        .collect();
    prop_assert_eq!(items.len(), expected.len(), "items {:?}", items);
    for (item, expect) in items.iter().zip(expected) {
        match (item, expect) {
            (Decoded::Frame(frame), Expect::Frame(event)) => prop_assert_eq!(frame, event),
            (Decoded::Malformed(malformed), Expect::Malformed { len, kinds }) => {
                prop_assert_eq!(malformed.len, *len, "{}", malformed);
                prop_assert!(
                    kinds.contains(&kind_name(&malformed.kind)),
                    "{} is not {:?}",
                    malformed,
                    kinds
                );
            }
            (item, expect) => prop_assert!(false, "got {:?}, expected {:?}", item, expect),
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn requests_round_trip(request in arb_request()) {
        check_round_trip(&request)?;
    }

    #[test]
    fn events_round_trip(event in arb_event()) {
        check_round_trip(&event)?;
    }

    /// However the reads split a stream of frames, the decoder yields the same items as
    /// from one read, and those are the frames (or `TooLong` for the over-long ones).
    #[test]
    fn splitting_the_stream_changes_nothing(
        max_length in 120usize..2048,
        events in vec((arb_event(), any::<bool>()), 0..16),
        final_newline in any::<bool>(),
        cuts in vec(any::<Index>(), 0..24),
    ) {
        let mut bytes = Vec::new();
        let mut lines = Vec::new();
        for (event, crlf) in events {
            let line = Line::frame(event, max_length);
            bytes.extend_from_slice(&line.bytes);
            bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            lines.push((line, crlf));
        }
        if !final_newline {
            while bytes.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                bytes.pop();
            }
        }
        check_whole_and_split(max_length, &bytes, &lines, &cuts)?;
    }

    /// Garbage lines between frames cost exactly one `Malformed` each, blank lines cost
    /// nothing, and no frame is lost, however the reads split the stream.
    #[test]
    fn garbage_lines_lose_no_frame(
        (max_length, lines, final_newline) in arb_stream(),
        cuts in vec(any::<Index>(), 0..32),
    ) {
        let mut bytes = Vec::new();
        for (line, crlf) in &lines {
            bytes.extend_from_slice(&line.bytes);
            bytes.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
        if !final_newline && lines.last().is_some_and(|(line, _)| !line.bytes.ends_with(b"\r")) {
            while bytes.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                bytes.pop();
            }
        }
        check_whole_and_split(max_length, &bytes, &lines, &cuts)?;
    }

    /// Requests, which have no `type` for execute, survive garbage as well.
    #[test]
    fn request_streams_split_anywhere(
        requests in vec(arb_request(), 0..12),
        cuts in vec(any::<Index>(), 0..24),
    ) {
        let mut bytes = b"\n{\"type\":\"no such request\"}\n".to_vec();
        for request in &requests {
            bytes.extend(encode(request));
            bytes.extend_from_slice(b"\xff\xfe\n\n");
        }
        let mut codec = NdjsonCodec::<Request>::new();
        let items = decode_stream(&mut codec, split_at_cuts(&bytes, &cuts));
        let frames: Vec<_> = items
            .iter()
            .filter_map(|item| match item {
                Decoded::Frame(frame) => Some(frame.clone()),
                Decoded::Malformed(_) => None,
            })
            .collect();
        prop_assert_eq!(frames, requests.clone());
        prop_assert_eq!(items.len(), 1 + 2 * requests.len());
    }
}

//! The codec under tokio-util's `FramedRead`/`FramedWrite`, driven without a runtime.
//!
//! `futures` runs the streams (`block_on`, `StreamExt`, `SinkExt`) and tokio-util's
//! `StreamReader` turns a list of chunks into an `AsyncRead` that returns them one read
//! at a time, as a pipe would.

use std::io;

use bytes::Bytes;
use futures::{SinkExt, StreamExt, executor::block_on, stream};
use pykernel_protocol::{
    Decoded, Done, Event, ExecId, Execute, MalformedKind, NdjsonCodec, Request, Status, StreamData,
};
use tokio_util::{
    codec::{FramedRead, FramedWrite},
    io::StreamReader,
};

use crate::encode;

fn transcript() -> Vec<Event> {
    let id = ExecId::new("py-1");
    vec![
        Event::Started { id: id.clone() },
        Event::Stdout(StreamData {
            id: id.clone(),
            data: "é".repeat(3000),
        }),
        Event::Done(Done {
            id,
            status: Status::Ok,
            execution_count: Some(1),
            cancelled: false,
        }),
    ]
}

#[test]
fn framed_read_over_a_byte_slice() {
    let mut input = Vec::new();
    for event in transcript() {
        input.extend(encode(&event));
        input.extend_from_slice(b"garbage\n\n");
    }
    input.pop(); // The stream ends without its last newline.
    let items: Vec<_> = block_on(
        FramedRead::new(&input[..], NdjsonCodec::<Event>::new_with_max_length(8192)).collect(),
    );
    let mut frames = Vec::new();
    let mut n_malformed = 0;
    for item in items {
        match item.unwrap() {
            Decoded::Frame(frame) => frames.push(frame),
            Decoded::Malformed(malformed) => {
                assert!(
                    matches!(malformed.kind, MalformedKind::InvalidJson(_)),
                    "{malformed}"
                );
                n_malformed += 1;
            }
        }
    }
    assert_eq!(frames, transcript());
    assert_eq!(n_malformed, 3);
}

#[test]
fn framed_read_over_small_reads() {
    let mut input = Vec::new();
    for event in transcript() {
        input.extend(encode(&event));
    }
    let over_long = format!(
        "{{\"type\":\"stdout\",\"id\":\"a\",\"data\":\"{}\"}}\n",
        "y".repeat(9000)
    );
    input.extend_from_slice(over_long.as_bytes());
    input.extend(encode(&Event::Started {
        id: ExecId::new("after"),
    }));
    for read_len in [1, 7, 100, 4096] {
        let reads = input
            .chunks(read_len)
            .map(|chunk| Ok::<_, io::Error>(Bytes::copy_from_slice(chunk)));
        let reader = StreamReader::new(stream::iter(reads.collect::<Vec<_>>()));
        let items: Vec<_> = block_on(
            FramedRead::new(reader, NdjsonCodec::<Event>::new_with_max_length(8192)).collect(),
        );
        let items: Vec<_> = items.into_iter().map(Result::unwrap).collect();
        let mut expected: Vec<_> = transcript().into_iter().map(Decoded::Frame).collect();
        let Some(Decoded::Malformed(malformed)) = items.get(3) else {
            panic!("read length {read_len}: no malformed line in {items:?}");
        };
        assert_eq!(
            (&malformed.kind, malformed.len),
            (&MalformedKind::TooLong, over_long.len() - 1)
        );
        expected.push(Decoded::Malformed(malformed.clone()));
        expected.push(Decoded::Frame(Event::Started {
            id: ExecId::new("after"),
        }));
        assert_eq!(items, expected, "read length {read_len}");
    }
}

#[test]
fn framed_write_then_read_round_trips_requests() {
    let requests = vec![
        Request::Execute(Execute::new(ExecId::new("x"), "print('a\\nb')\n")),
        Request::Interrupt,
        Request::Exit,
    ];
    let mut written = Vec::new();
    {
        let mut sink = FramedWrite::new(&mut written, NdjsonCodec::<Request>::new());
        block_on(async {
            for request in &requests {
                sink.send(request.clone()).await.unwrap();
            }
        });
    }
    assert_eq!(
        written.iter().filter(|&&b| b == b'\n').count(),
        requests.len()
    );
    let decoded: Vec<_> =
        block_on(FramedRead::new(&written[..], NdjsonCodec::<Request>::new()).collect());
    let decoded: Vec<_> = decoded.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        decoded,
        requests.into_iter().map(Decoded::Frame).collect::<Vec<_>>()
    );
}

//! Codec micro-benchmarks: decode and encode throughput of typical frames.
//!
//! Run with `cargo bench -p pykernel-protocol`. Throughput is reported in bytes of
//! NDJSON per second, so decode and encode numbers compare directly.

use bytes::BytesMut;
use divan::{Bencher, black_box, counter::BytesCount};
use pykernel_protocol::{
    Decoded, Done, Event, ExecId, Execute, NdjsonCodec, Request, Status, StreamData,
};
use tokio_util::codec::{Decoder, Encoder};

fn main() {
    divan::main();
}

/// How many frames one benchmark iteration handles.
const N_FRAMES: usize = 1000;

/// Stdout frames carrying 1 KiB of text each, as a chatty cell prints them.
fn stdout_frames() -> Vec<Event> {
    let line = "0123456789abcdef".repeat(4) + "\n";
    (0..N_FRAMES)
        .map(|n| {
            Event::Stdout(StreamData {
                id: ExecId::new(format!("py-{n:08x}")),
                data: line.repeat(16),
            })
        })
        .collect()
}

/// The small frames every execution produces: `started` and `done`.
fn small_frames() -> Vec<Event> {
    (0..N_FRAMES)
        .flat_map(|n| {
            let id = ExecId::new(format!("py-{n:08x}"));
            [
                Event::Started { id: id.clone() },
                Event::Done(Done {
                    id,
                    status: Status::Ok,
                    execution_count: Some(n as u64),
                    cancelled: false,
                }),
            ]
        })
        .collect()
}

fn encode_all<T>(frames: &[T]) -> BytesMut
where
    T: Clone,
    NdjsonCodec<Event>: Encoder<T, Error = std::io::Error>,
{
    let mut codec = NdjsonCodec::<Event>::new();
    let mut dst = BytesMut::new();
    for frame in frames {
        // These frames always serialize: every map key is a string.
        codec.encode(frame.clone(), &mut dst).unwrap();
    }
    dst
}

/// Decodes the whole buffer, as after one large read; returns the number of frames.
fn decode_all(bytes: &mut BytesMut) -> usize {
    let mut codec = NdjsonCodec::<Event>::new();
    let mut n_frames = 0;
    // The codec returns `Err` only for I/O, and there is none here.
    while let Some(item) = codec.decode_eof(bytes).unwrap() {
        n_frames += usize::from(matches!(item, Decoded::Frame(_)));
    }
    n_frames
}

#[divan::bench]
fn decode_stdout_1k(bencher: Bencher<'_, '_>) {
    let input = encode_all(&stdout_frames());
    bencher
        .counter(BytesCount::new(input.len()))
        .with_inputs(|| input.clone())
        .bench_local_refs(|bytes| assert_eq!(decode_all(bytes), N_FRAMES));
}

#[divan::bench]
fn decode_small(bencher: Bencher<'_, '_>) {
    let input = encode_all(&small_frames());
    bencher
        .counter(BytesCount::new(input.len()))
        .with_inputs(|| input.clone())
        .bench_local_refs(|bytes| assert_eq!(decode_all(bytes), 2 * N_FRAMES));
}

/// 1 KiB stdout frames arriving in 4 KiB reads, as from a pipe: lines straddle reads.
#[divan::bench]
fn decode_stdout_1k_in_pipe_reads(bencher: Bencher<'_, '_>) {
    let input = encode_all(&stdout_frames());
    bencher
        .counter(BytesCount::new(input.len()))
        .bench_local(|| {
            let mut codec = NdjsonCodec::<Event>::new();
            let mut buf = BytesMut::with_capacity(8192);
            let mut n_frames = 0;
            for chunk in input.chunks(4096) {
                buf.extend_from_slice(chunk);
                while let Some(item) = codec.decode(&mut buf).unwrap() {
                    n_frames += usize::from(matches!(item, Decoded::Frame(_)));
                }
            }
            assert_eq!(n_frames, N_FRAMES);
        });
}

#[divan::bench]
fn encode_stdout_1k(bencher: Bencher<'_, '_>) {
    let frames = stdout_frames();
    let len = encode_all(&frames).len();
    bencher
        .counter(BytesCount::new(len))
        .bench_local(|| black_box(encode_all(&frames)));
}

#[divan::bench]
fn encode_small(bencher: Bencher<'_, '_>) {
    let frames = small_frames();
    let len = encode_all(&frames).len();
    bencher
        .counter(BytesCount::new(len))
        .bench_local(|| black_box(encode_all(&frames)));
}

#[divan::bench]
fn encode_execute(bencher: Bencher<'_, '_>) {
    let requests: Vec<_> = (0..N_FRAMES)
        .map(|n| {
            Request::Execute(Execute::new(
                ExecId::new(format!("py-{n:08x}")),
                "print(1 + 1)",
            ))
        })
        .collect();
    let len = encode_all(&requests).len();
    bencher
        .counter(BytesCount::new(len))
        .bench_local(|| black_box(encode_all(&requests)));
}

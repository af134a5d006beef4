//! Integration tests of the protocol crate: wire snapshots, the seed's frames, codec
//! edge cases, property tests and the bounded-memory test.

mod comm;
mod display_payload;
mod edges;
mod framed;
mod memory;
mod payload;
mod props;
mod seed;
mod wire;

use std::{fmt::Debug, io};

use bytes::BytesMut;
use proptest::sample::Index;
use pykernel_protocol::{
    Decoded, Event, MalformedKind, NdjsonCodec, Request, testing::decode_stream,
};
use tokio_util::codec::{Decoder, Encoder};

/// The two frame types, `Request` and `Event`, for helpers generic over the direction.
trait TestFrame: Clone + Debug + PartialEq + Sized {}
impl TestFrame for Request {}
impl TestFrame for Event {}

/// Encodes one frame into its wire bytes, newline included.
fn encode<T: TestFrame>(frame: &T) -> Vec<u8>
where
    NdjsonCodec<T>: Encoder<T, Error = io::Error>,
{
    let mut dst = BytesMut::new();
    NdjsonCodec::<T>::new()
        .encode(frame.clone(), &mut dst)
        .unwrap(); // Frames of this crate always serialize: every map key is a string.
    dst.to_vec()
}

/// Decodes a whole byte stream in one read with the given line limit.
fn decode_all<T>(max_length: usize, bytes: &[u8]) -> Vec<Decoded<T>>
where
    NdjsonCodec<T>: Decoder<Item = Decoded<T>, Error = io::Error>,
{
    decode_stream(&mut NdjsonCodec::new_with_max_length(max_length), [bytes])
}

/// Renders decoded items one per line, for snapshots.
fn render<T: Debug>(items: &[Decoded<T>]) -> String {
    items
        .iter()
        .map(|item| match item {
            Decoded::Frame(frame) => format!("frame {frame:?}"),
            Decoded::Malformed(malformed) => {
                let kind = match &malformed.kind {
                    MalformedKind::TooLong => "too long".to_owned(),
                    MalformedKind::InvalidUtf8 => "invalid utf-8".to_owned(),
                    MalformedKind::InvalidJson(message) => format!("invalid json: {message}"),
                    MalformedKind::InvalidFrame(message) => format!("invalid frame: {message}"),
                };
                format!(
                    "malformed ({kind}) len={} preview={:?}",
                    malformed.len, malformed.preview
                )
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Cuts `bytes` at the given points (taken modulo its length) into consecutive chunks.
pub(crate) fn split_at_cuts<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for point in points.into_iter().chain([bytes.len()]) {
        chunks.push(&bytes[start..point]);
        start = point;
    }
    chunks
}

//! Helpers for tests and fuzz targets of code that decodes frames (feature `testing`).

use std::io;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::{Decoded, NdjsonCodec};

/// Decodes `chunks` as one stream with `codec`, feeding them one by one, then ends it.
///
/// # Panics
/// If the codec returns `Err` (reserved for I/O, of which there is none here) or leaves
/// bytes behind at the end of the stream: both break the codec's contract.
pub fn decode_stream<T, C>(codec: &mut NdjsonCodec<T>, chunks: C) -> Vec<Decoded<T>>
where
    C: IntoIterator,
    C::Item: AsRef<[u8]>,
    NdjsonCodec<T>: Decoder<Item = Decoded<T>, Error = io::Error>,
{
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk.as_ref());
        while let Some(item) = codec.decode(&mut buf).expect("decode never fails") {
            items.push(item);
        }
    }
    while let Some(item) = codec.decode_eof(&mut buf).expect("decode_eof never fails") {
        items.push(item);
    }
    assert!(buf.is_empty(), "decode_eof left {} bytes", buf.len());
    items
}

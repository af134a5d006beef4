//! Checks shared by the fuzz targets of the protocol codec.

use std::{fmt::Debug, io};

use bytes::BytesMut;
pub use pykernel_protocol::testing::decode_stream;
use pykernel_protocol::{Decoded, MalformedKind, NdjsonCodec};
use tokio_util::codec::{Decoder, Encoder};

/// Checks every decoded item against the input and the codec's limit: a frame encodes to
/// one line that decodes to an equal frame; a malformed line is no longer than the input
/// and is `TooLong` exactly when it is over the limit.
pub fn check_items<T>(items: &[Decoded<T>], input_len: usize, max_length: usize)
where
    T: Clone + Debug + PartialEq,
    NdjsonCodec<T>: Decoder<Item = Decoded<T>, Error = io::Error> + Encoder<T, Error = io::Error>,
{
    for item in items {
        match item {
            Decoded::Frame(frame) => check_reencode(frame),
            Decoded::Malformed(malformed) => {
                assert!(
                    malformed.len <= input_len,
                    "{malformed} from {input_len} bytes"
                );
                let too_long = malformed.kind == MalformedKind::TooLong;
                assert_eq!(
                    too_long,
                    malformed.len > max_length,
                    "{malformed}, limit {max_length}"
                );
            }
        }
    }
}

/// Encodes `frame` and checks it is one line that decodes to `frame` again.
pub fn check_reencode<T>(frame: &T)
where
    T: Clone + Debug + PartialEq,
    NdjsonCodec<T>: Decoder<Item = Decoded<T>, Error = io::Error> + Encoder<T, Error = io::Error>,
{
    let mut codec = NdjsonCodec::<T>::new();
    let mut line = BytesMut::new();
    codec
        .encode(frame.clone(), &mut line)
        .expect("a decoded frame encodes");
    assert_eq!(
        line.iter().position(|&b| b == b'\n'),
        Some(line.len() - 1),
        "{line:?}"
    );
    let again = decode_stream(&mut codec, [&line]);
    assert_eq!(
        again,
        [Decoded::Frame(frame.clone())],
        "re-encoded as {line:?}"
    );
}

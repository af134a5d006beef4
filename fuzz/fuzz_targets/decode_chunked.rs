//! Incremental decoding gives the same items as decoding the whole input at once.
//!
//! The first byte picks the line limit (120 to 2160 bytes: at least the preview length,
//! so previews match too; payloads up to twice that, so a display's payload parts may be
//! longer than a line), the second seeds the chunk sizes (1 to 64 bytes), and the rest is
//! the runner -> host stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pykernel_fuzz::{check_items, decode_stream};
use pykernel_protocol::{Event, NdjsonCodec};

fuzz_target!(|data: &[u8]| {
    let [limit, seed, stream @ ..] = data else {
        return;
    };
    let max_length = 120 + usize::from(*limit) * 8;
    let codec = || {
        NdjsonCodec::<Event>::new_with_max_length(max_length)
            .with_max_payload_length(2 * max_length)
    };
    let whole = decode_stream(&mut codec(), [stream]);
    check_items(&whole, stream.len(), max_length);

    // Chunk sizes from a xorshift seeded by the second byte: deterministic per input.
    let mut state = u32::from(*seed) | 0x9e37_0000;
    let mut chunks = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (1 + state as usize % 64).min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        chunks.push(chunk);
        rest = tail;
    }
    let split = decode_stream(&mut codec(), chunks);
    assert_eq!(split, whole);
});

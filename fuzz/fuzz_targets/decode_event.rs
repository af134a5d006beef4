//! Runner -> host bytes: whatever the runner writes, the host's decoder must not panic,
//! and every frame it accepts must survive a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pykernel_fuzz::{check_items, decode_stream};
use pykernel_protocol::{Event, NdjsonCodec};

/// Small enough that the fuzzer reaches the over-long path.
const MAX_LENGTH: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let mut codec = NdjsonCodec::<Event>::new_with_max_length(MAX_LENGTH);
    let items = decode_stream(&mut codec, [data]);
    check_items(&items, data.len(), MAX_LENGTH);
});

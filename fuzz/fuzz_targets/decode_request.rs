//! Host -> runner bytes: the same checks for requests, whose execute frame has no `type`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pykernel_fuzz::{check_items, decode_stream};
use pykernel_protocol::{NdjsonCodec, Request};

/// Small enough that the fuzzer reaches the over-long path.
const MAX_LENGTH: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let mut codec = NdjsonCodec::<Request>::new_with_max_length(MAX_LENGTH);
    let items = decode_stream(&mut codec, [data]);
    check_items(&items, data.len(), MAX_LENGTH);
});

//! The decoder's memory is bounded by its line limit, whatever the runner writes.

use bytes::BytesMut;
use pykernel_protocol::{Decoded, Event, ExecId, MalformedKind, NdjsonCodec, StreamData};
use tokio_util::codec::Decoder;

use crate::encode;

/// A xorshift64* generator: deterministic, tiny, good enough to make noise.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `range`, which must not be empty.
    fn in_range(&mut self, range: std::ops::Range<usize>) -> usize {
        range.start + (self.next_u64() % (range.end - range.start) as u64) as usize
    }

    /// Appends `len` random bytes without a newline, starting with a non-blank byte so
    /// that the line is never skipped as blank.
    fn garbage_line(&mut self, out: &mut Vec<u8>, len: usize) {
        let start = out.len();
        while out.len() < start + len {
            let word = self.next_u64().to_le_bytes();
            let take = (start + len - out.len()).min(word.len());
            out.extend_from_slice(&word[..take]);
        }
        for byte in &mut out[start..] {
            if *byte == b'\n' {
                *byte = b'N';
            }
        }
        out[start] = b'#';
        if out[out.len() - 1] == b'\r' {
            // A `\r` before the newline would shorten the line by one; keep lengths exact.
            *out.last_mut().unwrap() = b'R'; // `len` is at least 1, so there is a last byte.
        }
    }
}

/// Feeds about 100 MB of random lines and valid frames to the decoder in reads of
/// 1 byte to 1 MiB, with a 64 KiB line limit, and checks that every frame comes back in
/// order, that every garbage line costs exactly one `Malformed` (`TooLong` when over the
/// limit, with its length), and that the buffer never holds more than the limit, a
/// pending `\r` and one read.
#[test]
fn memory_is_bounded_by_the_line_limit() {
    const TOTAL: usize = 100 * 1024 * 1024;
    const MAX_LENGTH: usize = 64 * 1024;
    const MAX_READ: usize = 1024 * 1024;

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut codec = NdjsonCodec::<Event>::new_with_max_length(MAX_LENGTH);
    let mut buf = BytesMut::new();
    // Bytes generated but not yet fed, and what they must decode to.
    let mut pending = Vec::new();
    let mut sent_frames = Vec::new();
    let mut garbage_lens = Vec::new();
    let mut received_frames = Vec::new();
    let mut malformed_lens = Vec::new();
    let mut n_too_long = 0;
    let mut fed = 0;
    let mut largest_read = 0;
    let mut peak_len = 0;
    let mut peak_capacity = 0;

    let mut n_lines = 0u64;
    while fed < TOTAL {
        // Refill: a garbage line of a length drawn around the limit, then a frame.
        while pending.len() < MAX_READ {
            let len = match rng.in_range(0..10) {
                0..=2 => rng.in_range(1..200),
                3..=5 => rng.in_range(200..MAX_LENGTH),
                6..=7 => rng.in_range(MAX_LENGTH - 2..MAX_LENGTH + 3),
                _ => rng.in_range(MAX_LENGTH + 1..4 * MAX_LENGTH),
            };
            rng.garbage_line(&mut pending, len);
            pending.extend_from_slice(if rng.in_range(0..4) == 0 {
                b"\r\n"
            } else {
                b"\n"
            });
            garbage_lens.push(len);
            n_lines += 1;
            let data = "ok ".repeat(rng.in_range(0..700));
            let frame = Event::Stdout(StreamData {
                id: ExecId::new(format!("py-{n_lines}")),
                data,
            });
            pending.extend(encode(&frame));
            sent_frames.push(frame);
        }
        let read_len = match rng.in_range(0..4) {
            0 => rng.in_range(1..64),
            1 => rng.in_range(64..8192),
            _ => rng.in_range(8192..MAX_READ + 1),
        };
        largest_read = largest_read.max(read_len);
        buf.extend_from_slice(&pending[..read_len]);
        pending.drain(..read_len);
        fed += read_len;
        peak_len = peak_len.max(buf.len());
        peak_capacity = peak_capacity.max(buf.capacity());
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            match item {
                Decoded::Frame(frame) => received_frames.push(frame),
                Decoded::Malformed(malformed) => {
                    n_too_long += usize::from(malformed.kind == MalformedKind::TooLong);
                    assert_eq!(
                        malformed.kind == MalformedKind::TooLong,
                        malformed.len > MAX_LENGTH,
                        "{malformed}"
                    );
                    malformed_lens.push(malformed.len);
                }
            }
        }
        // What stays buffered is at most one partial line under the limit.
        assert!(
            buf.len() <= MAX_LENGTH + 1,
            "{} bytes left buffered",
            buf.len()
        );
    }

    // Everything fed up to the last complete line must have come out, in order.
    let n_received = received_frames.len();
    assert!(n_received > 1000, "only {n_received} frames decoded");
    assert_eq!(received_frames, sent_frames[..n_received]);
    let n_malformed = malformed_lens.len();
    assert_eq!(malformed_lens, garbage_lens[..n_malformed]);
    assert!(n_malformed >= n_received && n_malformed <= n_received + 1);
    assert!(n_too_long > 100, "only {n_too_long} over-long lines");

    // The bound: the limit, a pending `\r` and the largest read; the allocation may be
    // up to twice that because `BytesMut` grows by doubling.
    let bound = MAX_LENGTH + 1 + largest_read;
    assert!(
        peak_len <= bound,
        "buffer held {peak_len} bytes, bound {bound}"
    );
    assert!(
        peak_capacity <= 2 * bound,
        "buffer capacity reached {peak_capacity}, bound {}",
        2 * bound
    );
}

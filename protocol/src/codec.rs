//! A bounded NDJSON codec that recovers per line.
//!
//! Modelled on tokio-util's `LinesCodec`: the newline scan resumes where the previous
//! call stopped, so partial reads cost no rescans, and a line longer than the limit is
//! discarded as it streams in rather than buffered.
//! A line that is not a frame (bad UTF-8, bad JSON, unknown `type`, too long) is returned
//! as [`Decoded::Malformed`]; it never ends the stream. `Err` is reserved for I/O.
//!
//! A stream frame may also carry its text as a raw payload, so the runner need not
//! JSON-escape large output: a header line whose last member is `"bytes":N`, then exactly
//! N bytes of UTF-8 text, then a newline:
//! `{"type":"stdout","id":"r1","bytes":6}\nhello\n\n`. The decoder yields it as the same
//! frame as `{"type":"stdout","id":"r1","data":"hello\n"}`. Runners send this form only
//! when the host asks for it (see [`STREAM_PAYLOADS_ENV`]).
//!
//! A display frame (`display`, `result`, `update_display`) may carry its large MIME
//! entries the same way, so big HTML travels unescaped and images as bytes rather than
//! base64: the header line keeps the small entries in `bundle` and describes the rest in
//! `parts`, in payload order, before its last member `bytes` (their sum):
//! `{"type":"display","id":"r1","bundle":{"text/plain":"<Image>"},"parts":[{"mime":"text/html","bytes":5},{"mime":"image/png","bytes":4,"binary":true}],"bytes":9}`,
//! then the 9 bytes and a newline. The decoder puts each text part into the bundle as a
//! string and each binary part as a base64 string, so a [`crate::MimeBundle`] keeps
//! Jupyter's JSON shape whichever form the runner chose; a part whose MIME type is also
//! in `bundle`, parts that do not add up to `bytes`, or a text part that is not UTF-8
//! make the frame malformed.
//!
//! A payload may be longer than a line: its limit is the codec's payload limit
//! ([`NdjsonCodec::with_max_payload_length`], by default the line limit), which a host
//! sets to its display cap. A longer payload is not waited for: its header is reported
//! malformed and what follows is read as lines (the runner cuts a display down to the
//! cap before sending it, so this only meets a broken peer). A display the runner did
//! cut carries a `truncated` member mapping each cut MIME type to its size.

use std::{fmt, io, marker::PhantomData};

use bytes::{Buf, BufMut, BytesMut};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio_util::codec::{Decoder, Encoder};

/// The default longest line the decoder accepts: 64 MiB.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 64 * 1024 * 1024;

/// How many bytes of a malformed line are kept for its [`Malformed::preview`].
const PREVIEW_BYTES: usize = 120;

/// The environment variable a host sets to `1` in the runner's environment to receive
/// stream text as raw payloads (see the module docs). The runner removes it at start, so
/// user code and its child processes never see it.
pub const STREAM_PAYLOADS_ENV: &str = "PYKERNEL_STREAM_PAYLOADS";

/// The environment variable a host sets in the runner's environment to the largest
/// display payload, in bytes, its codec accepts (its payload limit); the runner cuts a
/// larger display down to fit. The runner removes it at start, as [`STREAM_PAYLOADS_ENV`].
pub const MAX_DISPLAY_BYTES_ENV: &str = "PYKERNEL_MAX_DISPLAY_BYTES";

/// The member that ends a payload header line.
const PAYLOAD_MEMBER: &[u8] = b",\"bytes\":";

/// A frame type the decoder decodes, and whether it can take a raw payload.
pub trait Decodable: DeserializeOwned {
    /// Takes the raw payload of a frame decoded from its header line (with `"bytes":N`
    /// read as `"data":""`). An error makes the frame malformed with that kind; a frame
    /// that cannot carry a payload (the default) says so.
    fn attach_payload(&mut self, payload: RawPayload<'_>) -> Result<(), MalformedKind> {
        let _ = payload;
        Err(MalformedKind::InvalidFrame(
            "this frame cannot carry a payload".to_owned(),
        ))
    }
}

/// The raw bytes after a payload header, and how its `parts` member divides them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// The parts in payload order; empty for a stream frame's text, which has none.
    pub parts: &'a [PayloadPart],
    /// The payload, without its closing newline; the parts' lengths add up to its length.
    pub bytes: &'a [u8],
}

/// One MIME entry of a display frame's payload: `{"mime","bytes","binary"?}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayloadPart {
    /// The MIME type it is the value of.
    pub mime: String,
    /// Its length in the payload, in bytes.
    pub bytes: u64,
    /// Raw bytes (an image), which go into the bundle as base64; otherwise UTF-8 text.
    #[serde(default, skip_serializing_if = "is_false")]
    pub binary: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl RawPayload<'_> {
    /// Each part's MIME type and value as a bundle holds it: text as a string, binary as
    /// base64. A text part that is not UTF-8 is [`MalformedKind::InvalidUtf8`].
    pub fn bundle_entries(&self) -> Result<Vec<(String, String)>, MalformedKind> {
        let mut rest = self.bytes;
        let mut entries = Vec::with_capacity(self.parts.len());
        for part in self.parts {
            // The codec checked that the parts add up to the payload.
            let len = usize::try_from(part.bytes)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let (value, tail) = rest.split_at(len);
            rest = tail;
            let value = if part.binary {
                base64(value)
            } else {
                std::str::from_utf8(value)
                    .map_err(|_| MalformedKind::InvalidUtf8)?
                    .to_owned()
            };
            entries.push((part.mime.clone(), value));
        }
        Ok(entries)
    }

    /// The payload as UTF-8 text: what a stream frame carries. A payload with parts, or
    /// not UTF-8, is malformed.
    pub fn text(&self) -> Result<String, MalformedKind> {
        if !self.parts.is_empty() {
            return Err(MalformedKind::InvalidFrame(
                "a stream frame's payload has no parts".to_owned(),
            ));
        }
        std::str::from_utf8(self.bytes)
            .map(str::to_owned)
            .map_err(|_| MalformedKind::InvalidUtf8)
    }
}

/// Standard base64 with padding, as Jupyter keeps images in a bundle.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    let mut chunks = bytes.chunks_exact(3);
    for chunk in &mut chunks {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        out.extend([18, 12, 6, 0].map(|shift| ALPHABET[(n >> shift & 63) as usize]));
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend([
                ALPHABET[(n >> 18) as usize],
                ALPHABET[(n >> 12 & 63) as usize],
            ]);
            out.extend_from_slice(b"==");
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend([18, 12, 6].map(|shift| ALPHABET[(n >> shift & 63) as usize]));
            out.push(b'=');
        }
        _ => {}
    }
    // Only ASCII from the alphabet was written.
    String::from_utf8(out).unwrap_or_default()
}

/// The `parts` member of a payload header, read apart from the frame.
#[derive(Deserialize)]
struct PartsHeader {
    #[serde(default)]
    parts: Vec<PayloadPart>,
}

/// One item from the decoder: a frame, or a line that is not one.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded<T> {
    /// A well-formed frame.
    Frame(T),
    /// A line that could not be decoded; the stream goes on after it.
    Malformed(Malformed),
}

/// A line that is not a frame, kept small enough to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// Why the line was rejected.
    pub kind: MalformedKind,
    /// The line's first bytes, lossily decoded, for logs.
    pub preview: String,
    /// The line's full length in bytes, without its newline.
    pub len: usize,
}

/// Why a line was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MalformedKind {
    /// The line exceeded the codec's maximum length and was discarded.
    TooLong,
    /// The line is not valid UTF-8.
    InvalidUtf8,
    /// The line is not a JSON value; the parser's message.
    InvalidJson(String),
    /// The line is JSON but not a known frame (unknown `type`, missing field); the message.
    InvalidFrame(String),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            MalformedKind::TooLong => write!(f, "line of {} bytes exceeds the limit", self.len)?,
            MalformedKind::InvalidUtf8 => f.write_str("line is not valid utf-8")?,
            MalformedKind::InvalidJson(message) => write!(f, "line is not json: {message}")?,
            MalformedKind::InvalidFrame(message) => write!(f, "line is not a frame: {message}")?,
        }
        write!(f, " (starts {:?})", self.preview)
    }
}

/// Decodes NDJSON lines into frames of type `T` and encodes any serializable frame.
///
/// Use `NdjsonCodec::<Event>` on the host (decode runner frames, encode requests) and
/// `NdjsonCodec::<Request>` for the runner's direction.
/// A final line without a newline is decoded at end of stream; `\r\n` endings and blank
/// lines are accepted.
pub struct NdjsonCodec<T> {
    max_length: usize,
    /// The longest raw payload accepted after a header line.
    max_payload_length: usize,
    /// Where the next newline scan starts in the buffer.
    next_index: usize,
    /// Set while an over-long line is being thrown away.
    discarding: Option<Discarding>,
    /// Set between a payload header and the end of its payload (boxed: a frame is large
    /// and rarely pending).
    payload: Option<Box<Pending<T>>>,
    frame: PhantomData<fn() -> T>,
}

/// A decoded payload header waiting for its payload.
struct Pending<T> {
    frame: T,
    /// How the payload divides into MIME entries (display frames only).
    parts: Vec<PayloadPart>,
    /// The payload's length in bytes, without its closing newline.
    len: usize,
    /// The header line's preview and length, for a malformed payload.
    header: String,
    header_len: usize,
}

struct Discarding {
    preview: String,
    discarded: usize,
    /// Whether the last discarded byte is `\r`, which is not part of the line's length
    /// when the newline comes next.
    ends_with_cr: bool,
}

impl<T> NdjsonCodec<T> {
    /// A codec accepting lines up to [`DEFAULT_MAX_LINE_LENGTH`].
    pub fn new() -> Self {
        Self::new_with_max_length(DEFAULT_MAX_LINE_LENGTH)
    }

    /// A codec accepting lines up to `max_length` bytes, newline excluded.
    ///
    /// The decoder never buffers more than `max_length` bytes of a partial line (plus one
    /// pending `\r`) and one read, or a payload of its payload limit (by default
    /// `max_length` too; see [`NdjsonCodec::with_max_payload_length`]) and one read.
    pub fn new_with_max_length(max_length: usize) -> Self {
        Self {
            max_length,
            max_payload_length: max_length,
            next_index: 0,
            discarding: None,
            payload: None,
            frame: PhantomData,
        }
    }

    /// The longest line this codec accepts, in bytes.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The codec with a payload limit of `max_payload_length` bytes: the longest raw
    /// payload (stream text, or a display's parts together) it waits for after a header
    /// line. A host sets it to its display cap, which may exceed the line limit.
    #[must_use]
    pub fn with_max_payload_length(mut self, max_payload_length: usize) -> Self {
        self.max_payload_length = max_payload_length;
        self
    }

    /// The longest raw payload this codec accepts, in bytes.
    pub fn max_payload_length(&self) -> usize {
        self.max_payload_length
    }
}

impl<T> Default for NdjsonCodec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for NdjsonCodec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NdjsonCodec")
            .field("max_length", &self.max_length)
            .field("max_payload_length", &self.max_payload_length)
            .field("next_index", &self.next_index)
            .field("discarding", &self.discarding.is_some())
            .field("payload", &self.payload.as_ref().map(|payload| payload.len))
            .finish()
    }
}

impl<T: Decodable> NdjsonCodec<T> {
    /// Finds the next complete line, or discards what an over-long line has shown so far.
    fn next_line(&mut self, buf: &mut BytesMut) -> Option<Decoded<T>> {
        loop {
            if self.payload.is_some() {
                return self.next_payload(buf);
            }
            let newline = memchr::memchr(b'\n', &buf[self.next_index..]);
            if let Some(discarding) = &mut self.discarding {
                let Some(offset) = newline else {
                    if let Some(&last) = buf.last() {
                        discarding.ends_with_cr = last == b'\r';
                    }
                    discarding.discarded += buf.len();
                    buf.clear();
                    self.next_index = 0;
                    return None;
                };
                let end = self.next_index + offset;
                // The line's length excludes its newline and any `\r` before it, which
                // may have come in an earlier read.
                let mut len = discarding.discarded + end;
                let cr_before = if end > 0 {
                    buf[end - 1] == b'\r'
                } else {
                    discarding.ends_with_cr
                };
                if cr_before {
                    len -= 1;
                }
                buf.advance(end + 1);
                self.next_index = 0;
                let preview = std::mem::take(&mut discarding.preview);
                self.discarding = None;
                return Some(Decoded::Malformed(Malformed {
                    kind: MalformedKind::TooLong,
                    preview,
                    len,
                }));
            }
            let Some(offset) = newline else {
                // A trailing `\r` may belong to a `\r\n` ending still in flight, so it does
                // not count yet: a line of exactly `max_length` bytes is kept however the
                // reads split it.
                let ends_with_cr = buf.last() == Some(&b'\r');
                if buf.len() - usize::from(ends_with_cr) > self.max_length {
                    self.discarding = Some(Discarding {
                        preview: preview(buf),
                        discarded: buf.len(),
                        ends_with_cr,
                    });
                    buf.clear();
                    self.next_index = 0;
                } else {
                    self.next_index = buf.len();
                }
                return None;
            };
            let end = self.next_index + offset;
            let line = buf.split_to(end + 1);
            self.next_index = 0;
            if let Some(decoded) = self.decode_line(&line[..end]) {
                return Some(decoded);
            }
        }
    }

    /// The payload the last header announced, once all of it is buffered.
    fn next_payload(&mut self, buf: &mut BytesMut) -> Option<Decoded<T>> {
        let len = self.payload.as_ref()?.len;
        if buf.len() <= len {
            // At most `max_payload_length` bytes and one read are buffered: `len` is bounded.
            return None;
        }
        let Pending {
            mut frame,
            parts,
            header,
            header_len,
            ..
        } = *self.payload.take()?;
        let malformed = |kind| {
            Some(Decoded::Malformed(Malformed {
                kind,
                preview: header.clone(),
                len: header_len,
            }))
        };
        if buf[len] != b'\n' {
            // The header lied about the length: report it and read what follows as lines,
            // so the next good frame is found again.
            return malformed(MalformedKind::InvalidFrame(format!(
                "no newline after the {len}-byte payload"
            )));
        }
        let body = buf.split_to(len + 1);
        let payload = RawPayload {
            parts: &parts,
            bytes: &body[..len],
        };
        match frame.attach_payload(payload) {
            Ok(()) => Some(Decoded::Frame(frame)),
            Err(kind) => malformed(kind),
        }
    }

    /// For a payload header (a line ending in `,"bytes":N}`), the line with that member
    /// read as `,"data":""` and N.
    fn payload_header(line: &[u8]) -> Option<(Vec<u8>, usize)> {
        let body = line.strip_suffix(b"}")?;
        let digits_start = body.iter().rposition(|byte| !byte.is_ascii_digit())? + 1;
        let (head, digits) = body.split_at(digits_start);
        let head = head.strip_suffix(PAYLOAD_MEMBER)?;
        if digits.is_empty() || digits.len() > 20 {
            return None;
        }
        let len = std::str::from_utf8(digits).ok()?.parse().ok()?;
        let mut rewritten = Vec::with_capacity(head.len() + 11);
        rewritten.extend_from_slice(head);
        rewritten.extend_from_slice(b",\"data\":\"\"}");
        Some((rewritten, len))
    }

    /// Decodes one line without its newline; `None` for a blank line or a payload header
    /// (whose frame comes with its payload).
    fn decode_line(&mut self, line: &[u8]) -> Option<Decoded<T>> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let malformed = |kind| {
            Some(Decoded::Malformed(Malformed {
                kind,
                preview: preview(line),
                len: line.len(),
            }))
        };
        if line.len() > self.max_length {
            return malformed(MalformedKind::TooLong);
        }
        if let Some((header, len)) = Self::payload_header(line) {
            if len > self.max_payload_length {
                // Not waited for: what follows is read as lines.
                return malformed(MalformedKind::InvalidFrame(format!(
                    "a payload of {len} bytes exceeds the limit of {}",
                    self.max_payload_length
                )));
            }
            return match serde_json::from_slice::<T>(&header) {
                Ok(frame) => {
                    let parts = match serde_json::from_slice::<PartsHeader>(&header) {
                        Ok(header) => header.parts,
                        Err(err) => return malformed(MalformedKind::InvalidFrame(err.to_string())),
                    };
                    let total = parts
                        .iter()
                        .try_fold(0u64, |sum, part| sum.checked_add(part.bytes));
                    if !parts.is_empty() && total != u64::try_from(len).ok() {
                        // Not waited for, as a payload over the limit.
                        return malformed(MalformedKind::InvalidFrame(format!(
                            "the parts do not add up to the {len}-byte payload"
                        )));
                    }
                    self.payload = Some(Box::new(Pending {
                        frame,
                        parts,
                        len,
                        header: preview(line),
                        header_len: line.len(),
                    }));
                    None
                }
                Err(err) if err.is_data() => {
                    malformed(MalformedKind::InvalidFrame(err.to_string()))
                }
                Err(err) => malformed(MalformedKind::InvalidJson(err.to_string())),
            };
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return malformed(MalformedKind::InvalidUtf8);
        };
        let err = match serde_json::from_str::<T>(text) {
            Ok(frame) => return Some(Decoded::Frame(frame)),
            Err(err) => err,
        };
        if err.is_syntax() {
            // Python writes a lone surrogate (such as a `surrogateescape`d file name) as
            // a `\udcXX` escape, which serde_json refuses. The seed's host accepted such
            // lines, so retry once with those escapes replaced by U+FFFD.
            let mut repaired = text.as_bytes().to_vec();
            if replace_lone_surrogates(&mut repaired) {
                if let Ok(frame) = serde_json::from_slice::<T>(&repaired) {
                    return Some(Decoded::Frame(frame));
                }
            }
        }
        if err.is_data() {
            malformed(MalformedKind::InvalidFrame(err.to_string()))
        } else {
            malformed(MalformedKind::InvalidJson(err.to_string()))
        }
    }
}

/// Rewrites every `\uXXXX` escape of an unpaired UTF-16 surrogate in a JSON text as
/// `\ufffd`, in place (both are six bytes), and says whether it changed anything.
fn replace_lone_surrogates(json: &mut [u8]) -> bool {
    fn escaped_unit(json: &[u8], at: usize) -> Option<u16> {
        let escape = json.get(at..at + 6)?;
        if escape[0] != b'\\' || escape[1] != b'u' {
            return None;
        }
        let hex = &escape[2..];
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        // Four ASCII hex digits always parse as a `u16`.
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    }
    const HIGH: std::ops::Range<u16> = 0xD800..0xDC00;
    const LOW: std::ops::Range<u16> = 0xDC00..0xE000;
    let mut changed = false;
    let mut at = 0;
    while at < json.len() {
        if json[at] != b'\\' {
            at += 1;
            continue;
        }
        let Some(unit) = escaped_unit(json, at) else {
            // Any other escape is two bytes; skipping both keeps `\\u` from reading as `\u`.
            at += 2;
            continue;
        };
        let paired = HIGH.contains(&unit)
            && escaped_unit(json, at + 6).is_some_and(|next| LOW.contains(&next));
        if paired {
            at += 12;
            continue;
        }
        if HIGH.contains(&unit) || LOW.contains(&unit) {
            json[at..at + 6].copy_from_slice(b"\\ufffd");
            changed = true;
        }
        at += 6;
    }
    changed
}

fn preview(bytes: &[u8]) -> String {
    let end = bytes.len().min(PREVIEW_BYTES);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl<T: Decodable> Decoder for NdjsonCodec<T> {
    type Item = Decoded<T>;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        Ok(self.next_line(buf))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        if let Some(decoded) = self.next_line(buf) {
            return Ok(Some(decoded));
        }
        if let Some(truncated) = self.truncated_payload(buf) {
            return Ok(Some(truncated));
        }
        // What is left is a final line without a newline.
        self.next_index = 0;
        if let Some(discarding) = self.discarding.take() {
            // `next_line` has just moved every buffered byte into `discarded`; a final
            // `\r` is stripped as it is from any last line without a newline.
            let len = discarding.discarded + buf.len() - usize::from(discarding.ends_with_cr);
            buf.clear();
            return Ok(Some(Decoded::Malformed(Malformed {
                kind: MalformedKind::TooLong,
                preview: discarding.preview,
                len,
            })));
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let line = buf.split();
        match self.decode_line(&line) {
            // A header as the very last line: its payload can never come.
            None => Ok(self.truncated_payload(buf)),
            decoded => Ok(decoded),
        }
    }
}

impl<T> NdjsonCodec<T> {
    /// At the end of the stream: a payload that will never be complete, as malformed.
    fn truncated_payload(&mut self, buf: &mut BytesMut) -> Option<Decoded<T>> {
        let payload = self.payload.take()?;
        let got = buf.len();
        buf.clear();
        Some(Decoded::Malformed(Malformed {
            kind: MalformedKind::InvalidFrame(format!(
                "the stream ended {got} bytes into a {}-byte payload",
                payload.len
            )),
            len: payload.header_len,
            preview: payload.header,
        }))
    }
}

impl<T, U: Serialize> Encoder<U> for NdjsonCodec<T> {
    type Error = io::Error;

    /// Writes `item` as one compact JSON line. JSON escapes control characters inside
    /// strings, so the only newline written is the terminator.
    /// On error `dst` is left as it was, so no partial line is ever sent.
    fn encode(&mut self, item: U, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let start = dst.len();
        let mut writer = dst.writer();
        if let Err(err) = serde_json::to_writer(&mut writer, &item) {
            dst.truncate(start);
            return Err(io::Error::from(err));
        }
        writer.into_inner().put_u8(b'\n');
        Ok(())
    }
}

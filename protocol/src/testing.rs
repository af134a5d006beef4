//! Helpers for tests and fuzz targets of code that decodes frames (feature `testing`).

use std::io;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::{Decoded, Event, NdjsonCodec, PayloadPart};

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

/// `event` in the raw-payload form a runner writes when the host asks for payloads: a
/// stream frame's text, or every string entry of a display frame's bundle (as a text
/// part), after a header line; `binary` adds binary parts, which decode to base64 entries.
/// Any other frame, or a display with no part, is one JSON line.
///
/// # Panics
/// If `event` does not serialize (every [`Event`] does).
pub fn payload_form(event: &Event, binary: &[(&str, &[u8])]) -> Vec<u8> {
    let mut header = serde_json::to_value(event).expect("frames serialize");
    let mut payload = Vec::new();
    let mut parts = Vec::new();
    match event {
        Event::Stdout(frame) | Event::Stderr(frame) => {
            header.as_object_mut().map(|object| object.remove("data"));
            payload.extend_from_slice(frame.data.as_bytes());
        }
        Event::Display(_) | Event::Result(_) | Event::UpdateDisplay(_) => {
            let bundle = header
                .get_mut("bundle")
                .and_then(serde_json::Value::as_object_mut)
                .expect("a display frame has a bundle");
            let texts: Vec<String> = bundle
                .iter()
                .filter(|(_, value)| value.is_string())
                .map(|(mime, _)| mime.clone())
                .collect();
            for mime in texts {
                let value = bundle.remove(&mime).unwrap_or_default();
                let text = value.as_str().unwrap_or_default();
                payload.extend_from_slice(text.as_bytes());
                parts.push(PayloadPart {
                    mime,
                    bytes: text.len() as u64,
                    binary: false,
                });
            }
            for (mime, bytes) in binary {
                payload.extend_from_slice(bytes);
                parts.push(PayloadPart {
                    mime: (*mime).to_owned(),
                    bytes: bytes.len() as u64,
                    binary: true,
                });
            }
            if parts.is_empty() {
                return line_form(&header);
            }
            header["parts"] = serde_json::to_value(&parts).expect("parts serialize");
        }
        _ => return line_form(&header),
    }
    // `bytes` must be the header's last member.
    let mut line = serde_json::to_vec(&header).expect("frames serialize");
    line.pop();
    if line.len() > 1 {
        line.push(b',');
    }
    line.extend_from_slice(format!("\"bytes\":{}}}\n", payload.len()).as_bytes());
    line.extend_from_slice(&payload);
    line.push(b'\n');
    line
}

fn line_form(value: &serde_json::Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).expect("frames serialize");
    line.push(b'\n');
    line
}

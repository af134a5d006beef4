//! The pykernel wire protocol: typed frames and a bounded NDJSON codec.
//!
//! The host talks to the runner (the `pykernel_runner` Python package) with one JSON object per line over the child's stdin
//! (host -> runner [`Request`]s) and stdout (runner -> host [`Event`]s).
//! Version 1 frames are byte-compatible with the seed design (the TypeScript agent host
//! pykernel was rebuilt from, whose runner spoke this protocol first); version 2 adds a `hello`
//! handshake, in-band interrupt, `input()` requests, host calls, completion, and stream
//! text as raw payloads when the host asks for them ([`STREAM_PAYLOADS_ENV`]), and large
//! display entries as raw payload parts, images as bytes (see [`NdjsonCodec`]'s module
//! docs and [`MAX_DISPLAY_BYTES_ENV`]), all additive.
//!
//! This crate is sans-IO: it does no IO, spawns nothing and reads no clock.
//! [`NdjsonCodec`] plugs into `tokio_util::codec::{FramedRead, FramedWrite}` or any
//! other byte source.
#![warn(missing_docs)]

mod codec;
mod frame;
mod id;
#[cfg(feature = "proptest")]
pub mod strategies;
#[cfg(feature = "testing")]
pub mod testing;

pub use codec::{
    DEFAULT_MAX_LINE_LENGTH, Decodable, Decoded, MAX_DISPLAY_BYTES_ENV, Malformed, MalformedKind,
    NdjsonCodec, PayloadPart, RawPayload, STREAM_PAYLOADS_ENV,
};
pub use frame::{
    BundleData, Call, CallId, CallReply, ClearOutput, CommMsg, CommOpen, Complete, Completions,
    DisplayData, Done, ErrorData, Event, ExecId, Execute, FEATURE_COMPLETE, Hello, HostCommMsg,
    InputReply, InputRequest, MimeBundle, PROTOCOL_VERSION, Request, RequestId, Status, StreamData,
    UpdateDisplay,
};

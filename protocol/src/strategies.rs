//! Proptest strategies for every frame, shared by property tests and fuzz harnesses.
//!
//! Enabled by the `proptest` feature.
//! Every strategy yields values whose NDJSON encoding decodes back to an equal value, so
//! `decode(encode(x)) == x` is a fair property to test with them.
//!
//! Text is deliberately awkward: besides arbitrary Unicode scalar values it favours the
//! characters an encoder is most likely to get wrong (`\n`, `\r`, NUL and other control
//! characters, quotes, backslashes, `U+2028`/`U+2029`, a byte order mark, emoji and
//! joiners).
//! Rust strings cannot hold lone surrogates, so none are generated.
//! JSON values include finite floats: the crate turns on serde_json's `float_roundtrip`,
//! which makes their round trip exact.

use std::collections::BTreeMap;

use proptest::{
    collection::{btree_map, vec},
    option,
    prelude::*,
    sample::select,
};
use serde_json::{Map, Number, Value};

use crate::frame::{
    BundleData, Call, CallId, CallReply, ClearOutput, CommMsg, CommOpen, Complete, Completions,
    DisplayData, Done, ErrorData, Event, ExecId, Execute, Hello, HostCommMsg, InputReply,
    InputRequest, MimeBundle, Request, RequestId, Status, StreamData, UpdateDisplay,
};

/// Characters that stress JSON string escaping and line framing.
const AWKWARD_CHARS: &[char] = &[
    '\n',
    '\r',
    '\t',
    '\0',
    '\u{8}',
    '\u{c}',
    '\u{b}',
    '\u{1b}',
    '\u{1f}',
    '\u{7f}',
    '"',
    '\\',
    '/',
    '\'',
    '{',
    '}',
    '[',
    ']',
    ':',
    ',',
    ' ',
    '\u{85}',
    '\u{a0}',
    '\u{2028}',
    '\u{2029}',
    '\u{feff}',
    '\u{fffd}',
    '\u{200d}',
    '\u{10ffff}',
    'é',
    'ß',
    '中',
    '🐍',
    '😀',
    '👩',
    '💻',
];

/// MIME types that real bundles carry.
const MIME_TYPES: &[&str] = &[
    "text/plain",
    "text/html",
    "text/markdown",
    "text/latex",
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "application/json",
    "application/x-omp-status",
];

/// One character: mostly printable ASCII and [`AWKWARD_CHARS`], sometimes any scalar value.
pub fn arb_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => (0x20u8..0x7f).prop_map(char::from),
        4 => select(AWKWARD_CHARS),
        1 => (0u8..0x20).prop_map(char::from),
        2 => any::<char>(),
    ]
}

/// A string of up to 40 characters drawn from [`arb_char`].
pub fn arb_text() -> impl Strategy<Value = String> {
    arb_text_up_to(40)
}

/// A string of at most `max_chars` characters drawn from [`arb_char`].
pub fn arb_text_up_to(max_chars: usize) -> impl Strategy<Value = String> {
    vec(arb_char(), 0..=max_chars).prop_map(String::from_iter)
}

/// An execution id: usually shaped like the host's own (`py-<hex>`), sometimes any text,
/// including the empty id of the seed's `ProtocolError` frame.
pub fn arb_exec_id() -> impl Strategy<Value = ExecId> {
    prop_oneof![
        3 => "py-[0-9a-f]{8}".prop_map(ExecId::new),
        1 => arb_text_up_to(12).prop_map(ExecId::new),
        1 => Just(ExecId::new("")),
    ]
}

/// A host-call id: usually short and numeric, sometimes any text.
pub fn arb_call_id() -> impl Strategy<Value = CallId> {
    prop_oneof![
        3 => "c[0-9]{1,6}".prop_map(CallId::new),
        1 => arb_text_up_to(12).prop_map(CallId::new),
    ]
}

/// A request id: usually shaped like the kernel's completion ids (`c-<n>`), sometimes
/// any text.
pub fn arb_request_id() -> impl Strategy<Value = RequestId> {
    prop_oneof![
        3 => "c-[0-9]{1,6}".prop_map(RequestId::new),
        1 => arb_text_up_to(12).prop_map(RequestId::new),
    ]
}

/// A completion request, its cursor usually inside the code and sometimes anywhere.
pub fn arb_complete() -> impl Strategy<Value = Complete> {
    (
        arb_request_id(),
        arb_text_up_to(80),
        prop_oneof![3 => 0u64..100, 1 => any::<u64>()],
    )
        .prop_map(|(id, code, cursor)| Complete { id, code, cursor })
}

/// A completion answer of up to eight matches, with any offsets.
pub fn arb_completions() -> impl Strategy<Value = Completions> {
    (
        arb_request_id(),
        vec(arb_text_up_to(20), 0..8),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(id, matches, cursor_start, cursor_end)| Completions {
            id,
            matches,
            cursor_start,
            cursor_end,
        })
}

/// A finite `f64`, including zeros, subnormals and the extremes.
pub fn arb_finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<f64>().prop_filter("json numbers are finite", |x| x.is_finite()),
        1 => select(&[0.0, -0.0, 0.1, 1.5, f64::MIN_POSITIVE, 5e-324, f64::MAX, f64::MIN][..]),
        1 => (-1_000_000i32..1_000_000).prop_map(f64::from),
    ]
}

/// A JSON number: a negative or non-negative integer over the full 64-bit ranges, or a
/// finite float.
pub fn arb_json_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        // `from_f64` only fails for infinities and NaN, which the strategy never yields.
        arb_finite_f64().prop_filter_map("finite", Number::from_f64),
    ]
}

/// Any JSON value up to three levels deep, with awkward strings and object keys.
pub fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_json_number().prop_map(Value::Number),
        arb_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(arb_text_up_to(10), inner, 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One entry of a MIME bundle, its value shaped by its type as the runner shapes it.
fn arb_bundle_entry() -> impl Strategy<Value = (String, Value)> {
    prop_oneof![
        3 => (select(&["text/plain", "text/html", "text/markdown", "text/latex", "image/svg+xml"][..]), arb_text())
            .prop_map(|(mime, text)| (mime.to_owned(), Value::String(text))),
        1 => (select(&["image/png", "image/jpeg"][..]), "([A-Za-z0-9+/]{4}){0,12}([A-Za-z0-9+/]{2}==)?")
            .prop_map(|(mime, base64)| (mime.to_owned(), Value::String(base64))),
        2 => (select(MIME_TYPES), arb_json()).prop_map(|(mime, value)| (mime.to_owned(), value)),
        1 => (arb_text_up_to(16), arb_json()),
    ]
}

/// A display's `truncated` member: usually empty, else a few MIME types with sizes.
pub fn arb_truncated() -> impl Strategy<Value = BTreeMap<String, u64>> {
    prop_oneof![
        3 => Just(BTreeMap::new()),
        1 => btree_map(arb_text_up_to(16), any::<u64>(), 1..3),
    ]
}

/// A MIME bundle of up to five entries; may be empty.
pub fn arb_mime_bundle() -> impl Strategy<Value = MimeBundle> {
    vec(arb_bundle_entry(), 0..=5).prop_map(MimeBundle::from_iter)
}

/// An execute request with every optional field sometimes present.
pub fn arb_execute() -> impl Strategy<Value = Execute> {
    (
        arb_exec_id(),
        arb_text_up_to(80),
        any::<bool>(),
        option::of(any::<bool>()),
        option::of(arb_text_up_to(20)),
        option::of(arb_env()),
        any::<bool>(),
    )
        .prop_map(
            |(id, code, silent, store_history, cwd, env, allow_stdin)| Execute {
                id,
                code,
                silent,
                store_history,
                cwd,
                env,
                allow_stdin,
            },
        )
}

/// A JSON object as a comm message's `data` or `metadata` carries it.
pub fn arb_json_object() -> impl Strategy<Value = Map<String, Value>> {
    btree_map(arb_text_up_to(10), arb_json(), 0..4)
        .prop_map(|entries| entries.into_iter().collect())
}

/// Base64 buffers as comm messages carry them; usually none.
fn arb_buffers() -> impl Strategy<Value = Vec<String>> {
    vec("([A-Za-z0-9+/]{4}){0,6}([A-Za-z0-9+/]{2}==)?", 0..3)
}

/// A frontend's message to a comm.
pub fn arb_host_comm_msg() -> impl Strategy<Value = HostCommMsg> {
    (
        arb_text_up_to(32),
        arb_json_object(),
        arb_json_object(),
        arb_buffers(),
    )
        .prop_map(|(comm_id, data, metadata, buffers)| HostCommMsg {
            comm_id,
            data,
            metadata,
            buffers,
        })
}

/// A comm message or closing from the runner.
pub fn arb_comm_msg() -> impl Strategy<Value = CommMsg> {
    (arb_exec_id(), arb_host_comm_msg()).prop_map(|(id, message)| CommMsg {
        id,
        comm_id: message.comm_id,
        data: message.data,
        metadata: message.metadata,
        buffers: message.buffers,
    })
}

/// A comm opened by the runner.
pub fn arb_comm_open() -> impl Strategy<Value = CommOpen> {
    (arb_comm_msg(), arb_text_up_to(20)).prop_map(|(message, target_name)| CommOpen {
        id: message.id,
        comm_id: message.comm_id,
        target_name,
        data: message.data,
        metadata: message.metadata,
        buffers: message.buffers,
    })
}

/// Any host -> runner frame; execute requests are the most frequent, as on a real pipe.
pub fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        4 => arb_execute().prop_map(Request::Execute),
        1 => Just(Request::Exit),
        1 => Just(Request::Interrupt),
        1 => Just(Request::Kill),
        1 => Just(Request::Ping),
        1 => (arb_exec_id(), arb_text(), any::<bool>())
            .prop_map(|(id, value, eof)| Request::InputReply(InputReply { id, value, eof })),
        2 => (arb_call_id(), prop_oneof![arb_json().prop_map(Ok), arb_text().prop_map(Err)])
            .prop_map(|(call_id, result)| Request::CallReply(CallReply { call_id, result })),
        1 => arb_complete().prop_map(Request::Complete),
        1 => arb_host_comm_msg().prop_map(Request::CommMsg),
    ]
}

/// A runner greeting with any version, strings and features.
pub fn arb_hello() -> impl Strategy<Value = Hello> {
    (
        any::<u32>(),
        arb_text_up_to(12),
        arb_text_up_to(12),
        any::<u32>(),
        vec(arb_text_up_to(12), 0..4),
        option::of(arb_text_up_to(12)),
    )
        .prop_map(|(protocol, runner, python, pid, features, hash)| Hello {
            protocol,
            runner,
            python,
            pid,
            features,
            hash,
        })
}

/// An execution's last frame with any status, count and cancel flag.
pub fn arb_done() -> impl Strategy<Value = Done> {
    (
        arb_exec_id(),
        select(&[Status::Ok, Status::Error][..]),
        option::of(any::<u64>()),
        any::<bool>(),
    )
        .prop_map(|(id, status, execution_count, cancelled)| Done {
            id,
            status,
            execution_count,
            cancelled,
        })
}

/// A bundle's metadata: mostly none, else JSON values by MIME type.
fn arb_metadata() -> impl Strategy<Value = Map<String, Value>> {
    prop_oneof![
        3 => Just(Map::new()),
        1 => arb_mime_bundle().prop_map(MimeBundle::into_map),
    ]
}

/// Any runner -> host frame; stream output is the most frequent, as on a real pipe.
pub fn arb_event() -> impl Strategy<Value = Event> {
    let stream =
        || (arb_exec_id(), arb_text_up_to(120)).prop_map(|(id, data)| StreamData { id, data });
    let bundle = || {
        (
            arb_exec_id(),
            arb_mime_bundle(),
            arb_truncated(),
            arb_metadata(),
        )
            .prop_map(|(id, bundle, truncated, metadata)| BundleData {
                id,
                bundle,
                truncated,
                metadata,
            })
    };
    prop_oneof![
        1 => arb_hello().prop_map(Event::Hello),
        2 => arb_exec_id().prop_map(|id| Event::Started { id }),
        4 => stream().prop_map(Event::Stdout),
        2 => stream().prop_map(Event::Stderr),
        2 => (arb_exec_id(), arb_mime_bundle(), option::of(arb_text_up_to(16)), arb_truncated(), arb_metadata())
            .prop_map(|(id, bundle, display_id, truncated, metadata)| Event::Display(DisplayData { id, bundle, display_id, truncated, metadata })),
        1 => (arb_exec_id(), arb_mime_bundle(), arb_text_up_to(16), arb_truncated(), arb_metadata())
            .prop_map(|(id, bundle, display_id, truncated, metadata)| Event::UpdateDisplay(UpdateDisplay { id, bundle, display_id, truncated, metadata })),
        1 => (arb_exec_id(), any::<bool>())
            .prop_map(|(id, wait)| Event::ClearOutput(ClearOutput { id, wait })),
        2 => bundle().prop_map(Event::Result),
        2 => (arb_exec_id(), arb_text_up_to(20), arb_text(), vec(arb_text(), 0..4)).prop_map(
            |(id, ename, evalue, traceback)| Event::Error(ErrorData { id, ename, evalue, traceback })
        ),
        2 => arb_done().prop_map(Event::Done),
        1 => (arb_exec_id(), arb_text(), any::<bool>())
            .prop_map(|(id, prompt, password)| Event::InputRequest(InputRequest { id, prompt, password })),
        1 => (arb_exec_id(), arb_call_id(), arb_text_up_to(16), arb_json())
            .prop_map(|(id, call_id, name, args)| Event::Call(Call { id, call_id, name, args })),
        1 => arb_completions().prop_map(Event::Completions),
        1 => Just(Event::Pong),
        1 => arb_comm_open().prop_map(Event::CommOpen),
        1 => arb_comm_msg().prop_map(Event::CommMsg),
        1 => arb_comm_msg().prop_map(Event::CommClose),
    ]
}

/// An environment change map as an execute request carries it.
pub fn arb_env() -> impl Strategy<Value = BTreeMap<String, Option<String>>> {
    btree_map(arb_text_up_to(12), option::of(arb_text_up_to(12)), 0..4)
}

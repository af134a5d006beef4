//! Display frames whose large MIME entries follow their header line as raw payload parts.

use proptest::{collection::vec, prelude::*, sample::Index};
use pykernel_protocol::{
    Decoded, Event, NdjsonCodec,
    strategies::arb_event,
    testing::{decode_stream, payload_form},
};

use crate::{render, split_at_cuts};

/// Decodes `input` in one read with a line limit of `max_length` and a payload limit of
/// `max_payload`.
fn check(max_length: usize, max_payload: usize, input: &[u8]) -> String {
    let mut codec =
        NdjsonCodec::<Event>::new_with_max_length(max_length).with_max_payload_length(max_payload);
    render(&decode_stream(&mut codec, [input]))
}

/// A display header with `parts`, then the payload and its newline.
fn display(kind: &str, bundle: &str, parts: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let described: Vec<String> = parts
        .iter()
        .map(|(mime, bytes, binary)| {
            let binary = if *binary { ",\"binary\":true" } else { "" };
            format!("{{\"mime\":\"{mime}\",\"bytes\":{}{binary}}}", bytes.len())
        })
        .collect();
    let total: usize = parts.iter().map(|(_, bytes, _)| bytes.len()).sum();
    let mut line = format!(
        "{{\"type\":\"{kind}\",\"id\":\"a\",\"bundle\":{bundle},\"parts\":[{}],\"bytes\":{total}}}\n",
        described.join(",")
    )
    .into_bytes();
    for (_, bytes, _) in parts {
        line.extend_from_slice(bytes);
    }
    line.push(b'\n');
    line
}

const DONE: &[u8] = b"{\"type\":\"done\",\"id\":\"a\",\"status\":\"ok\"}\n";

#[test]
fn parts_go_into_the_bundle_text_as_strings_and_binary_as_base64() {
    let html = "<b>\"big\"</b>\n{\"type\":\"done\"}\r\n☃".as_bytes();
    let png: &[u8] = &[0x89, b'P', b'N', b'G', 0, 0xff, b'\n', 0xfe];
    let mut input = display(
        "display",
        r#"{"text/plain":"<Image>"}"#,
        &[("text/html", html, false), ("image/png", png, true)],
    );
    input.extend(display("result", "{}", &[("text/plain", b"2", false)]));
    input.extend(display(
        "update_display",
        r#"{"text/plain":"x"},"displayId":"d""#,
        &[("image/jpeg", b"\xff\xd8", true)],
    ));
    input.extend_from_slice(DONE);
    let whole = check(1000, 1000, &input);
    // The same, one byte per read.
    let mut codec = NdjsonCodec::<Event>::new_with_max_length(1000);
    assert_eq!(render(&decode_stream(&mut codec, input.chunks(1))), whole);
    insta::assert_snapshot!(whole, @r#"
    frame Display(DisplayData { id: ExecId("a"), bundle: MimeBundle({"image/png": String("iVBORwD/Cv4="), "text/html": String("<b>\"big\"</b>\n{\"type\":\"done\"}\r\n☃"), "text/plain": String("<Image>")}), display_id: None, truncated: {}, metadata: {} })
    frame Result(BundleData { id: ExecId("a"), bundle: MimeBundle({"text/plain": String("2")}), truncated: {}, metadata: {} })
    frame UpdateDisplay(UpdateDisplay { id: ExecId("a"), bundle: MimeBundle({"image/jpeg": String("/9g="), "text/plain": String("x")}), display_id: "d", truncated: {}, metadata: {} })
    frame Done(Done { id: ExecId("a"), status: Ok, execution_count: None, cancelled: false })
    "#);
}

#[test]
fn binary_parts_are_standard_base64_with_padding() {
    // RFC 4648's test vectors.
    let vectors: [&[u8]; 7] = [b"", b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"];
    let parts: Vec<(&str, &[u8], bool)> = ["a/0", "a/1", "a/2", "a/3", "a/4", "a/5", "a/6"]
        .into_iter()
        .zip(vectors)
        .map(|(mime, bytes)| (mime, bytes, true))
        .collect();
    insta::assert_snapshot!(check(1000, 1000, &display("display", "{}", &parts)), @r#"frame Display(DisplayData { id: ExecId("a"), bundle: MimeBundle({"a/0": String(""), "a/1": String("Zg=="), "a/2": String("Zm8="), "a/3": String("Zm9v"), "a/4": String("Zm9vYg=="), "a/5": String("Zm9vYmE="), "a/6": String("Zm9vYmFy")}), display_id: None, truncated: {}, metadata: {} })"#);
}

#[test]
fn a_payload_may_exceed_the_line_limit_up_to_the_payload_limit() {
    let html = "h".repeat(150);
    let mut input = display("display", "{}", &[("text/html", html.as_bytes(), false)]);
    input.extend_from_slice(DONE);
    // Lines up to 100 bytes, payloads up to 150: the frame comes whole.
    let decoded = check(100, 150, &input);
    assert!(
        decoded.starts_with("frame Display") && decoded.contains(&html),
        "{decoded}"
    );
    // Payloads up to 149: malformed, not waited for; the payload line is too long for a
    // line and the stream goes on with `done`.
    insta::assert_snapshot!(check(100, 149, &input), @r#"
    malformed (invalid frame: a payload of 150 bytes exceeds the limit of 149) len=94 preview="{\"type\":\"display\",\"id\":\"a\",\"bundle\":{},\"parts\":[{\"mime\":\"text/html\",\"bytes\":150}],\"bytes\":150}"
    malformed (too long) len=150 preview="hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"
    frame Done(Done { id: ExecId("a"), status: Ok, execution_count: None, cancelled: false })
    "#);
}

#[test]
fn bad_parts_are_malformed_and_the_stream_goes_on() {
    let mut input = Vec::new();
    // Parts that do not add up to `bytes`.
    input.extend_from_slice(
        b"{\"type\":\"display\",\"id\":\"a\",\"bundle\":{},\"parts\":[{\"mime\":\"t\",\"bytes\":2}],\"bytes\":3}\nabc\n",
    );
    // A text part that is not UTF-8.
    input.extend(display("display", "{}", &[("text/html", b"\xff", false)]));
    // A part whose type is also in the bundle.
    input.extend(display(
        "display",
        r#"{"text/html":"x"}"#,
        &[("text/html", b"y", false)],
    ));
    // Parts on a stream frame, and on a frame that takes no payload.
    input.extend_from_slice(
        b"{\"type\":\"stdout\",\"id\":\"a\",\"parts\":[{\"mime\":\"t\",\"bytes\":1}],\"bytes\":1}\nx\n",
    );
    input.extend_from_slice(
        b"{\"type\":\"error\",\"id\":\"a\",\"parts\":[{\"mime\":\"t\",\"bytes\":1}],\"bytes\":1}\nx\n",
    );
    // A malformed `parts` member.
    input.extend_from_slice(
        b"{\"type\":\"display\",\"id\":\"a\",\"bundle\":{},\"parts\":7,\"bytes\":1}\nx\n",
    );
    input.extend_from_slice(DONE);
    // Cut by the end of the stream.
    let cut = display("display", "{}", &[("image/png", b"0123456789", true)]);
    input.extend_from_slice(&cut[..cut.len() - 6]);
    insta::assert_snapshot!(check(1000, 1000, &input), @r#"
    malformed (invalid frame: the parts do not add up to the 3-byte payload) len=82 preview="{\"type\":\"display\",\"id\":\"a\",\"bundle\":{},\"parts\":[{\"mime\":\"t\",\"bytes\":2}],\"bytes\":3}"
    malformed (invalid json: expected value at line 1 column 1) len=3 preview="abc"
    malformed (invalid utf-8) len=90 preview="{\"type\":\"display\",\"id\":\"a\",\"bundle\":{},\"parts\":[{\"mime\":\"text/html\",\"bytes\":1}],\"bytes\":1}"
    malformed (invalid frame: part `text/html` is also in the bundle) len=105 preview="{\"type\":\"display\",\"id\":\"a\",\"bundle\":{\"text/html\":\"x\"},\"parts\":[{\"mime\":\"text/html\",\"bytes\":1}],\"bytes\":1}"
    malformed (invalid frame: a stream frame's payload has no parts) len=69 preview="{\"type\":\"stdout\",\"id\":\"a\",\"parts\":[{\"mime\":\"t\",\"bytes\":1}],\"bytes\":1}"
    malformed (invalid frame: this frame cannot carry a payload) len=68 preview="{\"type\":\"error\",\"id\":\"a\",\"parts\":[{\"mime\":\"t\",\"bytes\":1}],\"bytes\":1}"
    malformed (invalid frame: invalid type: integer `7`, expected a sequence at line 1 column 48) len=59 preview="{\"type\":\"display\",\"id\":\"a\",\"bundle\":{},\"parts\":7,\"bytes\":1}"
    malformed (invalid json: expected value at line 1 column 1) len=1 preview="x"
    frame Done(Done { id: ExecId("a"), status: Ok, execution_count: None, cancelled: false })
    malformed (invalid frame: the stream ended 5 bytes into a 10-byte payload) len=106 preview="{\"type\":\"display\",\"id\":\"a\",\"bundle\":{},\"parts\":[{\"mime\":\"image/png\",\"bytes\":10,\"binary\":true}],\"bytes\":10}"
    "#);
}

#[test]
fn the_truncated_member_says_what_the_runner_cut() {
    let input = b"{\"type\":\"display\",\"id\":\"a\",\"bundle\":{\"text/plain\":\"[output truncated]\"},\"truncated\":{\"text/html\":73400320}}\n";
    insta::assert_snapshot!(check(1000, 1000, input), @r#"frame Display(DisplayData { id: ExecId("a"), bundle: MimeBundle({"text/plain": String("[output truncated]")}), display_id: None, truncated: {"text/html": 73400320}, metadata: {} })"#);
}

/// Reads standard base64 back, for checking what the decoder wrote.
fn unbase64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|&byte| byte != b'=') {
        let value = ALPHABET
            .iter()
            .position(|&c| c == byte)
            .expect("base64 alphabet");
        bits = bits << 6 | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

const BINARY_MIME: &str = "application/x-pykernel-test";

proptest! {
    /// Frames in the payload form (every string entry of a display a text part, plus a
    /// binary part) and as JSON lines, cut anywhere, decode to the frames sent, with the
    /// binary part as base64 of its bytes.
    #[test]
    fn display_payloads_survive_any_split(
        events in vec((arb_event(), any::<bool>(), vec(any::<u8>(), 0..40)), 1..8),
        cuts in vec(any::<Index>(), 0..12),
    ) {
        let mut input = Vec::new();
        let mut sent = Vec::new();
        for (event, as_payload, binary) in events {
            let has_bundle = matches!(event, Event::Display(_) | Event::Result(_) | Event::UpdateDisplay(_));
            let binary: Vec<(&str, &[u8])> = if has_bundle && as_payload {
                vec![(BINARY_MIME, &binary)]
            } else {
                Vec::new()
            };
            if as_payload {
                input.extend(payload_form(&event, &binary));
            } else {
                input.extend(serde_json::to_vec(&event).unwrap());
                input.push(b'\n');
            }
            sent.push((event, binary.first().map(|(_, bytes)| bytes.to_vec())));
        }
        let chunks = split_at_cuts(&input, &cuts);
        let decoded = decode_stream(&mut NdjsonCodec::<Event>::new(), chunks);
        prop_assert_eq!(decoded.len(), sent.len());
        for (decoded, (event, binary)) in decoded.into_iter().zip(sent) {
            let Decoded::Frame(mut decoded) = decoded else {
                return Err(TestCaseError::fail(format!("malformed: {decoded:?}")));
            };
            if let Some(bytes) = binary {
                let bundle = match &mut decoded {
                    Event::Display(frame) => &mut frame.bundle,
                    Event::Result(frame) => &mut frame.bundle,
                    Event::UpdateDisplay(frame) => &mut frame.bundle,
                    _ => return Err(TestCaseError::fail("a binary part on a frame without a bundle")),
                };
                let mut map = std::mem::take(bundle).into_map();
                let value = map.remove(BINARY_MIME).and_then(|value| value.as_str().map(unbase64));
                prop_assert_eq!(value, Some(bytes));
                *bundle = map.into();
            }
            prop_assert_eq!(decoded, event);
        }
    }
}

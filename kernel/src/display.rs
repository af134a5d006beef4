//! Rendering a MIME bundle for a text consumer: one text plus typed side outputs.
//!
//! [`render_bundle`] turns what a cell displayed into what an agent, an editor or a log
//! can show: a text (markdown, plain text, HTML reduced to text, or LaTeX source) and a
//! list of [`RenderedOutput`]s for what text cannot carry (images, JSON, status events).
//!
//! The rules, in order:
//! 1. A status bundle (`application/x-pykernel-status`, or the seed's
//!    `application/x-omp-status`) whose value is an object with an `op` key yields one
//!    [`RenderedOutput::Status`] and no text; every other key is ignored.
//! 2. `image/png`, `image/jpeg`, `image/gif` and `image/svg+xml`, in that order, become
//!    [`RenderedOutput::Image`]s.
//! 3. `application/json` (a JSON `null` counts) becomes a [`RenderedOutput::Json`].
//! 4. The text is the first non-blank of `text/markdown`, `text/plain`, `text/html`
//!    (reduced by [`html_to_text`]) and `text/latex`. Markdown, HTML and LaTeX add a
//!    marker output saying where the text came from. A blank `text/plain` does not hide
//!    the HTML (the seed lost it, its bug 15).
//! 5. A non-empty text ends with `\n`.
//!
//! A Jupyter envelope `{"data": {...}, "metadata": {...}}` is rendered as its `data`.
//! Text values may also be arrays of strings (nbformat's multi-line form); other value
//! types are skipped without error. Everything is bounded by [`RenderLimits`], and
//! whatever is cut says so in a visible notice.
//!
//! The HTML-to-text converter is its own concern, in `display/html.rs`.

mod html;

use std::{borrow::Cow, fmt::Write as _, io};

use pykernel_protocol::MimeBundle;
use serde_json::{Map, Value};

pub use crate::display::html::html_to_text;

/// The MIME type of status events (`log`, `phase`, progress) that the prelude emits.
pub const STATUS_MIME: &str = "application/x-pykernel-status";
/// The seed's MIME type for status events, still accepted.
pub const LEGACY_STATUS_MIME: &str = "application/x-omp-status";

/// The default bound on the rendered text: 1 MiB.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 1 << 20;
/// The default bound on one JSON or status value, measured pretty-printed: 1 MiB.
pub const DEFAULT_MAX_JSON_BYTES: usize = 1 << 20;
/// The default bound on one image's decoded size: 16 MiB.
pub const DEFAULT_MAX_IMAGE_BYTES: usize = 16 << 20;

/// The image MIME types handed out as image outputs, in output order.
const IMAGE_MIMES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", SVG_MIME];
const SVG_MIME: &str = "image/svg+xml";
const JSON_MIME: &str = "application/json";

/// How much of a bundle [`render_bundle`] keeps. Build it with [`RenderLimits::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderLimits {
    /// The most bytes of text kept; the truncation notice comes on top.
    pub max_text_bytes: usize,
    /// The largest JSON or status value, in bytes of its pretty-printed form.
    pub max_json_bytes: usize,
    /// The largest image, in decoded bytes (SVG: bytes of its text).
    pub max_image_bytes: usize,
}

impl RenderLimits {
    /// The defaults: 1 MiB of text, 1 MiB per JSON value, 16 MiB per image.
    pub fn new() -> Self {
        Self {
            max_text_bytes: DEFAULT_MAX_TEXT_BYTES,
            max_json_bytes: DEFAULT_MAX_JSON_BYTES,
            max_image_bytes: DEFAULT_MAX_IMAGE_BYTES,
        }
    }

    /// Sets the bound on the rendered text.
    pub fn with_max_text_bytes(mut self, max: usize) -> Self {
        self.max_text_bytes = max;
        self
    }

    /// Sets the bound on one JSON or status value.
    pub fn with_max_json_bytes(mut self, max: usize) -> Self {
        self.max_json_bytes = max;
        self
    }

    /// Sets the bound on one image.
    pub fn with_max_image_bytes(mut self, max: usize) -> Self {
        self.max_image_bytes = max;
        self
    }
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// A bundle rendered for a text consumer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// The text to show; empty, or ending with `\n`.
    pub text: String,
    /// What the text cannot carry, in a fixed order: images, JSON, then a text marker.
    pub outputs: Vec<RenderedOutput>,
    /// Whether anything was cut or left out because of the [`RenderLimits`].
    pub truncated: bool,
}

/// One non-text output of a rendered bundle.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RenderedOutput {
    /// An image, to show or hand to a model as image content.
    Image {
        /// `image/png`, `image/jpeg`, `image/gif` or `image/svg+xml`.
        mime: String,
        /// Base64 without whitespace for the binary types; for `image/svg+xml`, the SVG
        /// document itself as text (not base64).
        data: String,
        /// The image's size in bytes: decoded from base64, or the SVG text's length.
        bytes: usize,
    },
    /// The `application/json` value.
    Json(Value),
    /// An `application/json` value over [`RenderLimits::max_json_bytes`]: the start of
    /// its pretty-printed form, ending with a truncation notice.
    JsonPreview {
        /// The kept prefix and the notice.
        text: String,
        /// The size of the whole pretty-printed value.
        bytes: usize,
    },
    /// A value left out because it is over its limit; the text carries a notice for
    /// images.
    Omitted {
        /// The MIME type that was left out.
        mime: String,
        /// Its size, measured as its limit measures it.
        bytes: usize,
    },
    /// A structured status event such as `{"op": "phase", "title": "Scan"}`.
    Status(Value),
    /// The text is `text/markdown`.
    Markdown,
    /// The text was reduced from `text/html` (to markdown-like text).
    Html,
    /// The text is `text/latex` source.
    Latex,
}

/// Renders `bundle` as text plus side outputs, within `limits`; see the module docs.
///
/// Never fails: values of an unexpected type are skipped.
pub fn render_bundle(bundle: &MimeBundle, limits: &RenderLimits) -> Rendered {
    let map = unwrap_envelope(bundle.as_map());
    let mut rendered = Rendered::default();

    for mime in [STATUS_MIME, LEGACY_STATUS_MIME] {
        if let Some(value) = map.get(mime) {
            render_status(mime, value, limits, &mut rendered);
            return rendered;
        }
    }

    let mut notices = Vec::new();
    for mime in IMAGE_MIMES {
        if let Some(value) = map.get(mime) {
            render_image(mime, value, limits, &mut rendered, &mut notices);
        }
    }
    if let Some(value) = map.get(JSON_MIME) {
        let output = render_json(value, limits.max_json_bytes);
        rendered.truncated |= matches!(output, RenderedOutput::JsonPreview { .. });
        rendered.outputs.push(output);
    }

    if let Some((text, marker)) = choose_text(map) {
        let (text, truncated) = bound_text(&text, limits.max_text_bytes);
        rendered.text = text;
        rendered.truncated |= truncated;
        rendered.outputs.extend(marker);
    }
    for notice in notices {
        rendered.text.push_str(&notice);
        rendered.text.push('\n');
    }
    rendered
}

/// Uses the `data` of a Jupyter envelope, or the bundle itself.
fn unwrap_envelope(map: &Map<String, Value>) -> &Map<String, Value> {
    let has_mime_key = map.keys().any(|key| key.contains('/'));
    match map.get("data") {
        Some(Value::Object(data)) if !has_mime_key => data,
        _ => map,
    }
}

fn render_status(mime: &str, value: &Value, limits: &RenderLimits, rendered: &mut Rendered) {
    let has_op = value
        .as_object()
        .is_some_and(|event| event.contains_key("op"));
    if !has_op {
        tracing::debug!(
            mime,
            "ignoring a status value that is not an object with `op`"
        );
        return;
    }
    let size = pretty_json(value, 0).total;
    if size > limits.max_json_bytes {
        rendered.outputs.push(RenderedOutput::Omitted {
            mime: mime.to_owned(),
            bytes: size,
        });
        rendered.truncated = true;
        return;
    }
    rendered.outputs.push(RenderedOutput::Status(value.clone()));
}

fn render_image(
    mime: &str,
    value: &Value,
    limits: &RenderLimits,
    rendered: &mut Rendered,
    notices: &mut Vec<String>,
) {
    let Some(raw) = text_value(value) else {
        tracing::debug!(mime, "ignoring an image that is not a string");
        return;
    };
    let is_svg = mime == SVG_MIME;
    let bytes = if is_svg {
        raw.len()
    } else {
        base64_decoded_len(&raw)
    };
    if bytes > limits.max_image_bytes {
        rendered.outputs.push(RenderedOutput::Omitted {
            mime: mime.to_owned(),
            bytes,
        });
        rendered.truncated = true;
        notices.push(format!(
            "[{mime} omitted: {bytes} bytes, over the {}-byte limit]",
            limits.max_image_bytes
        ));
        return;
    }
    let data = if is_svg {
        raw.into_owned()
    } else {
        raw.chars().filter(|c| !c.is_ascii_whitespace()).collect()
    };
    rendered.outputs.push(RenderedOutput::Image {
        mime: mime.to_owned(),
        data,
        bytes,
    });
}

fn render_json(value: &Value, max_bytes: usize) -> RenderedOutput {
    let sink = pretty_json(value, max_bytes);
    if sink.total <= max_bytes {
        return RenderedOutput::Json(value.clone());
    }
    let head = match std::str::from_utf8(&sink.head) {
        Ok(head) => head,
        // The head was cut at a byte count, maybe inside a character: keep what is whole.
        Err(err) => std::str::from_utf8(&sink.head[..err.valid_up_to()]).unwrap_or_default(),
    };
    let mut text = head.to_owned();
    push_truncation_notice(&mut text, sink.total - head.len());
    RenderedOutput::JsonPreview {
        text,
        bytes: sink.total,
    }
}

/// Pretty-prints `value`, keeping the first `keep` bytes and counting all of them.
fn pretty_json(value: &Value, keep: usize) -> BoundedSink {
    let mut sink = BoundedSink {
        head: Vec::new(),
        keep,
        total: 0,
    };
    // Writing a `Value` cannot fail: its keys are strings and the sink never errors.
    if let Err(err) = serde_json::to_writer_pretty(&mut sink, value) {
        tracing::debug!(%err, "pretty-printing a json value failed");
    }
    sink
}

/// An `io::Write` that keeps a bounded head and counts everything.
struct BoundedSink {
    head: Vec<u8>,
    keep: usize,
    total: usize,
}

impl io::Write for BoundedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.keep.saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..room.min(buf.len())]);
        self.total += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Picks the text and the marker saying where it came from.
fn choose_text(map: &Map<String, Value>) -> Option<(Cow<'_, str>, Option<RenderedOutput>)> {
    let non_blank = |mime: &str| {
        map.get(mime)
            .and_then(text_value)
            .filter(|text| !text.trim().is_empty())
    };
    if let Some(text) = non_blank("text/markdown") {
        return Some((text, Some(RenderedOutput::Markdown)));
    }
    if let Some(text) = non_blank("text/plain") {
        return Some((text, None));
    }
    if let Some(html) = non_blank("text/html") {
        let text = html_to_text(&html);
        if !text.is_empty() {
            return Some((Cow::Owned(text), Some(RenderedOutput::Html)));
        }
    }
    if let Some(text) = non_blank("text/latex") {
        return Some((text, Some(RenderedOutput::Latex)));
    }
    None
}

/// A string value, or an array of strings joined (nbformat's multi-line form).
fn text_value(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Array(parts) => {
            let mut joined = String::new();
            for part in parts {
                joined.push_str(part.as_str()?);
            }
            Some(Cow::Owned(joined))
        }
        _ => None,
    }
}

/// The decoded size of base64 `data`, ignoring whitespace and padding.
fn base64_decoded_len(data: &str) -> usize {
    let symbols = data
        .bytes()
        .filter(|byte| !byte.is_ascii_whitespace() && *byte != b'=')
        .count();
    symbols / 4 * 3 + (symbols % 4).saturating_sub(1)
}

/// Keeps at most `max_bytes` of `text`, cut on a char boundary, and ends it with `\n`.
/// The final newline and the truncation notice do not count against the bound.
fn bound_text(text: &str, max_bytes: usize) -> (String, bool) {
    if text.len() <= max_bytes {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        return (out, false);
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = text[..cut].to_owned();
    push_truncation_notice(&mut out, text.len() - cut);
    (out, true)
}

/// Appends `[... truncated N bytes ...]` on its own line.
fn push_truncation_notice(text: &mut String, dropped: usize) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let unit = if dropped == 1 { "byte" } else { "bytes" };
    // Writing to a `String` cannot fail.
    let _ = writeln!(text, "[... truncated {dropped} {unit} ...]");
}

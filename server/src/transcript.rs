//! One cell's outputs as bounded text plus images, for a text consumer such as a model.

use pykernel::{Output, PyError, RenderLimits, RenderedOutput, render_bundle};

use crate::bounded::{Artifact, Artifacts, BoundedText};

/// At most this many images are kept per cell; more are named in the text.
pub const MAX_IMAGES: usize = 16;
/// At most this many bytes of images (decoded) are kept per cell.
pub const MAX_IMAGE_BYTES: usize = 32 << 20;

/// Collects a cell's outputs in order: stream text with ANSI escapes stripped, rich
/// outputs rendered to text (see [`render_bundle`]), the traceback as text, and images
/// on the side. The text is a [`BoundedText`].
pub struct Transcript<'a> {
    text: BoundedText<'a>,
    ansi: AnsiStripper,
    images: Vec<Image>,
    image_bytes: usize,
    images_dropped: bool,
    limits: RenderLimits,
    error: Option<PyError>,
}

/// An image from a rich output, to hand on as image content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// `image/png`, `image/jpeg` or `image/gif`.
    pub mime: String,
    /// The image as base64, without whitespace.
    pub data: String,
}

/// A finished [`Transcript`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellText {
    /// The bounded text.
    pub text: String,
    /// The images, in order.
    pub images: Vec<Image>,
    /// Whether text or images were left out.
    pub truncated: bool,
    /// Where the whole text was saved, when it was cut.
    pub artifact: Option<Artifact>,
    /// The exception that ended the cell, when one did.
    pub error: Option<PyError>,
}

impl<'a> Transcript<'a> {
    /// An empty transcript whose text keeps at most `limit` characters before it spills
    /// into `artifacts`.
    pub fn new(artifacts: &'a Artifacts, limit: usize) -> Self {
        Self {
            text: BoundedText::new(artifacts, limit),
            ansi: AnsiStripper::default(),
            images: Vec::new(),
            image_bytes: 0,
            images_dropped: false,
            limits: RenderLimits::new(),
            error: None,
        }
    }

    /// Adds one output.
    pub fn push(&mut self, output: &Output) {
        match output {
            Output::Stdout(text) | Output::Stderr(text) => self.push_text(text),
            Output::Display(bundle) | Output::Result(bundle) => {
                let rendered = render_bundle(bundle, &self.limits);
                self.push_text(&rendered.text);
                for output in rendered.outputs {
                    self.push_rendered(output, rendered.text.is_empty());
                }
            }
            Output::Error(error) => {
                self.push_error_text(error);
                self.error = Some(error.clone());
            }
            Output::InputRequest { prompt, .. } => self.push_text(prompt),
            _ => {}
        }
    }

    /// Adds text as if the cell printed it (ANSI escapes are stripped).
    pub fn push_text(&mut self, text: &str) {
        let clean = self.ansi.strip(text);
        self.text.push(&clean);
    }

    /// The last line of text so far, for progress reports.
    pub fn last_line(&self) -> &str {
        self.text.last_line()
    }

    /// Ends the transcript.
    pub fn finish(self) -> CellText {
        let bounded = self.text.finish();
        CellText {
            text: bounded.text,
            truncated: bounded.truncated || self.images_dropped,
            images: self.images,
            artifact: bounded.artifact,
            error: self.error,
        }
    }

    fn push_error_text(&mut self, error: &PyError) {
        if error.traceback.is_empty() {
            self.push_text(&format!("{}: {}\n", error.ename, error.evalue));
            return;
        }
        for line in &error.traceback {
            self.push_text(line);
            if !line.ends_with('\n') {
                self.push_text("\n");
            }
        }
    }

    fn push_rendered(&mut self, output: RenderedOutput, text_empty: bool) {
        match output {
            RenderedOutput::Image { mime, data, bytes } if mime != "image/svg+xml" => {
                if self.images.len() >= MAX_IMAGES || self.image_bytes + bytes > MAX_IMAGE_BYTES {
                    self.images_dropped = true;
                    self.push_text(&format!(
                        "[{mime} image of {bytes} bytes left out: over {MAX_IMAGES} images or {} MB per cell]\n",
                        MAX_IMAGE_BYTES >> 20
                    ));
                    return;
                }
                self.image_bytes += bytes;
                self.images.push(Image { mime, data });
            }
            RenderedOutput::Json(value) if text_empty => {
                let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
                self.push_text(&pretty);
                self.push_text("\n");
            }
            RenderedOutput::JsonPreview { text, .. } if text_empty => {
                self.push_text(&text);
                self.push_text("\n");
            }
            RenderedOutput::Status(value) => {
                self.push_text(&format!("[status] {value}\n"));
            }
            _ => {}
        }
    }
}

/// Removes ANSI escape sequences (CSI such as colours, OSC such as titles and links, and
/// two-character escapes) from text that may arrive split anywhere.
#[derive(Debug, Default)]
pub(crate) struct AnsiStripper {
    state: AnsiState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum AnsiState {
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// Inside `ESC [`, until a final byte in `@..~`.
    Csi,
    /// Inside `ESC ]`, until BEL or `ESC \`.
    Osc,
    /// ESC inside an OSC.
    OscEscape,
}

impl AnsiStripper {
    /// `text` without the escape sequences; a sequence cut at the end is finished by the
    /// next call.
    pub(crate) fn strip(&mut self, text: &str) -> String {
        if self.state == AnsiState::Text && !text.contains('\u{1b}') {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            self.state = match (self.state, c) {
                (AnsiState::Text, '\u{1b}') => AnsiState::Escape,
                (AnsiState::Text, c) => {
                    out.push(c);
                    AnsiState::Text
                }
                (AnsiState::Escape, '[') => AnsiState::Csi,
                (AnsiState::Escape, ']') => AnsiState::Osc,
                (AnsiState::Escape, _) => AnsiState::Text,
                (AnsiState::Csi, '\u{40}'..='\u{7e}') => AnsiState::Text,
                (AnsiState::Csi, _) => AnsiState::Csi,
                (AnsiState::Osc, '\u{7}') => AnsiState::Text,
                (AnsiState::Osc, '\u{1b}') => AnsiState::OscEscape,
                (AnsiState::Osc, _) => AnsiState::Osc,
                (AnsiState::OscEscape, _) => AnsiState::Text,
            };
        }
        out
    }
}

#[cfg(test)]
mod tests;

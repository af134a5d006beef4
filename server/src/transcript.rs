//! One cell's outputs as bounded text plus images, for a text consumer such as a model.

use pykernel::{
    Artifact, Artifacts, Output, PyError, RenderLimits, RenderedOutput, TextCleaner, render_bundle,
};

use crate::bounded::BoundedText;

/// At most this many images are kept per cell; more are named in the text.
pub const MAX_IMAGES: usize = 16;
/// At most this many bytes of images (decoded) are kept per cell.
pub const MAX_IMAGE_BYTES: usize = 32 << 20;

/// Collects a cell's outputs in order: stream text cleaned as a terminal would show it
/// (see [`TextCleaner`]: ANSI escapes stripped, carriage-return overwrites resolved, so
/// a progress bar leaves only its last state), rich outputs rendered to text (see
/// [`render_bundle`]), the traceback as text, and images on the side. The text is a
/// [`BoundedText`]; what it cuts is saved whole, cleaned.
pub struct Transcript<'a> {
    text: BoundedText<'a>,
    cleaner: TextCleaner,
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
            cleaner: TextCleaner::new(),
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
            Output::Display { bundle, .. }
            | Output::DisplayWithId { bundle, .. }
            | Output::Result { bundle, .. } => {
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

    /// Adds text as if the cell printed it (cleaned; a line is held back until its
    /// newline, since a carriage return may still overwrite it).
    pub fn push_text(&mut self, text: &str) {
        let clean = self.cleaner.push(text);
        self.text.push(&clean);
    }

    /// The last line of text so far, for progress reports: the line being written, else
    /// the last whole one.
    pub fn last_line(&self) -> &str {
        match self.cleaner.pending() {
            "" => self.text.last_line(),
            pending => pending,
        }
    }

    /// Ends the transcript.
    pub fn finish(mut self) -> CellText {
        let rest = self.cleaner.finish();
        self.text.push(&rest);
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

#[cfg(test)]
mod tests;

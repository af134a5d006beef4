//! Bounded text for text consumers; what was cut is saved whole as an artifact.
//!
//! A model's context (or a terminal) should not get a 1 GB print, but nothing printed may
//! be lost either. [`BoundedText`] keeps the head and the tail of a text in memory, and
//! once the text outgrows its limit it writes the whole text to an [`Artifacts`] file;
//! the rendered text then has a line saying how much was left out, where it is, and how
//! Python's `output()` reads it back.

use std::{
    fs,
    io::{self, BufWriter, Write},
};

use pykernel::{Artifact, Artifacts};

/// The default limit of text handed to a model, in characters.
pub const DEFAULT_OUTPUT_LIMIT: usize = 20_000;

/// A text that keeps at most about `limit` characters in memory: all of it while it fits,
/// then its head and its tail, with the whole text written to an artifact file.
///
/// Memory stays bounded whatever is pushed: the head holds at most `limit` characters and
/// the tail at most `limit` more between trims.
pub struct BoundedText<'a> {
    artifacts: &'a Artifacts,
    limit: usize,
    /// The whole text while it fits; after the spill, the first `limit / 2` characters.
    head: String,
    /// After the spill: the last characters (at most `2 * tail_limit` between trims).
    tail: String,
    total_chars: usize,
    total_lines: usize,
    spill: Option<Spill>,
}

struct Spill {
    artifact: Option<Artifact>,
    writer: Option<BufWriter<fs::File>>,
    error: Option<io::Error>,
}

/// A [`BoundedText`] at its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundedOutput {
    /// The text to hand on: all of it, or its head, a line saying what was left out, and
    /// its tail.
    pub text: String,
    /// Whether anything was left out.
    pub truncated: bool,
    /// How many characters were pushed.
    pub total_chars: usize,
    /// Where the whole text was saved, when it was cut and the save worked.
    pub artifact: Option<Artifact>,
}

impl<'a> BoundedText<'a> {
    /// An empty text that keeps at most `limit` characters (at least 2) before it spills
    /// into a file in `artifacts`.
    pub fn new(artifacts: &'a Artifacts, limit: usize) -> Self {
        Self {
            artifacts,
            limit: limit.max(2),
            head: String::new(),
            tail: String::new(),
            total_chars: 0,
            total_lines: 0,
            spill: None,
        }
    }

    /// Appends `text`.
    pub fn push(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let chars = text.chars().count();
        self.total_chars += chars;
        self.total_lines += text.bytes().filter(|&b| b == b'\n').count();
        match &mut self.spill {
            None if self.total_chars <= self.limit => self.head.push_str(text),
            None => {
                self.head.push_str(text);
                self.start_spill();
            }
            Some(spill) => {
                spill.write(text);
                self.tail.push_str(text);
                self.trim_tail();
            }
        }
    }

    /// The last complete or partial line pushed, without its newline (for progress).
    pub fn last_line(&self) -> &str {
        let text = if self.spill.is_some() {
            &self.tail
        } else {
            &self.head
        };
        let text = text.strip_suffix('\n').unwrap_or(text);
        text.rsplit('\n').next().unwrap_or("")
    }

    /// Whether the text was cut so far.
    pub fn truncated(&self) -> bool {
        self.spill.is_some()
    }

    /// Ends the text: flushes the file and renders the head, the notice and the tail.
    pub fn finish(mut self) -> BoundedOutput {
        let Some(mut spill) = self.spill.take() else {
            return BoundedOutput {
                text: self.head,
                truncated: false,
                total_chars: self.total_chars,
                artifact: None,
            };
        };
        spill.flush();
        let tail = whole_lines_tail(take_last_chars(&self.tail, self.limit - self.limit / 2));
        whole_lines_head(&mut self.head);
        let head_chars = self.head.chars().count();
        let tail_chars = tail.chars().count();
        let omitted = self.total_chars.saturating_sub(head_chars + tail_chars);
        let omitted_lines = self
            .total_lines
            .saturating_sub(self.head.matches('\n').count() + tail.matches('\n').count());
        let mut text = self.head;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let saved = match (&spill.artifact, &spill.error) {
            (Some(artifact), None) => format!(
                "the whole output ({} characters) is saved as artifact {id} in {}; read it in Python with output(\"{id}\")",
                group(self.total_chars),
                artifact.path.display(),
                id = artifact.id
            ),
            (_, Some(err)) => format!("the whole output could not be saved: {err}"),
            (None, None) => "the whole output could not be saved".to_owned(),
        };
        text.push_str(&format!(
            "[... {} characters ({} lines) left out; {saved} ...]\n",
            group(omitted),
            group(omitted_lines)
        ));
        text.push_str(tail);
        let artifact = if spill.error.is_none() {
            spill.artifact
        } else {
            None
        };
        BoundedOutput {
            text,
            truncated: true,
            total_chars: self.total_chars,
            artifact,
        }
    }

    /// The text outgrew the limit: save all of it so far, keep the head's first half
    /// and move the rest to the tail.
    fn start_spill(&mut self) {
        let mut spill = match self.artifacts.create() {
            Ok((artifact, file)) => Spill {
                artifact: Some(artifact),
                writer: Some(BufWriter::with_capacity(1 << 16, file)),
                error: None,
            },
            Err(err) => Spill {
                artifact: None,
                writer: None,
                error: Some(err),
            },
        };
        spill.write(&self.head);
        let keep = byte_index_of_char(&self.head, self.limit / 2);
        self.tail = self.head.split_off(keep);
        self.trim_tail();
        self.spill = Some(spill);
    }

    /// Drops the tail's oldest characters once it holds twice what it keeps (in bytes),
    /// so the trimming costs little per push.
    fn trim_tail(&mut self) {
        let keep = self.limit - self.limit / 2;
        // Bytes bound characters from above, so this never trims too early.
        if self.tail.len() <= 2 * keep {
            return;
        }
        let kept = take_last_chars(&self.tail, keep).to_owned();
        self.tail = kept;
    }
}

impl Spill {
    fn write(&mut self, text: &str) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        if let Err(err) = writer.write_all(text.as_bytes()) {
            self.error = Some(err);
            self.writer = None;
        }
    }

    fn flush(&mut self) {
        if let Some(mut writer) = self.writer.take()
            && let Err(err) = writer.flush()
        {
            self.error = Some(err);
        }
    }
}

/// Cuts `head` after its last newline when that keeps at least half of it, so the
/// head ends with a whole line.
fn whole_lines_head(head: &mut String) {
    if let Some(newline) = head.rfind('\n')
        && newline + 1 >= head.len() / 2
    {
        head.truncate(newline + 1);
    }
}

/// Starts `tail` after its first newline when that keeps at least half of it, so the
/// tail starts with a whole line.
fn whole_lines_tail(tail: &str) -> &str {
    match tail.find('\n') {
        Some(newline) if newline < tail.len() / 2 && newline + 1 < tail.len() => {
            &tail[newline + 1..]
        }
        _ => tail,
    }
}

/// The byte index where the `n`th character starts (the length when there are fewer).
fn byte_index_of_char(text: &str, n: usize) -> usize {
    text.char_indices().nth(n).map_or(text.len(), |(i, _)| i)
}

/// The last `n` characters of `text`.
fn take_last_chars(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let start = text.char_indices().rev().nth(n - 1).map_or(0, |(i, _)| i);
    &text[start..]
}

/// `1234567` as `1,234,567`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests;

//! Text as a terminal would finally show it, for a model or a log: ANSI escapes removed
//! and carriage-return overwrites resolved.
//!
//! A cell's raw output is what a terminal renders; a model or a log file gets the
//! resolved text instead (`"\x1b[31mred\r\n"` reads `"red\n"`, and a progress line
//! rewritten with `\r` reads as its last state). [`TextCleaner`] does it on text that
//! arrives in pieces split anywhere; [`clean_text`] on one whole text.

/// A line longer than this many bytes is passed on before its end, so memory stays
/// bounded; a carriage return after that point starts a new line instead of overwriting.
const MAX_HELD_LINE: usize = 64 << 10;

/// Cleans text that arrives in pieces: removes ANSI escape sequences (CSI such as
/// colours, OSC such as titles and links, and two-character escapes) and control
/// characters other than tab and newline, reads `\r\n` as a newline, lets a lone `\r`
/// start its line over (so only the last state of a progress line remains), and lets a
/// backspace remove the character before it.
///
/// The line being written is held back until its newline, because a later `\r` may still
/// overwrite it; [`TextCleaner::pending`] shows it, and [`TextCleaner::finish`] hands it
/// on at the end. A line longer than 64 KiB is passed on early.
///
/// ```
/// use pykernel::TextCleaner;
///
/// let mut cleaner = TextCleaner::new();
/// let mut text = cleaner.push("\x1b[32m10%\r50");
/// text += &cleaner.push("%\r100%\n");
/// text += &cleaner.finish();
/// assert_eq!(text, "100%\n");
/// ```
#[derive(Clone, Debug, Default)]
pub struct TextCleaner {
    escape: Escape,
    /// The line written since the last newline, which a `\r` may still overwrite.
    line: String,
    /// The last character was `\r`: a newline if `\n` follows, else an overwrite.
    after_cr: bool,
    /// Part of the current line was already passed on (it grew too long).
    line_passed_on: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [`, until a final byte in `@..~`.
    Csi,
    /// Inside `ESC ]`, until BEL or `ESC \`.
    Osc,
    /// ESC inside an OSC.
    OscEnd,
}

impl TextCleaner {
    /// A cleaner at the start of a line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cleans `text` and returns what is final: every line it completed (the newline
    /// included), and any part of a line that grew past 64 KiB.
    pub fn push(&mut self, text: &str) -> String {
        if let Some(out) = self.push_plain(text) {
            return out;
        }
        let mut out = String::new();
        for c in text.chars() {
            self.push_char(c, &mut out);
        }
        out
    }

    /// The line held back so far, as it reads now (for a progress display).
    pub fn pending(&self) -> &str {
        &self.line
    }

    /// Ends the text: returns the line held back (without a newline it never got).
    pub fn finish(&mut self) -> String {
        let line = std::mem::take(&mut self.line);
        *self = Self::default();
        line
    }

    /// The fast path for text with nothing to clean, in the plain state; `None` when the
    /// text needs the slow path.
    fn push_plain(&mut self, text: &str) -> Option<String> {
        if self.escape != Escape::None || self.after_cr || needs_cleaning(text) {
            return None;
        }
        let Some(newline) = text.rfind('\n') else {
            self.line.push_str(text);
            return Some(self.pass_on_long_line());
        };
        let mut out = std::mem::take(&mut self.line);
        out.push_str(&text[..=newline]);
        self.line.push_str(&text[newline + 1..]);
        self.line_passed_on = false;
        out.push_str(&self.pass_on_long_line());
        Some(out)
    }

    fn push_char(&mut self, c: char, out: &mut String) {
        self.escape = match (self.escape, c) {
            (Escape::None, '\u{1b}') => Escape::Start,
            (Escape::None, c) => {
                self.push_text_char(c, out);
                Escape::None
            }
            (Escape::Start, '[') => Escape::Csi,
            (Escape::Start, ']') => Escape::Osc,
            (Escape::Start, _) => Escape::None,
            (Escape::Csi, '\u{40}'..='\u{7e}') => Escape::None,
            (Escape::Csi, _) => Escape::Csi,
            (Escape::Osc, '\u{7}') => Escape::None,
            (Escape::Osc, '\u{1b}') => Escape::OscEnd,
            (Escape::Osc, _) => Escape::Osc,
            (Escape::OscEnd, _) => Escape::None,
        };
    }

    fn push_text_char(&mut self, c: char, out: &mut String) {
        if std::mem::take(&mut self.after_cr) && c != '\n' {
            // A lone carriage return: what follows overwrites the line.
            self.line.clear();
            if std::mem::take(&mut self.line_passed_on) {
                // Its start is gone already; the new state goes on a line of its own.
                out.push('\n');
            }
        }
        match c {
            '\n' => {
                out.push_str(&self.line);
                out.push('\n');
                self.line.clear();
                self.line_passed_on = false;
            }
            '\r' => self.after_cr = true,
            '\u{8}' => {
                self.line.pop();
            }
            '\t' => self.line.push(c),
            c if c.is_control() => {}
            c => {
                self.line.push(c);
                out.push_str(&self.pass_on_long_line());
            }
        }
    }

    /// Passes the held line on when it grew too long.
    fn pass_on_long_line(&mut self) -> String {
        if self.line.len() <= MAX_HELD_LINE {
            return String::new();
        }
        self.line_passed_on = true;
        std::mem::take(&mut self.line)
    }
}

/// `text` cleaned as a whole (see [`TextCleaner`]).
///
/// ```
/// assert_eq!(pykernel::clean_text("\x1b[31mred\r\n"), "red\n");
/// assert_eq!(pykernel::clean_text("10%\r50%\r100%\n"), "100%\n");
/// ```
pub fn clean_text(text: &str) -> String {
    let mut cleaner = TextCleaner::new();
    let mut out = cleaner.push(text);
    out.push_str(&cleaner.finish());
    out
}

/// Whether `text` holds anything but plain characters, tabs and newlines: an escape, a
/// carriage return or another control character (C1 controls start with byte 0xC2).
fn needs_cleaning(text: &str) -> bool {
    text.bytes()
        .any(|b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f || b == 0xc2)
}

#[cfg(test)]
mod tests;

//! When a REPL cell is complete: the rule behind the `...:` continuation prompt.
//!
//! The rule, in order:
//! 1. While a bracket (`(`, `[`, `{`) or a triple-quoted string is open, or the last
//!    line ends with a backslash, the cell goes on.
//! 2. Once a line ends with `:` outside any bracket (a block header such as `def f():`
//!    or `for x in y:`), or the cell starts with a decorator `@` or a cell magic `%%`,
//!    the cell goes on until an empty line.
//! 3. Otherwise the line just entered completes the cell.
//!
//! Strings and comments are skipped when looking for brackets and colons. The rule does
//! not parse Python: a cell it calls complete may still be a syntax error, which the
//! kernel then reports.
//!
//! A paste can bring several lines in one editor entry; [`PendingCell`] splits it and
//! applies the rule once to everything entered so far, so a pasted block's own blank
//! lines do not end it early.

/// Whether the cell made of `lines` (the last one just entered) needs more input.
pub(crate) fn needs_more(lines: &[&str]) -> bool {
    let mut scan = Scan::default();
    let mut block = false;
    let mut last_continues = false;
    for (index, line) in lines.iter().enumerate() {
        let line_end = scan.line(line);
        if index == 0 && scan.depth == 0 && scan.string.is_none() {
            let head = line.trim_start();
            block |= head.starts_with('@') || head.starts_with("%%");
        }
        block |= line_end.colon && scan.depth == 0 && scan.string.is_none();
        last_continues = line_end.backslash;
    }
    if scan.depth > 0 || scan.string.is_some() || last_continues {
        return true;
    }
    block && lines.last().is_some_and(|line| !line.trim().is_empty())
}

/// A cell being entered, fed one editor entry at a time.
#[derive(Debug, Default)]
pub(crate) struct PendingCell {
    lines: Vec<String>,
}

impl PendingCell {
    /// Whether nothing has been entered yet (blank lines before a cell do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines entered so far, each followed by a newline: what comes before the line
    /// being edited.
    pub(crate) fn text_so_far(&self) -> String {
        self.lines.iter().fold(String::new(), |mut text, line| {
            text.push_str(line);
            text.push('\n');
            text
        })
    }

    /// Adds one entry: a typed line, or several lines separated by `\n` from a paste.
    /// Returns the code once the cell is complete, and starts over.
    pub(crate) fn add(&mut self, entry: &str) -> Option<String> {
        for line in entry.split('\n') {
            if self.lines.is_empty() && line.trim().is_empty() {
                continue;
            }
            self.lines.push(line.to_owned());
        }
        let view: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        if view.is_empty() || needs_more(&view) {
            return None;
        }
        let cell = std::mem::take(&mut self.lines).join("\n");
        Some(cell.trim_end().to_owned())
    }
}

/// An open string literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenString {
    quote: char,
    triple: bool,
}

/// The lexical state carried from one line to the next.
#[derive(Debug, Default)]
struct Scan {
    /// How many brackets are open.
    depth: usize,
    /// The string literal open at the end of the last line, if any.
    string: Option<OpenString>,
}

/// What the end of one line looked like outside strings and comments.
#[derive(Debug, Default)]
struct LineEnd {
    /// The last significant character was `:`.
    colon: bool,
    /// The line ended with a continuation backslash.
    backslash: bool,
}

impl Scan {
    fn line(&mut self, line: &str) -> LineEnd {
        let mut end = LineEnd::default();
        let mut chars = line.chars().peekable();
        let mut last_significant = None;
        while let Some(ch) = chars.next() {
            if let Some(open) = self.string {
                match ch {
                    '\\' => {
                        // The backslash escapes the next character. At the end of the
                        // line it continues a single-quoted string; in a triple-quoted
                        // one it simply sits there.
                        let escaped = chars.next();
                        end.backslash = escaped.is_none() && !open.triple;
                    }
                    quote if quote == open.quote => {
                        let closes = !open.triple
                            || (chars.next_if_eq(&quote).is_some()
                                && chars.next_if_eq(&quote).is_some());
                        if closes {
                            self.string = None;
                        }
                    }
                    _ => {}
                }
                if self.string.is_none() {
                    last_significant = Some(ch);
                }
                continue;
            }
            match ch {
                '#' => break,
                '\'' | '"' => {
                    let triple = chars.clone().take(2).filter(|next| *next == ch).count() == 2;
                    if triple {
                        chars.next();
                        chars.next();
                    }
                    self.string = Some(OpenString { quote: ch, triple });
                }
                '(' | '[' | '{' => self.depth += 1,
                ')' | ']' | '}' => self.depth = self.depth.saturating_sub(1),
                '\\' if chars.peek().is_none() => end.backslash = true,
                _ => {}
            }
            if !ch.is_whitespace() {
                last_significant = Some(ch);
            }
        }
        // A single-quoted string cannot span lines without a backslash; Python reports
        // the error, and the next line starts fresh.
        if self.string.is_some_and(|open| !open.triple) && !end.backslash {
            self.string = None;
        }
        end.colon = last_significant == Some(':') && self.string.is_none();
        end
    }
}

#[cfg(test)]
mod tests;

//! Newline-delimited input with a line limit: a line over the limit is skipped, not held.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One item of the input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line, without its newline (and without a `\r` before it).
    Text(Vec<u8>),
    /// A line longer than the limit; its bytes were dropped as they came.
    TooLong,
}

/// Reads lines of at most `limit` bytes from a buffered reader.
pub(crate) struct Lines<R> {
    reader: R,
    limit: usize,
    line: Vec<u8>,
    /// Dropping the rest of a line that passed the limit.
    skipping: bool,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    pub(crate) fn new(reader: R, limit: usize) -> Self {
        Self {
            reader,
            limit,
            line: Vec::new(),
            skipping: false,
        }
    }

    /// The next line; `None` at the end of input. A last line without a newline counts;
    /// an empty line is skipped.
    ///
    /// # Cancel safety
    /// Not cancel safe when a line is split over reads: use it from one task in a loop.
    pub(crate) async fn next(&mut self) -> io::Result<Option<Line>> {
        loop {
            let buffer = self.reader.fill_buf().await?;
            if buffer.is_empty() {
                let skipped = std::mem::take(&mut self.skipping);
                let rest = std::mem::take(&mut self.line);
                return Ok(if skipped {
                    Some(Line::TooLong)
                } else if is_blank(&rest) {
                    None
                } else {
                    Some(Line::Text(rest))
                });
            }
            let (chunk, found) = match buffer.iter().position(|&byte| byte == b'\n') {
                Some(end) => (&buffer[..end], Some(end + 1)),
                None => (buffer, None),
            };
            if !self.skipping {
                if self.line.len() + chunk.len() > self.limit {
                    self.skipping = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            let consumed = found.unwrap_or(buffer.len());
            self.reader.consume(consumed);
            if found.is_none() {
                continue;
            }
            if std::mem::take(&mut self.skipping) {
                return Ok(Some(Line::TooLong));
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if is_blank(&line) {
                continue;
            }
            return Ok(Some(Line::Text(line)));
        }
    }
}

/// An empty or all-whitespace line carries no message.
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

//! Where the cursor is on a terminal, so a display can be redrawn in place and a cell's
//! output cleared.
//!
//! [`Screen`] follows what a cell wrote (rows, wrapping at the terminal's width) and turns
//! `update_display` and `clear_output` into ANSI cursor-up and erase sequences when what
//! they change is still on screen. It never guesses: once it cannot tell where the cell's
//! output starts (the user typed a line, a cursor-moving sequence went by, the output
//! scrolled past the top), an update is printed as a new output and a clear is ignored.

/// Follows a cell's output on one terminal (or on none: then it only passes text on).
#[derive(Debug)]
pub(crate) struct Screen {
    /// Columns and rows of the terminal; `None` when stdout is not a terminal.
    size: Option<Size>,
    /// Rows below the first row of the cell's output (since its start or its last clear)
    /// where the cursor is; `None` once that cannot be known.
    rows: Option<usize>,
    /// The cursor's column.
    col: usize,
    /// The display with an id that was the last thing written, and how many rows it took.
    last: Option<(String, usize)>,
    /// A `clear_output(wait=True)` waits for the next output.
    clear_pending: bool,
}

/// A terminal's size in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Size {
    /// Columns.
    pub(crate) cols: usize,
    /// Rows.
    pub(crate) rows: usize,
}

impl Screen {
    /// A screen of `size`, or no terminal at all.
    pub(crate) fn new(size: Option<Size>) -> Self {
        Self {
            size,
            rows: Some(0),
            col: 0,
            last: None,
            clear_pending: false,
        }
    }

    /// A new cell starts on a fresh line: earlier rows are not its own to clear.
    pub(crate) fn begin_cell(&mut self) {
        self.rows = Some(0);
        self.col = 0;
        self.last = None;
        self.clear_pending = false;
    }

    /// Whether updates and clears are drawn (a terminal) rather than ignored or appended.
    pub(crate) fn is_terminal(&self) -> bool {
        self.size.is_some()
    }

    /// What to write for plain output `text` (a pending clear first); it is no display
    /// with an id, so nothing can be redrawn in place after it.
    pub(crate) fn text(&mut self, text: &str) -> String {
        let mut out = self.take_pending_clear();
        out.push_str(text);
        self.advance(text);
        self.last = None;
        out
    }

    /// What to write for a display with `display_id` shown as `text` (on lines of its
    /// own on a terminal, so an update can redraw exactly those rows).
    pub(crate) fn display(&mut self, display_id: &str, text: &str) -> String {
        if !self.is_terminal() {
            return self.text(text);
        }
        let mut out = self.take_pending_clear();
        if self.col != 0 {
            out.push('\n');
            self.advance("\n");
        }
        let text = with_final_newline(text);
        let before = self.rows;
        out.push_str(&text);
        self.advance(&text);
        self.last = match (before, self.rows) {
            (Some(before), Some(after)) => Some((display_id.to_owned(), after - before)),
            _ => None,
        };
        out
    }

    /// What to write for an update of `display_id` to `text`: on a terminal where that
    /// display was the last thing written and is still whole on screen, erase it and draw
    /// `text` in its place; otherwise show `text` as a new output.
    pub(crate) fn update(&mut self, display_id: &str, text: &str) -> String {
        let Some(size) = self.size else {
            return self.text(text);
        };
        let in_place = match (&self.last, self.rows) {
            (Some((last_id, height)), Some(rows))
                if last_id == display_id && *height < size.rows =>
            {
                Some((rows, *height))
            }
            _ => None,
        };
        let Some((rows, height)) = in_place else {
            return self.display(display_id, text);
        };
        let mut out = cursor_up(height);
        out.push_str(ERASE_DOWN);
        self.rows = Some(rows - height);
        self.col = 0;
        // An update does not fire a pending clear, as in Jupyter.
        let pending = std::mem::take(&mut self.clear_pending);
        out.push_str(&self.display(display_id, text));
        self.clear_pending = pending;
        out
    }

    /// What to write for `clear_output`: with `wait`, nothing until the next output;
    /// otherwise erase the cell's rows when they are all still on screen. Nothing on a
    /// stream that is not a terminal.
    pub(crate) fn clear(&mut self, wait: bool) -> String {
        if !self.is_terminal() {
            return String::new();
        }
        if wait {
            self.clear_pending = true;
            return String::new();
        }
        self.clear_pending = false;
        self.erase_cell()
    }

    /// Follows text written outside of [`Screen::text`] (a prompt, stderr on the same
    /// terminal).
    pub(crate) fn advance(&mut self, text: &str) {
        let Some(size) = self.size else {
            return;
        };
        let mut chars = text.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '\n' => {
                    self.rows = self.rows.map(|rows| rows + 1);
                    self.col = 0;
                }
                '\r' => self.col = 0,
                '\t' => self.put(size, 8 - self.col % 8),
                '\u{8}' => self.col = self.col.saturating_sub(1),
                '\u{1b}' => {
                    // Colors (`ESC [ ... m`) do not move the cursor; anything else may.
                    if chars.next() != Some('[') {
                        self.rows = None;
                        continue;
                    }
                    let end = chars.by_ref().find(|ch| ('\u{40}'..='\u{7e}').contains(ch));
                    if end != Some('m') {
                        self.rows = None;
                    }
                }
                ch if ch.is_control() => {}
                ch => self.put(size, char_width(ch)),
            }
        }
    }

    /// The cursor moved where it cannot be followed (a line the user typed).
    pub(crate) fn lose_track(&mut self) {
        self.rows = None;
        self.last = None;
    }

    fn put(&mut self, size: Size, width: usize) {
        if self.col + width > size.cols {
            self.rows = self.rows.map(|rows| rows + 1);
            self.col = 0;
        }
        self.col += width;
    }

    fn take_pending_clear(&mut self) -> String {
        if std::mem::take(&mut self.clear_pending) {
            self.erase_cell()
        } else {
            String::new()
        }
    }

    /// Erases every row of the cell's output when all of them are on screen.
    fn erase_cell(&mut self) -> String {
        let (Some(size), Some(rows)) = (self.size, self.rows) else {
            return String::new();
        };
        if rows >= size.rows {
            return String::new();
        }
        let mut out = String::from("\r");
        out.push_str(&cursor_up(rows));
        out.push_str(ERASE_DOWN);
        self.rows = Some(0);
        self.col = 0;
        self.last = None;
        out
    }
}

/// Erases from the cursor to the end of the screen.
const ERASE_DOWN: &str = "\u{1b}[J";

fn cursor_up(rows: usize) -> String {
    if rows == 0 {
        String::new()
    } else {
        format!("\u{1b}[{rows}A")
    }
}

fn with_final_newline(text: &str) -> String {
    let mut text = text.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// How many columns `ch` takes: two for East Asian wide characters and emoji, else one.
fn char_width(ch: char) -> usize {
    let wide = matches!(u32::from(ch),
        0x1100..=0x115f | 0x2e80..=0xa4cf | 0xac00..=0xd7a3 | 0xf900..=0xfaff
        | 0xfe30..=0xfe4f | 0xff00..=0xff60 | 0xffe0..=0xffe6 | 0x1f300..=0x1faff
        | 0x20000..=0x3fffd);
    if wide { 2 } else { 1 }
}

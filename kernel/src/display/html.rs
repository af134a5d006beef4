//! HTML reduced to readable, markdown-like text, for consumers that cannot show HTML.
//!
//! A small, bounded, forgiving converter written for what cells display (pandas tables,
//! rich reprs, error pages), not a browser: it never fails, never recurses, and bounds
//! what a hostile document can make it hold (column widths, colspans, open marks, list
//! depth).

use std::borrow::Cow;

/// Reduces HTML to readable, markdown-like text.
///
/// Scripts, styles and `<head>` are dropped; block elements start new lines; `<br>` is
/// a line break; list items start with `- ` (`1. ` in ordered lists); `<strong>`/`<b>`
/// become `**x**`, `<em>`/`<i>` `*x*`, `<code>` `` `x` ``, `<pre>` a fenced block;
/// links read `text (href)`; tables become aligned rows with ` | ` between cells and a
/// rule under header rows (pandas DataFrames read well). Entities are decoded. Broken
/// HTML is read as far as it makes sense; this never fails.
pub fn html_to_text(html: &str) -> String {
    let mut converter = Converter::default();
    let mut pos = 0;
    while pos < html.len() {
        let Some(offset) = html[pos..].find('<') else {
            converter.text(&html[pos..]);
            break;
        };
        let lt = pos + offset;
        if lt > pos {
            converter.text(&html[pos..lt]);
        }
        pos = converter.markup(html, lt);
    }
    converter.finish()
}

/// The widest a table column is padded to; longer cells overflow.
const MAX_COLUMN_WIDTH: usize = 48;
/// The largest `colspan` honoured.
const MAX_COLSPAN: usize = 64;
/// The most inline marks open at once; deeper ones are ignored, which keeps
/// pathological nesting linear.
const MAX_OPEN_MARKS: usize = 64;
/// The deepest list indentation.
const MAX_LIST_INDENT: usize = 16;

/// The HTML-to-text state: an output buffer, open tables, open lists.
#[derive(Default)]
struct Converter {
    root: TextBuf,
    tables: Vec<Table>,
    lists: Vec<ListKind>,
    pre_depth: usize,
    /// Drop a newline right after `<pre>`, as browsers do.
    pre_fresh: bool,
    /// Inside `<head>` or `<template>`: nothing is shown.
    hidden_depth: usize,
}

#[derive(Clone, Copy)]
enum ListKind {
    Unordered,
    Ordered { next: u64 },
}

/// A start or end tag.
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    self_closing: bool,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Converter {
    /// Handles the markup starting at `html[lt] == '<'`; returns where text resumes.
    fn markup(&mut self, html: &str, lt: usize) -> usize {
        let rest = &html[lt..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            return match comment.find("-->") {
                Some(end) => lt + 4 + end + 3,
                None => html.len(),
            };
        }
        let bytes = rest.as_bytes();
        let next = bytes.get(1).copied().unwrap_or(b' ');
        if next == b'!' || next == b'?' {
            return rest.find('>').map_or(html.len(), |end| lt + end + 1);
        }
        let is_end = next == b'/';
        let name_start = if is_end { 2 } else { 1 };
        if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
            self.text("<");
            return lt + 1;
        }
        let Some((tag, len)) = parse_tag(&rest[name_start..]) else {
            // A tag cut off by the end of input shows nothing, as in browsers.
            return html.len();
        };
        let after = lt + name_start + len;
        if is_end {
            self.end_tag(&tag.name);
            return after;
        }
        if matches!(tag.name.as_str(), "script" | "style") && !tag.self_closing {
            let closing = format!("</{}", tag.name);
            return match find_ignore_case(&html[after..], &closing) {
                Some(start) => {
                    let from = after + start;
                    html[from..]
                        .find('>')
                        .map_or(html.len(), |end| from + end + 1)
                }
                None => html.len(),
            };
        }
        self.start_tag(&tag);
        after
    }

    fn start_tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        if matches!(name, "head" | "template") {
            if !tag.self_closing {
                self.hidden_depth += 1;
            }
            return;
        }
        if self.hidden_depth > 0 {
            return;
        }
        match name {
            "br" => self.with_buf(TextBuf::hard_break),
            "hr" => self.with_buf(|buf| {
                buf.request_breaks(2);
                buf.emit("---");
                buf.request_breaks(2);
            }),
            "img" => {
                if let Some(alt) = tag.attr("alt").filter(|alt| !alt.trim().is_empty()) {
                    let alt = format!("[image: {}]", alt.trim());
                    self.with_buf(|buf| buf.emit(&alt));
                }
            }
            "p" | "blockquote" | "dl" | "figure" | "address" | "details" | "fieldset" | "form" => {
                self.with_buf(|buf| buf.request_breaks(2))
            }
            "div" | "section" | "article" | "header" | "footer" | "nav" | "main" | "aside"
            | "figcaption" | "summary" | "center" | "dt" | "dd" => {
                self.with_buf(|buf| buf.request_breaks(1));
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = usize::from(name.as_bytes()[1] - b'0');
                let open = format!("{} ", "#".repeat(level));
                self.with_buf(|buf| {
                    buf.request_breaks(2);
                    buf.open_mark(name, open, Close::Nothing);
                });
            }
            "ul" | "ol" => {
                let breaks = if self.lists.is_empty() { 2 } else { 1 };
                self.with_buf(|buf| buf.request_breaks(breaks));
                let kind = if name == "ol" {
                    let start = tag.attr("start").and_then(|s| s.trim().parse().ok());
                    ListKind::Ordered {
                        next: start.unwrap_or(1),
                    }
                } else {
                    ListKind::Unordered
                };
                self.lists.push(kind);
            }
            "li" => {
                let depth = self.lists.len().saturating_sub(1).min(MAX_LIST_INDENT);
                let indent = "  ".repeat(depth);
                let bullet = match self.lists.last_mut() {
                    Some(ListKind::Ordered { next }) => {
                        let bullet = format!("{next}. ");
                        *next = next.saturating_add(1);
                        bullet
                    }
                    Some(ListKind::Unordered) | None => "- ".to_owned(),
                };
                self.with_buf(|buf| {
                    buf.request_breaks(1);
                    buf.open_mark("li", format!("{indent}{bullet}"), Close::Nothing);
                });
            }
            "strong" | "b" => self.with_buf(|buf| buf.open_mark(name, "**", Close::Text("**"))),
            "em" | "i" => self.with_buf(|buf| buf.open_mark(name, "*", Close::Text("*"))),
            "code" | "kbd" | "samp" if self.pre_depth == 0 => {
                self.with_buf(|buf| buf.open_mark(name, "`", Close::Text("`")));
            }
            "a" => {
                let href = tag.attr("href").unwrap_or_default().trim().to_owned();
                self.with_buf(|buf| buf.open_mark("a", "", Close::Link(href)));
            }
            "pre" => {
                let fenced = self.tables.is_empty() && self.pre_depth == 0;
                self.with_buf(|buf| {
                    buf.request_breaks(2);
                    if fenced {
                        buf.emit("```");
                        buf.request_breaks(1);
                    }
                });
                self.pre_depth += 1;
                self.pre_fresh = true;
            }
            "table" => {
                self.with_buf(|buf| buf.request_breaks(2));
                self.tables.push(Table::default());
            }
            "thead" => {
                if let Some(table) = self.tables.last_mut() {
                    table.close_row();
                    table.in_head = true;
                }
            }
            "tbody" | "tfoot" => {
                if let Some(table) = self.tables.last_mut() {
                    table.close_row();
                    table.in_head = false;
                }
            }
            "tr" => {
                if let Some(table) = self.tables.last_mut() {
                    table.close_row();
                    table.open_row();
                }
            }
            "td" | "th" | "caption" => {
                if let Some(table) = self.tables.last_mut() {
                    if name == "caption" {
                        table.close_row();
                    }
                    let colspan = tag
                        .attr("colspan")
                        .and_then(|span| span.trim().parse::<usize>().ok())
                        .unwrap_or(1)
                        .clamp(1, MAX_COLSPAN);
                    table.open_cell(name == "th", colspan);
                }
            }
            _ => {}
        }
    }

    fn end_tag(&mut self, name: &str) {
        if matches!(name, "head" | "template") {
            self.hidden_depth = self.hidden_depth.saturating_sub(1);
            return;
        }
        if self.hidden_depth > 0 {
            return;
        }
        match name {
            "p" | "blockquote" | "dl" | "figure" | "address" | "details" | "fieldset" | "form" => {
                self.with_buf(|buf| buf.request_breaks(2))
            }
            "div" | "section" | "article" | "header" | "footer" | "nav" | "main" | "aside"
            | "figcaption" | "summary" | "center" | "dt" | "dd" => {
                self.with_buf(|buf| buf.request_breaks(1));
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => self.with_buf(|buf| {
                buf.close_mark(name);
                buf.request_breaks(2);
            }),
            "ul" | "ol" => {
                self.lists.pop();
                let breaks = if self.lists.is_empty() { 2 } else { 1 };
                self.with_buf(|buf| buf.request_breaks(breaks));
            }
            "li" => self.with_buf(|buf| {
                buf.close_mark("li");
                buf.request_breaks(1);
            }),
            "strong" | "b" | "em" | "i" | "code" | "kbd" | "samp" | "a" => {
                self.with_buf(|buf| buf.close_mark(name));
            }
            "pre" => {
                if self.pre_depth == 0 {
                    return;
                }
                self.pre_depth -= 1;
                let fenced = self.tables.is_empty() && self.pre_depth == 0;
                self.with_buf(|buf| {
                    if fenced {
                        buf.request_breaks(1);
                        buf.emit("```");
                    }
                    buf.request_breaks(2);
                });
            }
            "table" => self.close_table(),
            "thead" | "tbody" | "tfoot" => {
                if let Some(table) = self.tables.last_mut() {
                    table.close_row();
                    table.in_head = false;
                }
            }
            "tr" => {
                if let Some(table) = self.tables.last_mut() {
                    table.close_row();
                }
            }
            "td" | "th" => {
                if let Some(table) = self.tables.last_mut() {
                    table.close_cell();
                }
            }
            "caption" => {
                if let Some(table) = self.tables.last_mut() {
                    table.close_row();
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, raw: &str) {
        if self.hidden_depth > 0 {
            return;
        }
        let decoded = decode_entities(raw);
        let mut text: &str = &decoded;
        if self.pre_depth > 0 {
            if std::mem::take(&mut self.pre_fresh) {
                text = text
                    .strip_prefix("\r\n")
                    .or_else(|| text.strip_prefix('\n'))
                    .unwrap_or(text);
            }
            if !text.is_empty() {
                self.with_buf(|buf| buf.emit(text));
            }
            return;
        }
        let blank = text.bytes().all(|byte| byte.is_ascii_whitespace());
        let buf = match self.tables.last_mut() {
            Some(table) if blank && table.cell.is_none() => return,
            Some(table) => table.cell_buf(),
            None => &mut self.root,
        };
        for (index, word) in text.split(|c: char| c.is_ascii_whitespace()).enumerate() {
            if index > 0 {
                buf.space = true;
            }
            if !word.is_empty() {
                buf.emit(word);
            }
        }
    }

    /// Runs `f` on the buffer being written: the open table cell, or the root. Inside a
    /// table but outside any cell, layout requests have nowhere to go and are dropped.
    fn with_buf(&mut self, f: impl FnOnce(&mut TextBuf)) {
        match self.tables.last_mut() {
            Some(table) => {
                if let Some(cell) = &mut table.cell {
                    f(&mut cell.buf);
                }
            }
            None => f(&mut self.root),
        }
    }

    fn close_table(&mut self) {
        let Some(mut table) = self.tables.pop() else {
            return;
        };
        table.close_row();
        match self.tables.last_mut() {
            // A table nested in a cell is flattened onto one line.
            Some(outer) => {
                let flat = table.render_flat();
                if !flat.is_empty() {
                    outer.cell_buf().emit(&flat);
                }
            }
            None => {
                let rendered = table.render();
                if !rendered.is_empty() {
                    self.root.request_breaks(2);
                    self.root.emit(&rendered);
                    self.root.request_breaks(2);
                }
            }
        }
    }

    fn finish(mut self) -> String {
        while !self.tables.is_empty() {
            self.close_table();
        }
        let text = self.root.finish().replace('\u{a0}', " ");
        let mut out = String::with_capacity(text.len());
        let mut blank_run = 0;
        for line in text.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                blank_run += 1;
                continue;
            }
            if !out.is_empty() {
                out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
            }
            blank_run = 0;
            out.push_str(line);
        }
        out
    }
}

/// Text being built, with layout requests held back until the next visible text so
/// that blank lines, spaces and inline marks never dangle.
#[derive(Default)]
struct TextBuf {
    text: String,
    /// How many line ends must precede the next text.
    breaks: usize,
    /// Whether collapsed whitespace must become a space before the next text.
    space: bool,
    marks: Vec<Mark>,
}

/// An open inline element; its opening is written lazily, with the first text inside.
struct Mark {
    tag: String,
    open: String,
    close: Close,
    /// Where the element's content starts in the text, once written.
    written_at: Option<usize>,
}

enum Close {
    Nothing,
    Text(&'static str),
    Link(String),
}

impl TextBuf {
    fn request_breaks(&mut self, breaks: usize) {
        self.breaks = self.breaks.max(breaks);
    }

    fn hard_break(&mut self) {
        self.flush_breaks();
        if !self.text.is_empty() {
            self.suspend_marks();
            self.text.push('\n');
        }
        self.space = false;
    }

    fn flush_breaks(&mut self) {
        if self.breaks == 0 {
            return;
        }
        if !self.text.is_empty() {
            self.suspend_marks();
            let have = self.text.len() - self.text.trim_end_matches('\n').len();
            for _ in have..self.breaks {
                self.text.push('\n');
            }
        }
        self.breaks = 0;
        self.space = false;
    }

    /// Writes visible text, after pending breaks, space and mark openings.
    fn emit(&mut self, text: &str) {
        self.flush_breaks();
        if std::mem::take(&mut self.space)
            && !self.text.is_empty()
            && !self.text.ends_with(['\n', ' '])
        {
            self.text.push(' ');
        }
        for mark in &mut self.marks {
            if mark.written_at.is_none() {
                self.text.push_str(&mark.open);
                mark.written_at = Some(self.text.len());
            }
        }
        self.text.push_str(text);
    }

    /// Closes the written emphasis marks before a line ends, so that none spans lines;
    /// they open again with the next text (as browsers carry formatting into the next
    /// block). Line prefixes (`- `, `# `) and links are left alone.
    fn suspend_marks(&mut self) {
        for mark in self.marks.iter_mut().rev() {
            if let (Close::Text(close), Some(_)) = (&mark.close, mark.written_at) {
                self.text.push_str(close);
                mark.written_at = None;
            }
        }
    }

    fn open_mark(&mut self, tag: &str, open: impl Into<String>, close: Close) {
        if self.marks.len() >= MAX_OPEN_MARKS {
            return;
        }
        self.marks.push(Mark {
            tag: tag.to_owned(),
            open: open.into(),
            close,
            written_at: None,
        });
    }

    /// Closes the innermost open `tag` and every mark opened inside it.
    fn close_mark(&mut self, tag: &str) {
        let Some(index) = self.marks.iter().rposition(|mark| mark.tag == tag) else {
            return;
        };
        while self.marks.len() > index {
            if let Some(mark) = self.marks.pop() {
                self.write_close(mark);
            }
        }
    }

    fn write_close(&mut self, mark: Mark) {
        let Some(start) = mark.written_at else {
            return;
        };
        match mark.close {
            Close::Nothing => {}
            Close::Text(close) => self.text.push_str(close),
            Close::Link(href) => {
                let label = self.text[start..].trim();
                if shows_href(&href) && label != href {
                    self.text.push_str(" (");
                    self.text.push_str(&href);
                    self.text.push(')');
                }
            }
        }
    }

    fn finish(mut self) -> String {
        while let Some(mark) = self.marks.pop() {
            self.write_close(mark);
        }
        self.text
    }
}

/// Whether a link target is worth printing after its text.
fn shows_href(href: &str) -> bool {
    let lower = href.get(..11).unwrap_or(href).to_ascii_lowercase();
    !href.is_empty()
        && !href.starts_with('#')
        && !lower.starts_with("javascript:")
        && !lower.starts_with("data:")
}

/// A table being read, rows of finished cell texts.
#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    row: Option<Row>,
    cell: Option<Cell>,
    in_head: bool,
}

#[derive(Default)]
struct Row {
    cells: Vec<String>,
    in_head: bool,
    all_th: bool,
}

struct Cell {
    buf: TextBuf,
    colspan: usize,
}

impl Table {
    fn open_row(&mut self) {
        self.row = Some(Row {
            cells: Vec::new(),
            in_head: self.in_head,
            all_th: true,
        });
    }

    fn open_cell(&mut self, is_th: bool, colspan: usize) {
        self.close_cell();
        if self.row.is_none() {
            self.open_row();
        }
        if let Some(row) = &mut self.row {
            row.all_th &= is_th;
        }
        self.cell = Some(Cell {
            buf: TextBuf::default(),
            colspan,
        });
    }

    /// The open cell's buffer, opening a cell for stray text.
    fn cell_buf(&mut self) -> &mut TextBuf {
        let cell = match self.cell.take() {
            Some(cell) => cell,
            None => {
                if self.row.is_none() {
                    self.open_row();
                }
                Cell {
                    buf: TextBuf::default(),
                    colspan: 1,
                }
            }
        };
        &mut self.cell.insert(cell).buf
    }

    fn close_cell(&mut self) {
        let Some(cell) = self.cell.take() else {
            return;
        };
        let text = cell.buf.finish();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let row = self.row.get_or_insert_with(Row::default);
        row.cells.push(text);
        for _ in 1..cell.colspan {
            row.cells.push(String::new());
        }
    }

    fn close_row(&mut self) {
        self.close_cell();
        let Some(row) = self.row.take() else {
            return;
        };
        if !row.cells.is_empty() {
            self.rows.push(row);
        }
    }

    /// The rows on one line, for a table inside a cell: `a, b; c, d`.
    fn render_flat(&self) -> String {
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let cells: Vec<&str> = row
                    .cells
                    .iter()
                    .map(String::as_str)
                    .filter(|cell| !cell.is_empty())
                    .collect();
                cells.join(", ")
            })
            .filter(|row| !row.is_empty())
            .collect();
        rows.join("; ")
    }

    /// Aligned rows; a rule follows the leading header rows when body rows follow.
    fn render(&self) -> String {
        let n_columns = self
            .rows
            .iter()
            .map(|row| row.cells.len())
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; n_columns];
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(&row.cells) {
                *width = (*width).max(cell.chars().count().min(MAX_COLUMN_WIDTH));
            }
        }
        let n_head = self
            .rows
            .iter()
            .take_while(|row| row.in_head || row.all_th)
            .count();
        let mut out = String::new();
        for (index, row) in self.rows.iter().enumerate() {
            let mut line = String::new();
            for (column, width) in widths.iter().enumerate() {
                if column > 0 {
                    line.push_str(" | ");
                }
                let cell = row.cells.get(column).map_or("", String::as_str);
                line.push_str(cell);
                let pad = width.saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
            if index + 1 == n_head && n_head < self.rows.len() {
                let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
                out.push_str(&rule.join("-+-"));
                out.push('\n');
            }
        }
        out.truncate(out.trim_end().len());
        out
    }
}

/// Parses a tag after `<` or `</`: name, attributes, and the length up to and
/// including `>`. `None` when the input ends first.
fn parse_tag(input: &str) -> Option<(Tag, usize)> {
    let bytes = input.as_bytes();
    let name_end = bytes
        .iter()
        .position(|byte| byte.is_ascii_whitespace() || *byte == b'/' || *byte == b'>')
        .unwrap_or(bytes.len());
    let name = input[..name_end].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut pos = name_end;
    let mut self_closing = false;
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        match bytes.get(pos)? {
            b'>' => break,
            b'/' => {
                pos += 1;
                self_closing = bytes.get(pos) == Some(&b'>');
                continue;
            }
            _ => self_closing = false,
        }
        let key_start = pos;
        while pos < bytes.len()
            && !bytes[pos].is_ascii_whitespace()
            && !matches!(bytes[pos], b'=' | b'>' | b'/')
        {
            pos += 1;
        }
        let key = input[key_start..pos].to_ascii_lowercase();
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let mut value = String::new();
        if bytes.get(pos) == Some(&b'=') {
            pos += 1;
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            match bytes.get(pos)? {
                quote @ (b'"' | b'\'') => {
                    let close = input[pos + 1..].find(char::from(*quote))?;
                    value = decode_entities(&input[pos + 1..pos + 1 + close]).into_owned();
                    pos += close + 2;
                }
                _ => {
                    let start = pos;
                    while pos < bytes.len()
                        && !bytes[pos].is_ascii_whitespace()
                        && bytes[pos] != b'>'
                    {
                        pos += 1;
                    }
                    value = decode_entities(&input[start..pos]).into_owned();
                }
            }
        }
        if key.is_empty() {
            // A stray character such as a lone `=`; step over it.
            pos += 1;
        } else {
            attrs.push((key, value));
        }
    }
    let tag = Tag {
        name,
        attrs,
        self_closing,
    };
    Some((tag, pos + 1))
}

/// Finds `needle` (ASCII) in `haystack`, ignoring ASCII case.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

/// Decodes character references: the common named ones, `&#NN;` and `&#xNN;`.
/// Anything unknown or malformed stays as written.
fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        match decode_reference(rest) {
            Some((decoded, len)) => {
                out.push(decoded);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Decodes one reference at the start of `text` (which starts with `&`).
fn decode_reference(text: &str) -> Option<(char, usize)> {
    let semi = text.get(1..)?.find(';')? + 1;
    if semi > 12 {
        return None;
    }
    let body = &text[1..semi];
    let decoded = if let Some(number) = body.strip_prefix('#') {
        let value = match number.strip_prefix(['x', 'X']) {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()?
            }
            None if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
                number.parse().ok()?
            }
            _ => return None,
        };
        match value {
            0 => char::REPLACEMENT_CHARACTER,
            value => char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
        }
    } else {
        named_entity(body)?
    };
    Some((decoded, semi + 1))
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "times" => '×',
        "divide" => '÷',
        "minus" => '−',
        "plusmn" => '±',
        "deg" => '°',
        "le" => '≤',
        "ge" => '≥',
        "ne" => '≠',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "sect" => '§',
        "para" => '¶',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        _ => return None,
    })
}

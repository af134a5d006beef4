//! Showing a cell's outputs: on a terminal for people, or as `--json` lines.

use std::{
    io::{self, IsTerminal, Write},
    path::PathBuf,
};

use pykernel::{
    MimeBundle, Output, PyError, RenderLimits, RenderedOutput, UnattachedOutput, render_bundle,
};

use crate::{
    images::{ImageSaver, InlineProtocol, human_size, placeholder},
    json::JsonEvent,
};

pub(crate) use screen::{Screen, Size};

mod screen;

/// Where a cell's outputs go. Write failures on stdout (a closed pipe) stop stdout
/// output quietly; the cell still runs to its end.
pub(crate) struct Printer {
    mode: Mode,
    stdout_broken: bool,
    /// Whether the last text written to stdout ended a line (or nothing was written).
    at_line_start: bool,
}

enum Mode {
    Json,
    Human(TerminalView),
}

/// Turns outputs into what a terminal shows: bundles rendered as text, display updates
/// redrawn in place and clears erased where the screen allows (see [`Screen`]).
#[derive(Debug)]
pub(crate) struct TerminalView {
    images: Images,
    screen: Screen,
    /// Whether stderr shows on the same terminal, so its rows count on screen.
    stderr_on_screen: bool,
}

/// What to do with images on a terminal.
#[derive(Debug, Default)]
pub(crate) struct Images {
    /// Save every image here and print its path.
    pub(crate) saver: Option<ImageSaver>,
    /// Draw images inline with this protocol when it supports their type.
    pub(crate) inline: Option<InlineProtocol>,
}

/// A bundle rendered for a terminal.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TerminalText {
    /// What goes to stdout: the text, images or their placeholders, pretty JSON.
    pub(crate) stdout: String,
    /// What goes to stderr: status events and problems saving images.
    pub(crate) stderr: String,
}

impl Printer {
    /// A printer of `--json` lines.
    pub(crate) fn json() -> Self {
        Self {
            mode: Mode::Json,
            stdout_broken: false,
            at_line_start: true,
        }
    }

    /// A printer for people; images are saved to `save_images` when given and drawn
    /// inline when stdout is a terminal that advertises a graphics protocol.
    pub(crate) fn human(save_images: Option<PathBuf>) -> Self {
        let term = std::env::var("TERM").ok();
        let term_program = std::env::var("TERM_PROGRAM").ok();
        let inline = InlineProtocol::detect(
            io::stdout().is_terminal(),
            term.as_deref(),
            term_program.as_deref(),
        );
        let images = Images {
            saver: save_images.map(ImageSaver::new),
            inline,
        };
        let size = terminal_size();
        let view = TerminalView::new(images, size, size.is_some() && io::stderr().is_terminal());
        Self {
            mode: Mode::Human(view),
            stdout_broken: false,
            at_line_start: true,
        }
    }

    /// Shows one output. `out_prompt` prefixes a result, as the REPL's `Out[3]: `.
    /// Input requests are the caller's to answer and are not shown here.
    pub(crate) fn output(&mut self, output: &Output, out_prompt: Option<&str>) {
        let view = match &mut self.mode {
            Mode::Json => {
                if let Some(event) = JsonEvent::from_output(output) {
                    self.json_line(&event);
                }
                return;
            }
            Mode::Human(view) => view,
        };
        let shown = view.show(output, out_prompt);
        if matches!(output, Output::Error(_)) {
            self.flush_stdout();
        }
        self.stdout(&shown.stdout);
        stderr(&shown.stderr);
    }

    /// Shows output a background thread wrote after its cell ended, while no cell runs.
    /// On a terminal it takes the place of the prompt line, like a cell's output of its own.
    pub(crate) fn late_output(&mut self, outputs: &[UnattachedOutput]) {
        if let Mode::Human(view) = &mut self.mode {
            if view.screen.is_terminal() {
                self.stdout("\r\u{1b}[K");
            } else {
                self.finish_line();
            }
        }
        self.begin_cell();
        for late in outputs {
            self.output(&late.output, None);
        }
    }

    /// A cell starts: its output begins on a fresh line, and only its own rows may be
    /// cleared.
    pub(crate) fn begin_cell(&mut self) {
        if let Mode::Human(view) = &mut self.mode {
            view.screen.begin_cell();
        }
    }

    /// Whether writing to stdout failed (its reader went away); nothing more is written.
    pub(crate) fn stdout_broken(&self) -> bool {
        self.stdout_broken
    }

    /// Writes one `--json` line (an outcome, say); a no-op for a human printer.
    pub(crate) fn json_line(&mut self, event: &JsonEvent) {
        if !matches!(self.mode, Mode::Json) || self.stdout_broken {
            return;
        }
        if let Err(err) = event.write_line(&mut io::stdout().lock()) {
            self.stdout_failed(&err);
        }
    }

    /// Ends the current stdout line if the cell left one open, so a prompt or message
    /// that follows starts on its own line.
    pub(crate) fn finish_line(&mut self) {
        if !self.at_line_start {
            if let Mode::Human(view) = &mut self.mode {
                view.screen.advance("\n");
            }
            self.stdout("\n");
        }
    }

    /// Shows the prompt of an `input()` answered from stdin.
    pub(crate) fn prompt(&mut self, prompt: &str) {
        if let Mode::Human(view) = &mut self.mode {
            view.screen.advance(prompt);
            self.stdout(prompt);
        }
    }

    /// Notes that an `input()` line was read; `echoed` says the terminal ended the line.
    pub(crate) fn input_done(&mut self, echoed: bool) {
        if echoed {
            self.at_line_start = true;
        }
        // What the user typed moved the cursor in ways the screen cannot follow.
        if let Mode::Human(view) = &mut self.mode {
            view.screen.lose_track();
        }
    }

    fn stdout(&mut self, text: &str) {
        if text.is_empty() || self.stdout_broken {
            return;
        }
        let mut out = io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => self.at_line_start = text.ends_with('\n'),
            Err(err) => self.stdout_failed(&err),
        }
    }

    fn flush_stdout(&mut self) {
        if let Err(err) = io::stdout().flush() {
            self.stdout_failed(&err);
        }
    }

    fn stdout_failed(&mut self, err: &io::Error) {
        tracing::debug!("stdout is gone ({err}); dropping further output");
        self.stdout_broken = true;
    }
}

impl TerminalView {
    /// A view drawing on a terminal of `size` (`None`: not a terminal).
    pub(crate) fn new(images: Images, size: Option<Size>, stderr_on_screen: bool) -> Self {
        Self {
            images,
            screen: Screen::new(size),
            stderr_on_screen,
        }
    }

    /// What to write to stdout and stderr for `output`. `out_prompt` prefixes a result.
    /// Input requests are the caller's to answer and show nothing.
    pub(crate) fn show(&mut self, output: &Output, out_prompt: Option<&str>) -> TerminalText {
        let images = &mut self.images;
        let shown = match output {
            Output::Stdout(text) => TerminalText {
                stdout: text.clone(),
                stderr: String::new(),
            },
            Output::Stderr(text) => TerminalText {
                stdout: String::new(),
                stderr: text.clone(),
            },
            Output::Display { bundle, .. } => terminal_text(bundle, images, None),
            Output::Result { bundle, .. } => terminal_text(bundle, images, out_prompt),
            Output::Error(error) => TerminalText {
                stdout: String::new(),
                stderr: traceback_text(error),
            },
            Output::DisplayWithId {
                display_id, bundle, ..
            } => {
                let shown = terminal_text(bundle, images, None);
                return self.placed(shown, |screen, text| screen.display(display_id, text));
            }
            Output::UpdateDisplay {
                display_id, bundle, ..
            } => {
                let shown = terminal_text(bundle, images, None);
                return self.placed(shown, |screen, text| screen.update(display_id, text));
            }
            Output::ClearOutput { wait } => {
                return TerminalText {
                    stdout: self.screen.clear(*wait),
                    stderr: String::new(),
                };
            }
            // Input requests are the caller's to answer; a kind of output this version
            // does not know is not shown.
            _ => return TerminalText::default(),
        };
        self.placed(shown, Screen::text)
    }

    /// Puts `shown` on the screen: its stdout through `place`, then its stderr.
    fn placed(
        &mut self,
        shown: TerminalText,
        place: impl FnOnce(&mut Screen, &str) -> String,
    ) -> TerminalText {
        if shown.stdout.is_empty() && shown.stderr.is_empty() {
            return shown;
        }
        let stdout = place(&mut self.screen, &shown.stdout);
        if self.stderr_on_screen {
            self.screen.advance(&shown.stderr);
        }
        TerminalText {
            stdout,
            stderr: shown.stderr,
        }
    }
}

/// The size of the terminal on stdout, or `None` when stdout is not a terminal.
fn terminal_size() -> Option<Size> {
    if !io::stdout().is_terminal() {
        return None;
    }
    #[cfg(unix)]
    {
        let size = rustix::termios::tcgetwinsize(io::stdout()).ok()?;
        if size.ws_col == 0 || size.ws_row == 0 {
            return None;
        }
        Some(Size {
            cols: usize::from(size.ws_col),
            rows: usize::from(size.ws_row),
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Writes to stderr; there is nowhere left to report a failure to.
fn stderr(text: &str) {
    if text.is_empty() {
        return;
    }
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Renders a bundle for a terminal.
///
/// Images are drawn inline, saved, or stand in as `[image/png 12.3 KiB]`; JSON is
/// pretty-printed. When an image or JSON was shown, a bundle's plain text (such as
/// `<Figure size 640x480 with 1 Axes>`) is dropped as redundant; markdown, HTML and
/// LaTeX text is kept. HTML wins over a plain text that is only Python's default
/// `<Foo object at 0x...>`. Status events go to stderr as `[op] {...}`.
pub(crate) fn terminal_text(
    bundle: &MimeBundle,
    images: &mut Images,
    out_prompt: Option<&str>,
) -> TerminalText {
    let rendered = match without_default_repr(bundle) {
        Some(html_first) => render_bundle(&html_first, &RenderLimits::new()),
        None => render_bundle(bundle, &RenderLimits::new()),
    };
    let mut shown = TerminalText::default();
    let mut body = String::new();
    let mut replaces_plain = false;
    let mut rich_text = false;
    for output in &rendered.outputs {
        match output {
            RenderedOutput::Image { mime, data, bytes } => {
                replaces_plain = true;
                body.push_str(&image_text(mime, data, *bytes, images, &mut shown.stderr));
            }
            RenderedOutput::Json(value) => {
                replaces_plain = true;
                // Serializing a `Value` to a string cannot fail.
                body.push_str(&serde_json::to_string_pretty(value).unwrap_or_default());
                body.push('\n');
            }
            RenderedOutput::JsonPreview { text, .. } => {
                replaces_plain = true;
                body.push_str(text);
                if !text.ends_with('\n') {
                    body.push('\n');
                }
            }
            RenderedOutput::Status(value) => shown.stderr.push_str(&status_line(value)),
            RenderedOutput::Markdown | RenderedOutput::Html | RenderedOutput::Latex => {
                rich_text = true;
            }
            // Omitted images carry their notice in the text; anything newer is skipped.
            _ => {}
        }
    }
    if rich_text || !replaces_plain {
        body.push_str(&rendered.text);
    }
    if body.is_empty() {
        return shown;
    }
    if let Some(prompt) = out_prompt {
        shown.stdout.push_str(prompt.trim_end());
        // A multi-line value starts on its own line, as in IPython.
        shown.stdout.push(if body.trim_end().contains('\n') {
            '\n'
        } else {
            ' '
        });
    }
    shown.stdout.push_str(&body);
    shown
}

/// The bundle without its `text/plain` when that is only a default repr and HTML can
/// say more.
/// Whether `plain` is Python's default `<module.Class object at 0x7f...>` or the
/// pretty printer's `<module.Class at 0x7f...>` (IPython's form, which the runner uses).
fn is_default_repr(plain: &str) -> bool {
    let Some(inner) = plain
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
    else {
        return false;
    };
    let Some((name, address)) = inner.rsplit_once(" at 0x") else {
        return false;
    };
    let name = name.strip_suffix(" object").unwrap_or(name);
    !name.is_empty()
        && !name.contains(char::is_whitespace)
        && !address.is_empty()
        && address.chars().all(|c| c.is_ascii_hexdigit())
}

fn without_default_repr(bundle: &MimeBundle) -> Option<MimeBundle> {
    let is_default = is_default_repr(bundle.get_str("text/plain")?);
    let has_html = bundle
        .get_str("text/html")
        .is_some_and(|html| !html.trim().is_empty());
    if !is_default || !has_html || bundle.contains("text/markdown") {
        return None;
    }
    Some(
        bundle
            .iter()
            .filter(|(mime, _)| *mime != "text/plain")
            .map(|(mime, value)| (mime, value.clone()))
            .collect(),
    )
}

fn image_text(
    mime: &str,
    data: &str,
    bytes: usize,
    images: &mut Images,
    problems: &mut String,
) -> String {
    let mut text = String::new();
    if let Some(saver) = &mut images.saver {
        match saver.save(mime, data) {
            Ok(path) => {
                let size = human_size(bytes);
                text.push_str(&format!("[{mime} {size} saved to {}]\n", path.display()));
            }
            Err(err) => {
                problems.push_str(&format!(
                    "pyk: cannot save {mime} into {}: {err}\n",
                    saver.dir().display()
                ));
            }
        }
    }
    match images.inline {
        Some(protocol) if protocol.supports(mime) => text.push_str(&protocol.escape(data, bytes)),
        _ if text.is_empty() => {
            text.push_str(&placeholder(mime, bytes));
            text.push('\n');
        }
        _ => {}
    }
    text
}

/// `[phase] {"title":"Scan"}`: the event's `op` and the rest of it, compact.
fn status_line(value: &serde_json::Value) -> String {
    let mut rest = value.clone();
    let op = rest
        .as_object_mut()
        .and_then(|map| map.remove("op"))
        .and_then(|op| op.as_str().map(str::to_owned))
        .unwrap_or_else(|| "status".to_owned());
    format!("[{op}] {rest}\n")
}

/// A Python error as a terminal shows it: the traceback, ending with
/// `Name: message` (added when the traceback does not end with it already).
pub(crate) fn traceback_text(error: &PyError) -> String {
    let mut text = String::new();
    for entry in &error.traceback {
        text.push_str(entry);
        if !entry.ends_with('\n') {
            text.push('\n');
        }
    }
    // Contains, not starts with: the runner may color the line.
    let last_line = text.trim_end().lines().last().unwrap_or_default();
    if !last_line.contains(&error.ename) {
        text.push_str(&error.ename);
        if !error.evalue.is_empty() {
            text.push_str(": ");
            text.push_str(&error.evalue);
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests;

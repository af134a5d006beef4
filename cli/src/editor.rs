//! The REPL's line editor (rustyline) with a history file and masked password input.
//!
//! One rustyline editor lives for the whole session, on a thread of its own: its reads
//! block, and the async loop asks it for lines over a channel. Keeping the one editor
//! matters for typed-ahead and pasted input. On a terminal rustyline reads the keyboard
//! in chunks, so the first read of a prompt also takes the lines typed or pasted after
//! the first one; it keeps those bytes in the editor for its next read (the
//! `buffer-redux` feature), and they are lost if the editor is dropped.
//!
//! Tab asks the read's [`CompleteFn`] (the REPL's asks the kernel): it runs on the editor
//! thread and must answer quickly, so it waits a bounded time and offers nothing when
//! the answer does not come.
//!
//! A rustyline editor on a terminal also installs its own SIGINT handler for as long as
//! it exists, which would hide Ctrl-C from [`crate::signals::Interrupts`] while a cell
//! runs. The editor is therefore created with pyk's own SIGINT handler put back right
//! after. Rustyline does not need it: while it reads, the terminal is in raw mode and
//! Ctrl-C arrives as a key, not as a signal. (Its `signal-hook` feature would leave
//! SIGINT alone, but then it waits on the terminal with `select` and ignores the bytes
//! it already holds, so typed-ahead lines would stall until the next key press.)

use std::{
    borrow::Cow,
    env,
    ffi::OsString,
    fs, io,
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
    thread,
};

use rustyline::{
    Config, Context, Editor, Helper,
    completion::Completer,
    error::ReadlineError,
    highlight::{CmdKind, Highlighter},
    hint::Hinter,
    history::{FileHistory, History, SearchDirection},
    validate::Validator,
};
use tokio::{sync::oneshot, task::JoinHandle};

/// What a read gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadLine {
    /// A line, without its newline. A multi-line paste comes as one "line" with `\n`s.
    Line(String),
    /// Ctrl-D (or the end of piped input).
    Eof,
    /// Ctrl-C.
    Interrupted,
    /// The terminal failed.
    Failed(String),
}

/// Answers Tab: given the line and the cursor in it (in characters), where the completed
/// text starts (in characters) and the candidates that replace it up to the cursor;
/// `None` offers nothing. Called on the editor thread; it blocks the editor while it runs.
pub(crate) type CompleteFn = Arc<dyn Fn(&str, usize) -> Option<(usize, Vec<String>)> + Send + Sync>;

/// The line editor shared between the REPL loop and `input()` answers: a handle on the
/// thread that owns the rustyline editor. The thread ends when every handle is gone.
#[derive(Clone)]
pub(crate) struct LineEditor {
    requests: mpsc::Sender<Request>,
}

/// What the editor thread is asked to do, in order.
enum Request {
    /// Read one line after `prompt`; `password` shows `*` for each character.
    Read {
        prompt: String,
        password: bool,
        complete: Option<CompleteFn>,
        reply: oneshot::Sender<ReadLine>,
    },
    /// Add a cell to the history (and its file); `done` says it is saved.
    Remember {
        cell: String,
        done: oneshot::Sender<()>,
    },
}

type RustyEditor = Editor<Mask, FileHistory>;

impl LineEditor {
    /// An editor that loads and appends to the history file `path` (when given).
    pub(crate) fn new(path: Option<PathBuf>) -> Result<Self, ReadlineError> {
        let (requests, incoming) = mpsc::channel();
        let (created_tx, created) = mpsc::sync_channel(1);
        thread::Builder::new()
            .name("pyk-line-editor".to_owned())
            .spawn(move || {
                let editor = match create_editor(path.as_deref()) {
                    Ok(editor) => {
                        let _ = created_tx.send(Ok(()));
                        editor
                    }
                    Err(err) => {
                        let _ = created_tx.send(Err(err));
                        return;
                    }
                };
                serve(editor, path.as_deref(), &incoming);
            })?;
        match created.recv() {
            Ok(Ok(())) => Ok(Self { requests }),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(ReadlineError::Io(io::Error::other(
                "the line editor thread ended before it started",
            ))),
        }
    }

    /// Reads one line after `prompt`; Tab asks `complete`, when given.
    pub(crate) async fn read(&self, prompt: String, complete: Option<CompleteFn>) -> ReadLine {
        match self.start_read_with(prompt, false, complete).await {
            Ok(line) => line,
            Err(err) => ReadLine::Failed(format!("the line editor stopped: {err}")),
        }
    }

    /// Starts reading one line after `prompt`; `password` shows `*` for each character.
    /// The line is not added to the history (see [`LineEditor::remember`]). Reads are
    /// served one at a time, in the order they were asked for.
    pub(crate) fn start_read(&self, prompt: String, password: bool) -> JoinHandle<ReadLine> {
        self.start_read_with(prompt, password, None)
    }

    fn start_read_with(
        &self,
        prompt: String,
        password: bool,
        complete: Option<CompleteFn>,
    ) -> JoinHandle<ReadLine> {
        let (reply, line) = oneshot::channel();
        let sent = self.requests.send(Request::Read {
            prompt,
            password,
            complete,
            reply,
        });
        tokio::spawn(async move {
            if sent.is_err() {
                return ReadLine::Failed("the line editor thread is gone".to_owned());
            }
            line.await.unwrap_or_else(|_| {
                ReadLine::Failed("the line editor thread ended during a read".to_owned())
            })
        })
    }

    /// Adds a cell to the history and appends it to the history file; returns once saved.
    pub(crate) async fn remember(&self, cell: &str) {
        let (done, saved) = oneshot::channel();
        let request = Request::Remember {
            cell: cell.to_owned(),
            done,
        };
        if self.requests.send(request).is_err() {
            tracing::warn!("cannot add to the history: the line editor thread is gone");
            return;
        }
        // An error means the thread ended; it already said why, if it knew.
        let _ = saved.await;
    }
}

/// Builds the session's editor with its history, keeping pyk's SIGINT handler.
fn create_editor(path: Option<&Path>) -> Result<RustyEditor, ReadlineError> {
    let config = Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)?
        .build();
    let mut history = FileHistory::with_config(&config);
    if let Some(path) = path {
        match history.load(path) {
            Ok(()) => {}
            Err(ReadlineError::Io(err)) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!("cannot load the history from {}: {err}", path.display())
            }
        }
    }
    let sigint = SigintAction::current();
    let editor = Editor::with_history(config, history);
    if let Some(sigint) = sigint {
        sigint.restore();
    }
    editor
}

/// The editor thread: serves requests until every [`LineEditor`] is dropped.
fn serve(mut editor: RustyEditor, path: Option<&Path>, requests: &mpsc::Receiver<Request>) {
    for request in requests {
        match request {
            Request::Read {
                prompt,
                password,
                complete,
                reply,
            } => {
                editor.set_helper(Some(Mask {
                    on: password,
                    complete,
                }));
                let line = match editor.readline(&prompt) {
                    Ok(line) => ReadLine::Line(line),
                    Err(ReadlineError::Eof) => ReadLine::Eof,
                    Err(ReadlineError::Interrupted) => ReadLine::Interrupted,
                    Err(err) => ReadLine::Failed(err.to_string()),
                };
                // Nobody waits for the line when the REPL is leaving.
                let _ = reply.send(line);
            }
            Request::Remember { cell, done } => {
                remember(editor.history_mut(), path, &cell);
                let _ = done.send(());
            }
        }
    }
}

/// Adds `cell` to `history` unless it repeats the last entry, and appends it to `path`.
fn remember(history: &mut FileHistory, path: Option<&Path>, cell: &str) {
    let last = history
        .len()
        .checked_sub(1)
        .and_then(|index| history.get(index, SearchDirection::Forward).ok().flatten());
    if last.is_some_and(|last| last.entry == cell) {
        return;
    }
    if let Err(err) = history.add(cell) {
        tracing::warn!("cannot add to the history: {err}");
        return;
    }
    let Some(path) = path else { return };
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    if let Err(err) = history.append(path) {
        tracing::warn!("cannot save the history to {}: {err}", path.display());
    }
}

/// The SIGINT action in force when it was taken, to put back after rustyline replaced
/// it (Unix only; elsewhere rustyline leaves Ctrl-C alone).
struct SigintAction {
    #[cfg(unix)]
    action: libc::sigaction,
}

impl SigintAction {
    #[cfg(unix)]
    fn current() -> Option<Self> {
        // SAFETY: `sigaction` is a plain C struct for which all zeroes is a valid value.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: with a null new action, `sigaction` only writes the current one into
        // `action`, which is valid for writes.
        let rc = unsafe { libc::sigaction(libc::SIGINT, std::ptr::null(), &mut action) };
        if rc != 0 {
            tracing::warn!(
                "cannot read the Ctrl-C handler: {}",
                io::Error::last_os_error()
            );
            return None;
        }
        Some(Self { action })
    }

    #[cfg(not(unix))]
    fn current() -> Option<Self> {
        None
    }

    fn restore(&self) {
        #[cfg(unix)]
        {
            // SAFETY: `action` is what the kernel gave for SIGINT, handler and flags
            // included, so installing it again is as sound as it was then.
            let rc = unsafe { libc::sigaction(libc::SIGINT, &self.action, std::ptr::null_mut()) };
            if rc != 0 {
                tracing::warn!(
                    "cannot restore the Ctrl-C handler: {}",
                    io::Error::last_os_error()
                );
            }
        }
    }
}

/// Hides a password as `*`s while on; completes with `complete` otherwise.
struct Mask {
    on: bool,
    complete: Option<CompleteFn>,
}

impl Highlighter for Mask {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.on {
            Cow::Owned("*".repeat(line.chars().count()))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        self.on && kind != CmdKind::MoveCursor
    }
}

impl Completer for Mask {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let nothing = Ok((pos, Vec::new()));
        let (false, Some(complete)) = (self.on, &self.complete) else {
            return nothing;
        };
        let Some(before) = line.get(..pos) else {
            return nothing;
        };
        let Some((start, matches)) = complete(line, before.chars().count()) else {
            return nothing;
        };
        // Rustyline counts bytes; the completer counts characters.
        let Some(start) = before
            .char_indices()
            .map(|(index, _)| index)
            .chain([before.len()])
            .nth(start)
        else {
            return nothing;
        };
        Ok((start, matches))
    }
}

impl Hinter for Mask {
    type Hint = String;
}

impl Validator for Mask {}

impl Helper for Mask {}

/// Where the REPL keeps its history: `$PYK_HISTORY` (empty turns history off), else
/// `pykernel/repl_history` in the user's data directory.
pub(crate) fn history_path() -> Option<PathBuf> {
    history_path_from(|name| env::var_os(name))
}

fn history_path_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if let Some(path) = var("PYK_HISTORY") {
        return (!path.is_empty()).then(|| PathBuf::from(path));
    }
    Some(data_dir(&var)?.join("pykernel").join("repl_history"))
}

/// The per-user data directory: `%APPDATA%` on Windows, `~/Library/Application Support`
/// on macOS, else `$XDG_DATA_HOME` (when absolute) or `~/.local/share`.
fn data_dir(var: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let absolute = |name: &str| {
        var(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    if cfg!(windows) {
        return absolute("APPDATA");
    }
    let home = absolute("HOME");
    if cfg!(target_os = "macos") {
        return Some(home?.join("Library").join("Application Support"));
    }
    absolute("XDG_DATA_HOME").or_else(|| Some(home?.join(".local").join("share")))
}

#[cfg(test)]
mod tests;

//! The REPL's line editor (rustyline) with a history file and masked password input.
//!
//! The editor blocks while it reads, so every read runs on tokio's blocking pool.
//! A rustyline editor on a terminal takes over SIGINT for as long as it exists, which
//! would hide Ctrl-C from [`crate::signals::Interrupts`] while a cell runs; so each read
//! builds its own editor and drops it at the end, and only the history lives on.

use std::{
    borrow::Cow,
    env,
    ffi::OsString,
    fs,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
};

use rustyline::{
    Config, Editor, Helper,
    completion::Completer,
    error::ReadlineError,
    highlight::{CmdKind, Highlighter},
    hint::Hinter,
    history::{FileHistory, History, SearchDirection},
    validate::Validator,
};
use tokio::task::JoinHandle;

/// What a read gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadLine {
    /// A line, without its newline.
    Line(String),
    /// Ctrl-D (or the end of piped input).
    Eof,
    /// Ctrl-C.
    Interrupted,
    /// The terminal failed.
    Failed(String),
}

/// A line editor shared between the REPL loop and `input()` answers.
#[derive(Clone)]
pub(crate) struct LineEditor {
    /// The history, lent to each read's editor; the lock also keeps reads one at a time.
    history: Arc<Mutex<FileHistory>>,
    config: Config,
    path: Option<PathBuf>,
}

impl LineEditor {
    /// An editor that loads and appends to the history file `path` (when given).
    pub(crate) fn new(path: Option<PathBuf>) -> Result<Self, ReadlineError> {
        let config = Config::builder()
            .auto_add_history(false)
            .max_history_size(10_000)?
            .build();
        let mut history = FileHistory::with_config(&config);
        if let Some(path) = &path {
            match history.load(path) {
                Ok(()) => {}
                Err(ReadlineError::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::warn!("cannot load the history from {}: {err}", path.display())
                }
            }
        }
        Ok(Self {
            history: Arc::new(Mutex::new(history)),
            config,
            path,
        })
    }

    /// Reads one line after `prompt`.
    pub(crate) async fn read(&self, prompt: String) -> ReadLine {
        match self.start_read(prompt, false).await {
            Ok(line) => line,
            Err(err) => ReadLine::Failed(format!("the line editor stopped: {err}")),
        }
    }

    /// Starts reading one line after `prompt`; `password` shows `*` for each character.
    /// The line is not added to the history (see [`LineEditor::remember`]).
    pub(crate) fn start_read(&self, prompt: String, password: bool) -> JoinHandle<ReadLine> {
        let history = Arc::clone(&self.history);
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in another read cannot leave the history worse than it was, so a
            // poisoned lock is still usable.
            let mut history = history.lock().unwrap_or_else(PoisonError::into_inner);
            let lent = std::mem::replace(&mut *history, FileHistory::with_config(&config));
            let mut editor = match Editor::with_history(config, lent) {
                Ok(editor) => editor,
                Err(err) => return ReadLine::Failed(err.to_string()),
            };
            editor.set_helper(Some(Mask { on: password }));
            let read = editor.readline(&prompt);
            *history = std::mem::replace(editor.history_mut(), FileHistory::new());
            match read {
                Ok(line) => ReadLine::Line(line),
                Err(ReadlineError::Eof) => ReadLine::Eof,
                Err(ReadlineError::Interrupted) => ReadLine::Interrupted,
                Err(err) => ReadLine::Failed(err.to_string()),
            }
        })
    }

    /// Adds a cell to the history and appends it to the history file.
    pub(crate) fn remember(&self, cell: &str) {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
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
        let Some(path) = &self.path else { return };
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        if let Err(err) = history.append(path) {
            tracing::warn!("cannot save the history to {}: {err}", path.display());
        }
    }
}

/// Hides a password as `*`s while on.
struct Mask {
    on: bool,
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

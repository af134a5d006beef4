//! Launchers: a command prefix that carries the runner's stdin and stdout somewhere else.
//!
//! A launcher is any program that runs a command with its stdio forwarded: `ssh HOST`,
//! `docker exec -i CONTAINER`, `kubectl exec -i POD --`, `bwrap ...`, or `env` (the
//! identity launcher). The interpreter command is appended to it. No local pid of the
//! runner is known, so the transport sends interrupts and kills in band (see
//! [`SignalRoute::InBand`]).

use std::{borrow::Cow, ffi::OsString, fmt, path::Path};

use crate::TransportError;

/// The placeholder in a launcher's words that [`Launcher::for_session`] replaces.
pub const SESSION_PLACEHOLDER: &str = "{session}";

/// A command prefix the interpreter command is appended to.
///
/// # Quoting
/// `ssh` does not pass its command's words on: it joins them with spaces and the remote
/// user's shell splits them again. When the launcher's program is `ssh` the interpreter
/// command is therefore appended as one shell-quoted word ([`ArgPassing::Shell`]); every
/// other launcher gets the words as they are ([`ArgPassing::Words`]), as `docker exec`,
/// `kubectl exec`, `bwrap` and `env` pass them to `execve`.
#[derive(Clone, PartialEq, Eq)]
pub struct Launcher {
    words: Vec<String>,
    passing: ArgPassing,
}

/// How a launcher hands the interpreter command on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgPassing {
    /// As separate words, unchanged.
    Words,
    /// As one word of shell-quoted text, for a launcher that runs it through a shell.
    Shell,
}

impl Launcher {
    /// A launcher running `words` (program first).
    ///
    /// # Errors
    /// [`TransportError::Launcher`] when `words` is empty.
    pub fn new(words: Vec<String>) -> Result<Self, TransportError> {
        let Some(program) = words.first() else {
            return Err(TransportError::Launcher(
                "the launcher command is empty".to_owned(),
            ));
        };
        let passing = match Path::new(program)
            .file_name()
            .and_then(|name| name.to_str())
        {
            Some("ssh") => ArgPassing::Shell,
            _ => ArgPassing::Words,
        };
        Ok(Self { words, passing })
    }

    /// A launcher from one command line, split into words as a POSIX shell would (quotes
    /// and backslashes, no expansions).
    ///
    /// # Errors
    /// [`TransportError::Launcher`] when the quoting is unbalanced or there is no word.
    pub fn parse(command: &str) -> Result<Self, TransportError> {
        let Some(words) = shlex::split(command) else {
            return Err(TransportError::Launcher(format!(
                "cannot split the launcher command `{command}` into words (unbalanced quotes?)"
            )));
        };
        Self::new(words)
    }

    /// Overrides how the interpreter command is handed on.
    pub fn with_passing(mut self, passing: ArgPassing) -> Self {
        self.passing = passing;
        self
    }

    /// The launcher's words, program first.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// How the interpreter command is handed on.
    pub fn passing(&self) -> ArgPassing {
        self.passing
    }

    /// Whether some word holds [`SESSION_PLACEHOLDER`].
    pub fn has_session_placeholder(&self) -> bool {
        self.words
            .iter()
            .any(|word| word.contains(SESSION_PLACEHOLDER))
    }

    /// This launcher with every [`SESSION_PLACEHOLDER`] replaced by `session` made safe
    /// for a host, container or pod name (see [`safe_session_name`]).
    pub fn for_session(&self, session: &str) -> Self {
        let name = safe_session_name(session);
        Self {
            words: self
                .words
                .iter()
                .map(|word| word.replace(SESSION_PLACEHOLDER, &name))
                .collect(),
            passing: self.passing,
        }
    }

    /// The program and arguments that run `interpreter` (its program first) through this
    /// launcher.
    pub fn command(&self, interpreter: &[OsString]) -> (OsString, Vec<OsString>) {
        let mut words = self.words.iter().map(OsString::from);
        // `new` refuses an empty launcher.
        let program = words.next().unwrap_or_default();
        let mut args: Vec<OsString> = words.collect();
        match self.passing {
            ArgPassing::Words => args.extend(interpreter.iter().cloned()),
            ArgPassing::Shell => args.push(shell_join(interpreter).into()),
        }
        (program, args)
    }
}

impl fmt::Debug for Launcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Launcher")
            .field("words", &self.words)
            .field("passing", &self.passing)
            .finish()
    }
}

impl fmt::Display for Launcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_join(
            &self.words.iter().map(OsString::from).collect::<Vec<_>>(),
        ))
    }
}

/// `session` as a name a host, container or Kubernetes pod accepts: lowercase ASCII
/// letters and digits, every other run of characters one `-`, no `-` at either end, at
/// most 40 characters, and `session` when nothing is left.
pub fn safe_session_name(session: &str) -> String {
    let mut name = String::new();
    for ch in session.chars() {
        if ch.is_ascii_alphanumeric() {
            name.push(ch.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(40);
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "session".to_owned()
    } else {
        name.to_owned()
    }
}

/// Words as one line a POSIX shell splits back into them: each word single-quoted
/// unless it needs no quotes.
fn shell_join(words: &[OsString]) -> String {
    words
        .iter()
        .map(|word| quote_word(&word.to_string_lossy()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote_word(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_-./=:,+@%".contains(ch));
    if plain {
        return Cow::Borrowed(word);
    }
    Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
}

#[cfg(test)]
mod tests;

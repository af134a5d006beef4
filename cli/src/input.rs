//! Answering `input()` from `pyk`'s own standard input (for `pyk exec`).
//!
//! The line is read on a plain thread, because a blocking read cannot be cancelled:
//! if the cell ends first, the thread is abandoned and dies with the process.
//! The REPL answers `input()` with its line editor instead.

use std::{
    io::{self, BufRead},
    thread,
};

use tokio::sync::oneshot;

/// One line being read from stdin.
pub(crate) struct StdinLine {
    line: oneshot::Receiver<io::Result<Option<String>>>,
    /// Echo is off for a password; restored when the read ends or is abandoned.
    _echo: Option<EchoOff>,
}

impl StdinLine {
    /// Starts reading one line; `password` turns the terminal's echo off meanwhile.
    pub(crate) fn start(password: bool) -> Self {
        let echo = if password { EchoOff::new() } else { None };
        let (sender, line) = oneshot::channel();
        thread::spawn(move || {
            let mut text = String::new();
            let read = match io::stdin().lock().read_line(&mut text) {
                Ok(0) => Ok(None),
                Ok(_) => {
                    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
                    Ok(Some(
                        trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned(),
                    ))
                }
                Err(err) => Err(err),
            };
            // The receiver is gone when the cell already ended; nobody wants the line.
            let _ = sender.send(read);
        });
        Self { line, _echo: echo }
    }

    /// The line without its newline; `None` at end of input.
    ///
    /// # Cancel safety
    /// Cancel safe when polled through `&mut`: the line stays in the channel.
    pub(crate) async fn line(&mut self) -> io::Result<Option<String>> {
        match (&mut self.line).await {
            Ok(read) => read,
            Err(_) => Err(io::Error::other("the stdin reader thread ended")),
        }
    }
}

/// The terminal's echo, off while this lives (Unix terminals only; elsewhere a no-op).
struct EchoOff {
    #[cfg(unix)]
    original: rustix::termios::Termios,
}

impl EchoOff {
    #[cfg(unix)]
    fn new() -> Option<Self> {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = io::stdin();
        let original = tcgetattr(&stdin).ok()?;
        let mut quiet = original.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        tcsetattr(&stdin, OptionalActions::Now, &quiet).ok()?;
        Some(Self { original })
    }

    #[cfg(not(unix))]
    fn new() -> Option<Self> {
        None
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use rustix::termios::{OptionalActions, tcsetattr};
            let _ = tcsetattr(io::stdin(), OptionalActions::Now, &self.original);
        }
    }
}

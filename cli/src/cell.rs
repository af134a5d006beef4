//! Running one cell: streaming its outputs, answering `input()`, and Ctrl-C.
//!
//! The first Ctrl-C interrupts the cell through the kernel (a `KeyboardInterrupt` in
//! Python); if the cell has not ended within the kernel's interrupt grace, the kernel
//! kills it. A second Ctrl-C kills the kernel at once.
//!
//! When stdout's reader goes away (`pyk exec ... | head -1`), the cell is stopped too:
//! interrupted, and killed if it has not ended after [`BROKEN_PIPE_GRACE`].

use std::{
    io::{self, IsTerminal},
    time::Duration,
};

use pykernel::{ExecuteOptions, Execution, Kernel, KernelError, Outcome, Output};
use tokio::task::JoinHandle;

use crate::{
    editor::{LineEditor, ReadLine},
    input::StdinLine,
    output::Printer,
    signals::Interrupts,
};

/// How long a cell whose output has nowhere to go gets to end after its interrupt,
/// before the kernel is killed: `pyk` is to exit at once, as Unix tools do on SIGPIPE.
const BROKEN_PIPE_GRACE: Duration = Duration::from_millis(200);

/// How `input()` is answered.
pub(crate) enum Answer<'a> {
    /// Not at all: the cell runs with `input()` disabled.
    Refuse,
    /// With a line from `pyk`'s standard input.
    Stdin,
    /// With the REPL's line editor.
    Editor(&'a LineEditor),
}

/// How a cell ended.
#[derive(Debug)]
pub(crate) struct CellEnd {
    /// The kernel's outcome, or why it could not give one (it died).
    pub(crate) outcome: Result<Outcome, KernelError>,
    /// The user pressed Ctrl-C while the cell ran.
    pub(crate) interrupted: bool,
    /// The user pressed Ctrl-C twice and the kernel was killed.
    pub(crate) killed: bool,
    /// Stdout's reader went away, so the cell was stopped early.
    pub(crate) broken_pipe: bool,
}

/// A line being read for `input()`.
enum Reading {
    Stdin { line: StdinLine, password: bool },
    Editor(JoinHandle<ReadLine>),
}

/// Runs `code` and shows its outputs until it ends.
pub(crate) async fn run_cell(
    kernel: &Kernel,
    code: &str,
    options: ExecuteOptions,
    printer: &mut Printer,
    answer: Answer<'_>,
    interrupts: &mut Interrupts,
    out_prompt: Option<&str>,
) -> CellEnd {
    let options = options.with_stdin(!matches!(answer, Answer::Refuse));
    let mut execution = kernel.execute(code, options);
    printer.begin_cell();
    let mut n_interrupts = 0u32;
    let mut killed = false;
    let mut reading: Option<Reading> = None;
    loop {
        tokio::select! {
            output = execution.next_output() => {
                let Some(output) = output else { break };
                match output {
                    Output::InputRequest { prompt, password } => {
                        if reading.is_some() {
                            tracing::warn!("input() asked again before the last line was read");
                            continue;
                        }
                        reading = Some(match &answer {
                            Answer::Refuse => {
                                tracing::debug!("the cell asked for input although stdin is off");
                                continue;
                            }
                            Answer::Stdin => {
                                printer.prompt(&prompt);
                                Reading::Stdin { line: StdinLine::start(password), password }
                            }
                            Answer::Editor(editor) => {
                                Reading::Editor(editor.start_read(prompt, password))
                            }
                        });
                    }
                    other => {
                        printer.output(&other, out_prompt);
                        if printer.stdout_broken() {
                            return stop_for_broken_pipe(kernel, execution, n_interrupts, killed)
                                .await;
                        }
                    }
                }
            }
            line = read_line(&mut reading), if reading.is_some() => {
                match reading.take() {
                    // The editor ends the line itself.
                    Some(Reading::Editor(_)) => printer.input_done(true),
                    // A terminal echoes the Enter, except while it hides a password.
                    Some(Reading::Stdin { password, .. }) => {
                        let terminal = io::stdin().is_terminal();
                        if terminal && password {
                            printer.prompt("\n");
                        }
                        printer.input_done(terminal);
                    }
                    None => {}
                }
                let replied = match line {
                    ReadLine::Line(value) => execution.reply_input(value),
                    // The end of pyk's stdin, or Ctrl-D in the REPL: `input()` raises
                    // `EOFError`, as it does in Python.
                    ReadLine::Eof => execution.reply_input_eof(),
                    ReadLine::Interrupted => {
                        n_interrupts += 1;
                        interrupt(kernel, &execution, n_interrupts, &mut killed).await;
                        continue;
                    }
                    // No more input can come: a loop over `input()` must end.
                    ReadLine::Failed(message) => {
                        eprintln!("pyk: cannot read input: {message}");
                        execution.reply_input_eof()
                    }
                };
                if let Err(err) = replied {
                    tracing::debug!("the input() answer was not delivered: {err}");
                }
            }
            () = interrupts.recv() => {
                n_interrupts += 1;
                interrupt(kernel, &execution, n_interrupts, &mut killed).await;
            }
        }
    }
    if let Some(Reading::Editor(pending)) = reading.take() {
        // The editor is busy until the read ends; the next prompt needs it.
        eprintln!("\npyk: the cell ended while waiting for input; press Enter");
        let _ = pending.await;
    }
    let outcome = execution.outcome().await;
    CellEnd {
        outcome,
        interrupted: n_interrupts > 0,
        killed,
        broken_pipe: false,
    }
}

/// Stops a cell whose output can no longer be shown: interrupts it, and kills the kernel
/// if it has not ended within [`BROKEN_PIPE_GRACE`].
async fn stop_for_broken_pipe(
    kernel: &Kernel,
    execution: Execution,
    n_interrupts: u32,
    mut killed: bool,
) -> CellEnd {
    execution.cancel();
    let outcome = execution.outcome();
    tokio::pin!(outcome);
    let outcome = tokio::select! {
        outcome = &mut outcome => outcome,
        () = tokio::time::sleep(BROKEN_PIPE_GRACE) => {
            killed = true;
            // The kill ends the cell, so its outcome follows at once.
            kernel.kill().await;
            outcome.await
        }
    };
    CellEnd {
        outcome,
        interrupted: n_interrupts > 0,
        killed,
        broken_pipe: true,
    }
}

async fn read_line(reading: &mut Option<Reading>) -> ReadLine {
    match reading {
        Some(Reading::Stdin { line, .. }) => match line.line().await {
            Ok(Some(line)) => ReadLine::Line(line),
            Ok(None) => ReadLine::Eof,
            Err(err) => ReadLine::Failed(err.to_string()),
        },
        Some(Reading::Editor(pending)) => match pending.await {
            Ok(line) => line,
            Err(err) => ReadLine::Failed(format!("the line editor stopped: {err}")),
        },
        None => std::future::pending().await,
    }
}

/// The first Ctrl-C cancels the cell (SIGINT, then the kernel's escalation); the second
/// kills the kernel (SIGKILL, without a graceful step).
async fn interrupt(kernel: &Kernel, execution: &Execution, n_interrupts: u32, killed: &mut bool) {
    if n_interrupts == 1 {
        // On a terminal the `^C` echo shares the line; start a new one.
        let newline = if io::stderr().is_terminal() { "\n" } else { "" };
        eprintln!("{newline}pyk: interrupting (Ctrl-C again kills the kernel)");
        execution.cancel();
    } else if !*killed {
        eprintln!("pyk: killing the kernel");
        *killed = true;
        // SIGKILL to the runner's process group at once: the user asked twice.
        let report = kernel.kill().await;
        if !report.confirmed() {
            tracing::warn!("the kernel's exit could not be confirmed");
        }
    }
}

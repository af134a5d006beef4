//! `pyk repl`: an interactive session on one kernel.
//!
//! Prompts read `In [n]:` and results `Out[n]:`. A cell continues on `...:` lines while
//! it is incomplete (see [`crate::multiline`]). Ctrl-C at the prompt clears the cell,
//! Ctrl-C while a cell runs interrupts it, Ctrl-D (or `exit`/`quit`) leaves and shuts
//! the kernel down. A kernel that dies is replaced by a fresh one.

use std::{sync::Arc, sync::mpsc, time::Duration};

use pykernel::{COMPLETE_TIMEOUT, ExecuteOptions, Kernel, KernelOptions, Outcome};

use crate::{
    args::ReplArgs,
    cell::{Answer, run_cell},
    editor::{CompleteFn, LineEditor, ReadLine, history_path},
    error_chain,
    exec::{report_start_failure, shut_down},
    exit::Exit,
    multiline::PendingCell,
    output::Printer,
    signals::{self, Interrupts},
};

/// What the prompt gave.
enum Entered {
    /// A complete cell.
    Cell(String),
    /// Ctrl-C: the cell was dropped.
    Cleared,
    /// Ctrl-D, or the terminal failed.
    Leave,
}

/// Runs `pyk repl`.
pub(crate) async fn repl(args: &ReplArgs, interrupts: &mut Interrupts) -> Exit {
    let editor = match LineEditor::new(history_path()) {
        Ok(editor) => editor,
        Err(err) => {
            eprintln!("pyk: cannot open the terminal: {err}");
            return Exit::Unusable;
        }
    };
    let options = args.kernel.kernel_options();
    let Some(mut kernel) = start(&options, interrupts).await else {
        return Exit::Unusable;
    };
    banner(&kernel);
    let mut printer = Printer::human(args.display.save_images.clone());
    let mut count = 0;
    loop {
        printer.finish_line();
        let number = count + 1;
        let cell = match read_cell(&editor, &kernel, number, &mut printer).await {
            Entered::Cell(cell) => cell,
            Entered::Cleared => continue,
            Entered::Leave => break,
        };
        editor.remember(&cell).await;
        if matches!(cell.trim(), "exit" | "exit()" | "quit" | "quit()") {
            break;
        }
        // The kernel may have died while idle (a thread called `os._exit`, say).
        let number = if kernel.is_alive() {
            number
        } else {
            let Some(fresh) = restart(&kernel, &options, interrupts).await else {
                return Exit::Unusable;
            };
            kernel = fresh;
            1
        };
        interrupts.forget_pending();
        let out_prompt = format!("Out[{number}]: ");
        let end = run_cell(
            &kernel,
            &cell,
            ExecuteOptions::new(),
            &mut printer,
            Answer::Editor(&editor),
            interrupts,
            Some(&out_prompt),
        )
        .await;
        if end.broken_pipe {
            shut_down(&kernel).await;
            return Exit::BrokenPipe;
        }
        printer.finish_line();
        match &end.outcome {
            Ok(outcome) => {
                report(outcome);
                count = outcome.execution_count.unwrap_or(number);
            }
            Err(err) => eprintln!("pyk: {}", error_chain(err)),
        }
        if end.killed {
            eprintln!("pyk: the kernel was killed");
        }
        if !kernel.is_alive() {
            let Some(fresh) = restart(&kernel, &options, interrupts).await else {
                return Exit::Unusable;
            };
            kernel = fresh;
            count = 0;
        }
    }
    shut_down(&kernel).await;
    Exit::Success
}

/// `Python 3.11.7 at /usr/bin/python3 (pyk 0.1.0). Ctrl-D exits, Ctrl-C interrupts.`
fn banner(kernel: &Kernel) {
    let info = kernel.info();
    let at = info
        .python
        .as_ref()
        .map(|python| format!(" at {}", python.path.display()));
    println!(
        "Python {}{} (pyk {}). Ctrl-D exits, Ctrl-C interrupts.",
        info.python_version,
        at.unwrap_or_default(),
        env!("CARGO_PKG_VERSION"),
    );
}

/// Replaces a dead kernel with a fresh one; `None` when the new one cannot start.
async fn restart(
    dead: &Kernel,
    options: &KernelOptions,
    interrupts: &mut Interrupts,
) -> Option<Kernel> {
    eprintln!("pyk: starting a new kernel (variables are lost)");
    shut_down(dead).await;
    start(options, interrupts).await
}

/// Starts a kernel; Ctrl-C abandons the start. Says why on failure.
async fn start(options: &KernelOptions, interrupts: &mut Interrupts) -> Option<Kernel> {
    let started = interrupts
        .unless_interrupted(Kernel::start(options.clone()))
        .await?;
    let kernel = started.map_err(|err| report_start_failure(&err)).ok()?;
    signals::watch(&kernel);
    Some(kernel)
}

/// Reads lines until they make a complete cell; Tab completes from `kernel`. Output a
/// background thread writes meanwhile (after its cell ended) is printed as it comes.
async fn read_cell(
    editor: &LineEditor,
    kernel: &Kernel,
    number: u64,
    printer: &mut Printer,
) -> Entered {
    let prompt = format!("In [{number}]: ");
    let continuation = format!("{:>width$}: ", "...", width = prompt.len() - 2);
    let mut cell = PendingCell::default();
    loop {
        let prompt = if cell.is_empty() {
            &prompt
        } else {
            &continuation
        };
        let complete = completer(kernel, cell.text_so_far());
        let read = editor.read(prompt.clone(), Some(complete));
        tokio::pin!(read);
        let mut watching = true;
        let line = loop {
            tokio::select! {
                line = &mut read => break line,
                late = kernel.unattached_output(), if watching => match late {
                    Some(outputs) => printer.late_output(&outputs),
                    // The kernel ended: nothing more can come.
                    None => watching = false,
                },
            }
        };
        match line {
            ReadLine::Line(line) => {
                if let Some(code) = cell.add(&line) {
                    return Entered::Cell(code);
                }
            }
            ReadLine::Interrupted => return Entered::Cleared,
            ReadLine::Eof => {
                // Ctrl-D on a continuation line drops the unfinished cell, as the prompt
                // line would; Ctrl-D on an empty prompt leaves.
                if cell.is_empty() {
                    println!();
                    return Entered::Leave;
                }
                return Entered::Cleared;
            }
            ReadLine::Failed(message) => {
                eprintln!("pyk: cannot read the terminal: {message}");
                return Entered::Leave;
            }
        }
    }
}

/// Tab completion for one line of a cell whose earlier lines are `before`: asks the
/// kernel (on the runtime, from the editor thread) and waits a bounded time, so a
/// stuck kernel never freezes the prompt. Errors and timeouts offer nothing.
fn completer(kernel: &Kernel, before: String) -> CompleteFn {
    let kernel = kernel.clone();
    let runtime = tokio::runtime::Handle::current();
    let offset = before.chars().count();
    Arc::new(move |line: &str, cursor: usize| {
        if !kernel.is_alive() {
            return None;
        }
        let code = format!("{before}{line}");
        let (answer, answered) = mpsc::sync_channel(1);
        let kernel = kernel.clone();
        // The REPL's runtime keeps running while the editor thread waits: its own thread
        // is parked in `block_on`, waiting for this very read.
        runtime.spawn(async move {
            let _ = answer.send(kernel.complete(&code, offset + cursor).await);
        });
        let found = answered
            .recv_timeout(COMPLETE_TIMEOUT + Duration::from_millis(500))
            .ok()?
            .map_err(|err| tracing::debug!("completion failed: {err}"))
            .ok()?;
        // A match that starts on an earlier line cannot be shown on this one.
        let start = found.cursor_start.checked_sub(offset)?;
        Some((start, found.matches))
    })
}

/// Says what the outcome means beyond the outputs already shown.
fn report(outcome: &Outcome) {
    if outcome.kernel_killed() {
        eprintln!("pyk: the kernel was killed because the cell did not stop after the interrupt");
    }
    if outcome.stdin_requested() {
        eprintln!("pyk: the cell called input(), which could not be answered");
    }
}

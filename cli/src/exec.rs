//! `pyk exec`: run code in a fresh kernel and exit with its status.

use std::{
    fs,
    io::{self, Read},
};

use pykernel::{ExecuteOptions, Kernel, KernelError};

use crate::{
    args::{ExecArgs, Source},
    cell::{Answer, CellEnd, run_cell},
    error_chain,
    exit::Exit,
    json::JsonEvent,
    output::Printer,
    signals::Interrupts,
};

/// Runs `pyk exec`.
pub(crate) async fn exec(args: &ExecArgs, interrupts: &mut Interrupts) -> Exit {
    let mut printer = if args.json {
        Printer::json()
    } else {
        Printer::human(args.display.save_images.clone())
    };
    let source = args.source();
    let code = match read_source(&source) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("pyk: {message}");
            return Exit::Unusable;
        }
    };

    let kernel = tokio::select! {
        kernel = Kernel::start(args.kernel.kernel_options()) => kernel,
        () = interrupts.recv() => {
            eprintln!("pyk: interrupted while the kernel was starting");
            return Exit::Interrupted;
        }
    };
    let kernel = match kernel {
        Ok(kernel) => kernel,
        Err(err) => {
            report_start_failure(&err);
            printer.json_line(&JsonEvent::from_kernel_error(&err, false));
            return Exit::Unusable;
        }
    };

    let mut options = ExecuteOptions::new();
    if let Some(timeout) = args.timeout {
        options = options.with_timeout(timeout);
    }
    // `input()` reads pyk's stdin, unless the code came from there or a program reads
    // the JSON lines (it could not see the prompt).
    let answer = if source == Source::Stdin || args.json {
        Answer::Refuse
    } else {
        Answer::Stdin
    };
    let end = run_cell(
        &kernel,
        &code,
        options,
        &mut printer,
        answer,
        interrupts,
        None,
    )
    .await;
    printer.finish_line();
    shut_down(&kernel).await;
    report_end(&end, &mut printer, args)
}

/// Says why the kernel could not start, on stderr.
pub(crate) fn report_start_failure(err: &KernelError) {
    eprintln!("pyk: cannot start the kernel: {}", error_chain(err));
}

/// Shuts the kernel down and logs an exit that could not be confirmed.
pub(crate) async fn shut_down(kernel: &Kernel) {
    let report = kernel.shutdown().await;
    if !report.confirmed {
        tracing::warn!("the kernel's exit could not be confirmed");
    }
}

/// Prints what the ending means and picks the exit code.
fn report_end(end: &CellEnd, printer: &mut Printer, args: &ExecArgs) -> Exit {
    let outcome = match &end.outcome {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("pyk: {}", error_chain(err));
            printer.json_line(&JsonEvent::from_kernel_error(err, true));
            return if end.interrupted {
                Exit::Interrupted
            } else {
                Exit::Failure
            };
        }
    };
    printer.json_line(&JsonEvent::from_outcome(outcome));
    if outcome.timed_out {
        let secs = args.timeout.map_or(0.0, |timeout| timeout.as_secs_f64());
        eprintln!("pyk: timed out after {secs} s");
    }
    if end.killed {
        eprintln!("pyk: the kernel was killed");
    } else if outcome.kernel_killed {
        eprintln!("pyk: the kernel was killed because the code did not stop after the interrupt");
    }
    if outcome.stdin_requested {
        eprintln!("pyk: the code called input(), but there is no stdin to answer it here");
    }
    Exit::from_outcome(outcome, end.interrupted)
}

/// The code to run, or a message saying why it cannot be read.
fn read_source(source: &Source) -> Result<String, String> {
    match source {
        Source::Inline(code) => Ok(code.clone()),
        Source::File(path) => {
            fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
        }
        Source::Stdin => {
            let mut code = String::new();
            io::stdin()
                .read_to_string(&mut code)
                .map_err(|err| format!("cannot read the code from stdin: {err}"))?;
            Ok(code)
        }
    }
}

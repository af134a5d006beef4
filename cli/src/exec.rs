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
    signals::{self, Interrupts},
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

    let Some(kernel) = interrupts
        .unless_interrupted(Kernel::start(args.kernel.kernel_options()))
        .await
    else {
        return Exit::Interrupted;
    };
    let kernel = match kernel {
        Ok(kernel) => kernel,
        Err(err) => {
            report_start_failure(&err);
            printer.json_line(&JsonEvent::from_kernel_error(&err, false));
            return Exit::Unusable;
        }
    };
    signals::watch(&kernel);

    if let Err(message) = set_script_context(&kernel, &source, &args.script_args).await {
        eprintln!("pyk: {message}");
        shut_down(&kernel).await;
        return Exit::Failure;
    }

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
    if end.broken_pipe {
        // Quietly, as a Unix tool that SIGPIPE ended: the reader wanted no more.
        shut_down(&kernel).await;
        return Exit::BrokenPipe;
    }
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
    if !report.confirmed() {
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
    if outcome.timed_out() {
        let secs = args.timeout.map_or(0.0, |timeout| timeout.as_secs_f64());
        eprintln!("pyk: timed out after {secs} s");
    }
    if end.killed {
        eprintln!("pyk: the kernel was killed");
    } else if outcome.kernel_killed() {
        eprintln!("pyk: the kernel was killed because the code did not stop after the interrupt");
    }
    if outcome.stdin_requested() {
        eprintln!("pyk: the code called input(), but there is no stdin to answer it here");
    }
    Exit::from_outcome(outcome, end.interrupted)
}

/// Gives the code the `sys.argv` and `__file__` that `python` would: `[FILE, ARGS...]`
/// with an absolute `__file__` for a file, `['-c', ARGS...]` and `['-', ARGS...]` otherwise.
///
/// It runs as a silent cell, so it shows nothing and is not counted in history.
async fn set_script_context(
    kernel: &Kernel,
    source: &Source,
    script_args: &[String],
) -> Result<(), String> {
    let code = script_context_code(source, script_args)?;
    let outcome = kernel
        .execute(code, ExecuteOptions::new().silent())
        .outcome()
        .await
        .map_err(|err| error_chain(&err))?;
    match outcome.error {
        None => Ok(()),
        Some(error) => Err(format!(
            "cannot set sys.argv: {}: {}",
            error.ename, error.evalue
        )),
    }
}

/// The Python source of [`set_script_context`]. JSON strings are valid Python string
/// literals, so the values go in through `serde_json`.
fn script_context_code(source: &Source, script_args: &[String]) -> Result<String, String> {
    let (argv0, file) = match source {
        Source::Inline(_) => ("-c".to_owned(), None),
        Source::Stdin => ("-".to_owned(), None),
        Source::File(path) => {
            let absolute = std::path::absolute(path)
                .map_err(|err| format!("cannot resolve {}: {err}", path.display()))?;
            (
                path.to_string_lossy().into_owned(),
                Some(absolute.to_string_lossy().into_owned()),
            )
        }
    };
    let argv: Vec<&str> = std::iter::once(argv0.as_str())
        .chain(script_args.iter().map(String::as_str))
        .collect();
    let argv = serde_json::to_string(&argv).map_err(|err| err.to_string())?;
    let mut code = format!("import sys as __pyk_sys\n__pyk_sys.argv = {argv}\ndel __pyk_sys\n");
    if let Some(file) = file {
        let file = serde_json::to_string(&file).map_err(|err| err.to_string())?;
        code.push_str(&format!("__file__ = {file}\n"));
    }
    Ok(code)
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{Source, script_context_code};

    #[test]
    fn script_context_quotes_every_value() {
        let code = script_context_code(
            &Source::Inline(String::new()),
            &["it's \"quoted\"\\".to_owned(), "naïve\n".to_owned()],
        );
        insta::assert_snapshot!(code.unwrap_or_else(|err| err), @r#"
        import sys as __pyk_sys
        __pyk_sys.argv = ["-c","it's \"quoted\"\\","naïve\n"]
        del __pyk_sys
        "#);
    }

    #[test]
    fn script_context_of_a_file_sets_an_absolute_file() {
        let path = PathBuf::from("/work/script.py");
        let code = script_context_code(&Source::File(path), &[]);
        insta::assert_snapshot!(code.unwrap_or_else(|err| err), @r#"
        import sys as __pyk_sys
        __pyk_sys.argv = ["/work/script.py"]
        del __pyk_sys
        __file__ = "/work/script.py"
        "#);
    }
}

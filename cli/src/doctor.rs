//! `pyk doctor`: which interpreter would run, and whether a kernel starts on it.

use std::time::Instant;

use pykernel::{ExecuteOptions, Kernel, Output, PythonSource, resolve_python};

use crate::{args::DoctorArgs, error_chain, exec::shut_down, exit::Exit, signals::Interrupts};

/// Runs `pyk doctor`: healthy (0) when `1+1` gives `2` on a fresh kernel, else 2.
pub(crate) async fn doctor(args: &DoctorArgs, interrupts: &mut Interrupts) -> Exit {
    let options = args.kernel.kernel_options();
    let resolved = match resolve_python(&options) {
        Ok(resolved) => resolved,
        Err(err) => {
            println!("python:   not found ({})", error_chain(&err));
            println!("status:   unhealthy");
            return Exit::Unusable;
        }
    };
    println!("python:   {}", resolved.path.display());
    println!("chosen:   {}", why(&resolved.source));

    let started_at = Instant::now();
    let started = tokio::select! {
        kernel = Kernel::start(options) => kernel,
        () = interrupts.recv() => {
            eprintln!("pyk: interrupted while the kernel was starting");
            return Exit::Interrupted;
        }
    };
    let startup = started_at.elapsed();
    let kernel = match started {
        Ok(kernel) => kernel,
        Err(err) => {
            println!("runner:   does not start ({})", error_chain(&err));
            println!("status:   unhealthy");
            return Exit::Unusable;
        }
    };
    println!("version:  {}", kernel.info().python_version);
    println!("startup:  {} ms", startup.as_millis());

    let ran_at = Instant::now();
    let check = two(&kernel).await;
    let roundtrip = ran_at.elapsed();
    shut_down(&kernel).await;
    match check {
        Ok(()) => {
            println!(
                "runner:   ok (1+1 = 2 in {:.1} ms)",
                roundtrip.as_secs_f64() * 1000.0
            );
            println!("status:   healthy");
            Exit::Success
        }
        Err(problem) => {
            println!("runner:   broken ({problem})");
            println!("status:   unhealthy");
            Exit::Unusable
        }
    }
}

/// Why the interpreter was chosen, in words.
fn why(source: &PythonSource) -> String {
    match source {
        PythonSource::Explicit => "given with --python".to_owned(),
        PythonSource::VirtualEnv => "the active virtualenv ($VIRTUAL_ENV)".to_owned(),
        PythonSource::ProjectVenv(dir) => format!("the project virtualenv {}", dir.display()),
        PythonSource::Path => "the first of python3, python on PATH".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Runs `1+1` and checks that the result is `2`.
async fn two(kernel: &Kernel) -> Result<(), String> {
    let mut execution = kernel.execute("1+1", ExecuteOptions::new().with_store_history(false));
    let mut result = None;
    while let Some(output) = execution.next_output().await {
        if let Output::Result(bundle) = output {
            result = bundle.get_str("text/plain").map(str::to_owned);
        }
    }
    let outcome = execution.outcome().await.map_err(|err| error_chain(&err))?;
    if let Some(error) = outcome.error {
        return Err(format!("{}: {}", error.ename, error.evalue));
    }
    match result.as_deref() {
        Some("2") => Ok(()),
        Some(other) => Err(format!("1+1 gave {other}")),
        None => Err("1+1 gave no result".to_owned()),
    }
}

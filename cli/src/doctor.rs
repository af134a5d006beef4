//! `pyk doctor`: which interpreter would run and why, every candidate the discovery rules
//! saw, what a start costs (and what a shim would add), and whether a kernel starts.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use pykernel::{Candidate, Discovery, ExecuteOptions, Kernel, Output, Shim, discover_pythons};

use crate::{args::DoctorArgs, error_chain, exec::shut_down, exit::Exit, signals::Interrupts};

/// Runs `pyk doctor`: healthy (0) when `1+1` gives `2` on a fresh kernel, else 2.
pub(crate) async fn doctor(args: &DoctorArgs, interrupts: &mut Interrupts) -> Exit {
    let options = args.kernel.kernel_options();
    if let Some(sandbox) = &options.sandbox {
        match sandbox.check() {
            Ok(version) => println!("sandbox:  usable ({version})"),
            Err(why) => {
                println!("sandbox:  unusable: {why}");
                println!("status:   unhealthy");
                return Exit::Unusable;
            }
        }
    }
    if let Some(launcher) = &options.launcher {
        return doctor_launcher(launcher.to_string(), options, interrupts).await;
    }
    let discovery = discover_pythons(&options);
    print_candidates(&discovery);
    let resolved = match &discovery.result {
        Ok(resolved) => resolved.clone(),
        Err(err) => {
            println!("python:   not found ({})", error_chain(err));
            println!("status:   unhealthy");
            return Exit::Unusable;
        }
    };
    println!("python:   {}", resolved.path.display());
    println!("chosen:   {}", resolved.source);
    if let Some(shim) = &resolved.shim {
        print_shim_warning(shim, &resolved.path);
    }

    let engine = options.engine;
    let (kernel, startup) = match start_timed(options, interrupts).await {
        Ok(started) => started,
        Err(exit) => return exit,
    };
    println!("version:  {}", kernel.info().python_version);
    println!("engine:   {engine}");
    println!("startup:  {} ms", startup.as_millis());

    report_two(&kernel).await
}

/// `pyk doctor --launcher`: the far side's interpreter, its version, the runner's hash,
/// the start and the `1+1` round trip through the launcher.
async fn doctor_launcher(
    launcher: String,
    options: pykernel::KernelOptions,
    interrupts: &mut Interrupts,
) -> Exit {
    println!("launcher: {launcher}");
    let python = options.python.as_ref().map_or_else(
        || pykernel::DEFAULT_REMOTE_PYTHON.to_owned(),
        |python| python.display().to_string(),
    );
    println!("python:   {python} (on the far side)");
    let (kernel, startup) = match start_timed(options, interrupts).await {
        Ok(started) => started,
        Err(exit) => return exit,
    };
    let mut execution = kernel.execute(
        "import sys; print(sys.executable)",
        ExecuteOptions::new().silent(),
    );
    let mut executable = String::new();
    while let Some(output) = execution.next_output().await {
        if let Output::Stdout(text) = output {
            executable.push_str(&text);
        }
    }
    let _ = execution.outcome().await;
    println!("far side: {}", executable.trim());
    println!("version:  {}", kernel.info().python_version);
    if let Some(hash) = &kernel.info().runner_hash {
        println!("runner:   sha256 {hash}");
    }
    println!("startup:  {} ms", startup.as_millis());
    report_two(&kernel).await
}

/// Starts a kernel with `options` and times it; `Err` is the exit when it does not start
/// or the user interrupts.
async fn start_timed(
    options: pykernel::KernelOptions,
    interrupts: &mut Interrupts,
) -> Result<(Kernel, Duration), Exit> {
    let started_at = Instant::now();
    let Some(started) = interrupts.unless_interrupted(Kernel::start(options)).await else {
        return Err(Exit::Interrupted);
    };
    let startup = started_at.elapsed();
    let kernel = match started {
        Ok(kernel) => kernel,
        Err(err) => {
            println!("runner:   does not start ({})", error_chain(&err));
            println!("status:   unhealthy");
            return Err(Exit::Unusable);
        }
    };
    Ok((kernel, startup))
}

/// Runs `1+1`, shuts the kernel down and says whether it is healthy (0) or not (2).
async fn report_two(kernel: &Kernel) -> Exit {
    let ran_at = Instant::now();
    let check = two(kernel).await;
    let roundtrip = ran_at.elapsed();
    shut_down(kernel).await;
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

/// Every candidate, in rule order: `*` marks the one a start uses, `-` one skipped.
fn print_candidates(discovery: &Discovery) {
    if discovery.candidates.is_empty() {
        return;
    }
    println!("candidates (first match wins):");
    for (index, candidate) in discovery.candidates.iter().enumerate() {
        let mark = match (&candidate.skipped, discovery.chosen == Some(index)) {
            (_, true) => '*',
            (Some(_), false) => '-',
            (None, false) => ' ',
        };
        println!("  {mark} {}", describe(candidate));
    }
}

/// One candidate in words: its rule, what runs, its version, its shim, why it was skipped.
fn describe(candidate: &Candidate) -> String {
    let mut line = format!("{}: {}", candidate.source, candidate.path.display());
    if let Some(version) = &candidate.version {
        line.push_str(&format!(" ({version})"));
    }
    if let Some(shim) = &candidate.shim {
        line.push_str(&format!(" via the {} {}", shim.kind, shim.path.display()));
    }
    if let Some(skipped) = &candidate.skipped {
        line.push_str(&format!("; skipped: {skipped}"));
    }
    line
}

/// Says that the interpreter was found through a shim, which pykernel does not run, and
/// what running the shim costs against the direct interpreter.
fn print_shim_warning(shim: &Shim, direct: &Path) {
    println!(
        "warning:  found through the {} {}; pykernel runs {} directly",
        shim.kind,
        shim.path.display(),
        direct.display()
    );
    match (time_pass(&shim.path), time_pass(direct)) {
        (Some(through_shim), Some(direct)) => println!(
            "shim:     python -c pass takes {} ms through the shim, {} ms direct",
            through_shim.as_millis(),
            direct.as_millis()
        ),
        _ => println!("shim:     could not time python -c pass through it"),
    }
}

/// How long `python -c pass` takes, the best of three; `None` when it fails.
fn time_pass(python: &Path) -> Option<Duration> {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(python)
                .args(["-c", "pass"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .ok()?;
            status.success().then(|| started.elapsed())
        })
        .collect::<Option<Vec<Duration>>>()?
        .into_iter()
        .min()
}

/// Runs `1+1` and checks that the result is `2`.
async fn two(kernel: &Kernel) -> Result<(), String> {
    let mut execution = kernel.execute("1+1", ExecuteOptions::new().with_store_history(false));
    let mut result = None;
    while let Some(output) = execution.next_output().await {
        if let Output::Result { bundle, .. } = output {
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

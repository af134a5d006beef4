//! `pyk notebook run`: execute a Jupyter notebook in one kernel and write its outputs as
//! nbclient and ipykernel would.

use std::{
    cell::Cell as Flag,
    io::{self, IsTerminal, Write as _},
    path::{Path, PathBuf},
    pin::pin,
    rc::Rc,
    time::Duration,
};

use clap::{ArgGroup, Args, Subcommand};
use pykernel::{Engine, Kernel, KernelError, KernelOptions};
use pykernel_notebook::{Notebook, Observer, RunOptions, inject, parse_assignment};

use crate::{
    args::{KernelArgs, parse_timeout},
    error_chain,
    exec::{report_start_failure, shut_down},
    exit::Exit,
    signals::{self, Interrupts},
};

/// `pyk notebook`.
#[derive(Debug, Args)]
pub(crate) struct NotebookArgs {
    #[command(subcommand)]
    pub(crate) command: NotebookCommand,
}

/// The `pyk notebook` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum NotebookCommand {
    /// Run every code cell of a notebook in one kernel and write the outputs.
    ///
    /// Exit codes: 0 every cell ran, 1 a cell raised (without --allow-errors or a
    /// raises-exception tag), timed out or lost its kernel, 2 the notebook cannot be
    /// read or the kernel cannot start, 130 interrupted. The notebook is written in
    /// every case but 2, with the outputs up to the cell that stopped the run.
    Run(RunArgs),
}

/// `pyk notebook run`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("destination").required(true).args(["output", "inplace"])))]
pub(crate) struct RunArgs {
    /// The notebook to run (nbformat 4).
    #[arg(value_name = "NOTEBOOK")]
    pub(crate) notebook: PathBuf,

    /// Where to write the executed notebook; `-` writes it to stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,

    /// Write the executed notebook over the input (atomically).
    #[arg(long)]
    pub(crate) inplace: bool,

    /// Keep running after a cell raises; its error is in the outputs.
    #[arg(long)]
    pub(crate) allow_errors: bool,

    /// Interrupt a cell that runs longer than this many seconds, and stop.
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,

    /// A parameter, injected after the cell tagged `parameters` as papermill does; the
    /// value is a Python literal where it parses as one, else a string. Repeatable.
    #[arg(short = 'p', long = "parameter", value_name = "NAME=VALUE")]
    pub(crate) parameters: Vec<String>,

    /// The kernel (the working directory defaults to the notebook's folder; the engine to
    /// ipython when the interpreter can import IPython, else light).
    #[command(flatten)]
    pub(crate) kernel: KernelArgs,
}

/// Runs `pyk notebook`.
pub(crate) async fn notebook(args: &NotebookArgs, interrupts: &mut Interrupts) -> Exit {
    match &args.command {
        NotebookCommand::Run(args) => run(args, interrupts).await,
    }
}

async fn run(args: &RunArgs, interrupts: &mut Interrupts) -> Exit {
    let mut notebook = match Notebook::read(&args.notebook) {
        Ok(notebook) => notebook,
        Err(err) => {
            eprintln!("pyk: {}", error_chain(&err));
            return Exit::Unusable;
        }
    };
    let mut assignments = Vec::with_capacity(args.parameters.len());
    for raw in &args.parameters {
        match parse_assignment(raw) {
            Ok(assignment) => assignments.push(assignment),
            Err(err) => {
                eprintln!("pyk: {}", error_chain(&err));
                return Exit::Unusable;
            }
        }
    }
    // A notebook keeps what ipykernel keeps: `x = !cmd` captures without printing.
    let mut options = args
        .kernel
        .kernel_options()
        .with_env("PYKERNEL_SHELL_TEE", "0");
    if args.kernel.cwd.is_none() {
        options = options.with_cwd(notebook_dir(&args.notebook));
        // A relative interpreter path means one from here, not from the notebook's folder.
        if let Some(python) = &args.kernel.python
            && python.is_relative()
            && python.components().count() > 1
            && let Ok(absolute) = std::path::absolute(python)
        {
            options = options.with_python(absolute);
        }
    }
    let Some(kernel) = interrupts
        .unless_interrupted(start(options, args.kernel.engine))
        .await
    else {
        return Exit::Interrupted;
    };
    let kernel = match kernel {
        Ok(kernel) => kernel,
        Err(err) => {
            report_start_failure(&err);
            return Exit::Unusable;
        }
    };
    signals::watch(&kernel);
    let exit = run_in(&kernel, &mut notebook, args, &assignments, interrupts).await;
    shut_down(&kernel).await;
    if exit == Exit::Unusable {
        return exit;
    }
    if let Err(message) = write(&notebook, args) {
        eprintln!("pyk: {message}");
        return Exit::Failure;
    }
    exit
}

/// Prepares the parameters, runs the cells and says how the run ended.
async fn run_in(
    kernel: &Kernel,
    notebook: &mut Notebook,
    args: &RunArgs,
    assignments: &[(String, String)],
    interrupts: &mut Interrupts,
) -> Exit {
    let parameters = match pykernel_notebook::resolve_parameters(kernel, assignments).await {
        Ok(parameters) => parameters,
        Err(err) => {
            eprintln!("pyk: {}", error_chain(&err));
            return Exit::Unusable;
        }
    };
    inject(notebook, &parameters);

    let options = RunOptions {
        allow_errors: args.allow_errors,
        timeout: args.timeout,
    };
    let interrupted = Rc::new(Flag::new(false));
    let mut progress = Progress::new(interrupted.clone());
    interrupts.forget_pending();
    let report = {
        let mut running = pin!(pykernel_notebook::run(
            kernel,
            notebook,
            &options,
            &mut progress
        ));
        loop {
            tokio::select! {
                report = &mut running => break report,
                () = interrupts.recv() => {
                    interrupted.set(true);
                    if let Err(err) = kernel.interrupt() {
                        tracing::warn!("cannot interrupt the kernel: {}", error_chain(&err));
                    }
                }
            }
        }
    };
    progress.clear();
    if interrupted.get() {
        eprintln!("pyk: interrupted");
        return Exit::Interrupted;
    }
    match report.failure {
        None => Exit::Success,
        Some(failure) => {
            eprintln!("pyk: {}", failure.describe());
            Exit::Failure
        }
    }
}

/// Starts the kernel. Without `--engine`, IPython's engine when the interpreter can
/// import IPython, else the light one; either way it says which on stderr.
async fn start(options: KernelOptions, engine: Option<Engine>) -> Result<Kernel, KernelError> {
    if engine.is_some() {
        return Kernel::start(options).await;
    }
    match Kernel::start(options.clone().with_engine(Engine::IPython)).await {
        Ok(kernel) => {
            eprintln!("pyk: engine: ipython");
            Ok(kernel)
        }
        Err(KernelError::EngineUnavailable { python, .. }) => {
            let by = python.map_or_else(
                || "the interpreter".to_owned(),
                |path| path.display().to_string(),
            );
            eprintln!("pyk: engine: light (IPython is not importable by {by})");
            Kernel::start(options.with_engine(Engine::Light)).await
        }
        Err(err) => Err(err),
    }
}

/// The folder the notebook is in, the kernel's default working directory.
fn notebook_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Writes the executed notebook where the arguments say.
fn write(notebook: &Notebook, args: &RunArgs) -> Result<(), String> {
    let path = match &args.output {
        Some(path) if path.as_os_str() == "-" => {
            let mut stdout = io::stdout().lock();
            return stdout
                .write_all(notebook.to_json().as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|err| format!("cannot write the notebook to stdout: {err}"));
        }
        Some(path) => path,
        None => &args.notebook,
    };
    notebook.write_atomic(path).map_err(|err| error_chain(&err))
}

/// A progress bar over the cells on stderr, when stderr is a terminal; it also stops the
/// run after a Ctrl-C.
struct Progress {
    terminal: bool,
    interrupted: Rc<Flag<bool>>,
    drawn: bool,
}

impl Progress {
    fn new(interrupted: Rc<Flag<bool>>) -> Self {
        Self {
            terminal: io::stderr().is_terminal(),
            interrupted,
            drawn: false,
        }
    }

    fn draw(&mut self, done: usize, total: usize, running: Option<usize>) {
        if !self.terminal || total == 0 {
            return;
        }
        const WIDTH: usize = 30;
        let filled = done * WIDTH / total;
        let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH - filled));
        let what = running.map_or(String::new(), |index| {
            format!(", running cell {}", index + 1)
        });
        eprint!("\r\x1b[2K[{bar}] {done}/{total} cells{what}");
        let _ = io::stderr().flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            let _ = io::stderr().flush();
            self.drawn = false;
        }
    }
}

impl Observer for Progress {
    fn cell_started(&mut self, index: usize, total: usize) {
        self.draw(index, total, Some(index));
    }

    fn cell_finished(&mut self, index: usize, total: usize) {
        self.draw(index + 1, total, None);
    }

    fn keep_going(&mut self) -> bool {
        !self.interrupted.get()
    }
}

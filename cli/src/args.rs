//! The command line, parsed with clap's derive API.

use std::{path::PathBuf, time::Duration};

use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand};
use pykernel::{Engine, EnvPolicy, KernelOptions};

/// Run Python through a persistent pykernel.
#[derive(Debug, Parser)]
#[command(name = "pyk", version, about, long_about = None)]
pub(crate) struct Cli {
    /// More logs on stderr (-v info, -vv debug, -vvv trace); `RUST_LOG` overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run code in a fresh kernel and exit with its status.
    ///
    /// Exit codes: 0 success, 1 Python error or kernel death, 2 the kernel cannot start
    /// (or bad usage), 124 timeout, 130 interrupted.
    Exec(ExecArgs),
    /// Start an interactive session on one kernel.
    Repl(ReplArgs),
    /// Check which interpreter would be used and whether a kernel starts.
    Doctor(DoctorArgs),
    /// Serve JSON-RPC 2.0 on stdin and stdout for a host program (see docs/serve.md).
    Serve(crate::serve::ServeArgs),
    /// Serve the kernel as MCP tools for AI agents (stdio, or streamable HTTP with --http).
    Mcp(crate::mcp::McpArgs),
    /// Run Jupyter notebooks: `pyk notebook run IN.ipynb -o OUT.ipynb`.
    Notebook(crate::notebook::NotebookArgs),
}

/// How the kernel is started; shared by every subcommand.
#[derive(Debug, Args)]
pub(crate) struct KernelArgs {
    /// The Python interpreter to run: a path, a name on PATH, or a version such as 3.12
    /// (default: the active virtualenv or conda environment, a project .venv, a
    /// .python-version pin, pyenv's version, uv or pyenv installs, then python3 on PATH;
    /// `pyk doctor` shows the choice).
    #[arg(long, value_name = "PYTHON")]
    pub(crate) python: Option<PathBuf>,

    /// The kernel's working directory (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) cwd: Option<PathBuf>,

    /// Set a variable in the kernel's environment; repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env_var)]
    pub(crate) env: Vec<EnvVar>,

    /// Pass the whole host environment to the kernel instead of the filtered allowlist.
    #[arg(long)]
    pub(crate) inherit_env: bool,

    /// Do not load the prelude helpers (`display`, `read`, `write`, ...).
    #[arg(long)]
    pub(crate) no_prelude: bool,

    /// Run the kernel through a command that forwards stdin and stdout, such as
    /// 'ssh HOST', 'docker exec -i CONTAINER' or 'kubectl exec -i POD --' (split into
    /// words as a shell would); --python then names the far side's interpreter (default
    /// python3). `{session}` becomes the session's name in `pyk mcp` and `pyk serve`.
    #[arg(long, value_name = "CMD ARGS...", value_parser = parse_launcher)]
    pub(crate) launcher: Option<pykernel::Launcher>,

    /// Run the kernel in a bubblewrap sandbox: no other process visible, the filesystem
    /// read-only except the working directory and a private /tmp.
    #[arg(long, conflicts_with = "launcher")]
    pub(crate) sandbox: bool,

    /// Cut the sandbox off the network (with --sandbox).
    #[arg(long, requires = "sandbox")]
    pub(crate) no_network: bool,

    /// What runs the cells: `light` (the runner's own engine, standard library only, the
    /// fastest start; the default) or `ipython` (IPython's own shell, for exact IPython
    /// behaviour; the interpreter must have IPython installed).
    #[arg(long, value_name = "ENGINE", value_parser = parse_engine)]
    pub(crate) engine: Option<Engine>,
}

/// `pyk exec`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["code", "file"])))]
pub(crate) struct ExecArgs {
    /// The code to run.
    #[arg(short = 'c', long = "code", value_name = "CODE")]
    pub(crate) code: Option<String>,

    /// A file to run; `-` reads the code from standard input.
    #[arg(value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,

    /// Arguments for the code, after `--`: it sees `sys.argv` as `python` would give it
    /// (`[FILE, ARGS...]`, `['-c', ARGS...]` or `['-', ARGS...]`).
    #[arg(last = true, value_name = "ARGS")]
    pub(crate) script_args: Vec<String>,

    /// Interrupt the code after this many seconds (fractions allowed); exit code 124.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,

    /// Print one JSON object per output event on stdout (see README-json.md).
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) display: DisplayArgs,

    #[command(flatten)]
    pub(crate) kernel: KernelArgs,
}

/// `pyk repl`.
#[derive(Debug, Args)]
pub(crate) struct ReplArgs {
    #[command(flatten)]
    pub(crate) display: DisplayArgs,

    #[command(flatten)]
    pub(crate) kernel: KernelArgs,
}

/// `pyk doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) kernel: KernelArgs,
}

/// How rich outputs are shown on a terminal.
#[derive(Debug, Args)]
pub(crate) struct DisplayArgs {
    /// Save images from display outputs into this directory and print their paths.
    #[arg(long, value_name = "DIR")]
    pub(crate) save_images: Option<PathBuf>,
}

/// One `--env KEY=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EnvVar {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// Where `pyk exec` takes its code from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `-c CODE`.
    Inline(String),
    /// `FILE`.
    File(PathBuf),
    /// `-`.
    Stdin,
}

impl ExecArgs {
    /// Where the code comes from; clap's `source` group guarantees exactly one is given.
    pub(crate) fn source(&self) -> Source {
        match (&self.code, &self.file) {
            (Some(code), _) => Source::Inline(code.clone()),
            (None, Some(path)) if path.as_os_str() == "-" => Source::Stdin,
            (None, Some(path)) => Source::File(path.clone()),
            // The group is required, so clap rejects this case before we get here; an
            // empty cell is still a sensible answer.
            (None, None) => Source::Inline(String::new()),
        }
    }
}

impl KernelArgs {
    /// The library options these arguments select.
    pub(crate) fn kernel_options(&self) -> KernelOptions {
        let mut options = KernelOptions::new()
            .with_prelude(!self.no_prelude)
            .with_engine(self.engine.unwrap_or_default());
        if let Some(python) = &self.python {
            options = options.with_python(python.clone());
        }
        if let Some(cwd) = &self.cwd {
            options = options.with_cwd(cwd.clone());
        }
        if self.inherit_env {
            options = options.with_env_policy(EnvPolicy::Inherit);
        }
        for var in &self.env {
            options = options.with_env(var.key.clone(), var.value.clone());
        }
        if let Some(launcher) = &self.launcher {
            options = options.with_launcher(launcher.clone());
        }
        if self.sandbox {
            options = options.with_sandbox(pykernel::Sandbox::new().with_network(!self.no_network));
        }
        options
    }
}

/// Parses `KEY=VALUE`: the key is everything before the first `=` and must be a
/// non-empty name without NUL; the value may be empty and may hold `=`.
pub(crate) fn parse_env_var(raw: &str) -> Result<EnvVar, String> {
    let Some((key, value)) = raw.split_once('=') else {
        return Err(format!("expected KEY=VALUE, found `{raw}` (no `=`)"));
    };
    if key.is_empty() {
        return Err(format!("expected KEY=VALUE, found `{raw}` (empty key)"));
    }
    if key.contains('\0') || value.contains('\0') {
        return Err("environment variables cannot contain NUL".to_owned());
    }
    Ok(EnvVar {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// Parses an engine's name: `light` or `ipython`.
pub(crate) fn parse_engine(raw: &str) -> Result<Engine, String> {
    raw.parse()
}

/// Parses a launcher command line into words, as a shell would.
pub(crate) fn parse_launcher(raw: &str) -> Result<pykernel::Launcher, String> {
    pykernel::Launcher::parse(raw).map_err(|err| err.to_string())
}

/// Parses a positive number of seconds, such as `2` or `0.5`.
pub(crate) fn parse_timeout(raw: &str) -> Result<Duration, String> {
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, found `{raw}`"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!(
            "the timeout must be more than 0 seconds, found `{raw}`"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("the timeout `{raw}` is too large"))
}

#[cfg(test)]
mod tests;

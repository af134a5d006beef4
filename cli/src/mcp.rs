//! `pyk mcp`: the kernel as MCP tools for AI agents, over stdio or streamable HTTP.
//!
//! All of it lives in `pykernel_server::mcp`; this parses the options.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::Args;
use futures::FutureExt;
use pykernel::Kernel;
use pykernel_server::{
    DEFAULT_MAX_SESSIONS, DEFAULT_OUTPUT_LIMIT, ServiceOptions,
    mcp::{HttpOptions, McpOptions},
};

use crate::{
    args::{KernelArgs, parse_timeout},
    exit::Exit,
    signals,
};

/// `pyk mcp`.
#[derive(Debug, Args)]
pub(crate) struct McpArgs {
    /// Serve streamable HTTP on this address (such as 127.0.0.1:8000) instead of stdio;
    /// a non-loopback address needs --token or --token-file.
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_addr)]
    pub(crate) http: Option<SocketAddr>,

    /// With --http: require `Authorization: Bearer TOKEN` on every request.
    #[arg(
        long,
        value_name = "TOKEN",
        conflicts_with = "token_file",
        requires = "http"
    )]
    pub(crate) token: Option<String>,

    /// With --http: read the bearer token from this file (surrounding whitespace trimmed).
    #[arg(long, value_name = "PATH", requires = "http")]
    pub(crate) token_file: Option<PathBuf>,

    /// With --http: also allow browser pages from this origin (such as
    /// https://app.example); loopback origins are always allowed. Repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN", requires = "http")]
    pub(crate) allow_origins: Vec<String>,

    /// Interrupt a cell after this many seconds when the call gives no timeout.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout, default_value = "300")]
    pub(crate) timeout: Duration,

    /// Characters of text output a call returns; beyond it the head and the tail are kept
    /// and the whole output is saved to a file.
    #[arg(long, value_name = "CHARS", default_value_t = DEFAULT_OUTPUT_LIMIT)]
    pub(crate) output_limit: usize,

    /// Shut a session's kernel down after it sat unused this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout, default_value = "3600")]
    pub(crate) idle_timeout: Duration,

    /// Refuse a new session when this many have a kernel.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SESSIONS)]
    pub(crate) max_sessions: usize,

    /// Kernels kept started ahead of time, so a new session gets one at once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) pool_size: usize,

    #[command(flatten)]
    pub(crate) kernel: KernelArgs,
}

/// Serves until the client goes away (stdin closed) or, with --http, until stopped.
pub(crate) async fn mcp(args: &McpArgs) -> Exit {
    let service = ServiceOptions::new(args.kernel.kernel_options())
        .with_pool_size(args.pool_size)
        .with_max_sessions(args.max_sessions)
        .with_idle_timeout(Some(args.idle_timeout))
        .with_default_timeout(Some(args.timeout))
        .with_output_limit(args.output_limit);
    // On SIGTERM or SIGHUP, main shuts watched kernels down through the whole ladder.
    let options = McpOptions::new(service).with_kernel_start(Arc::new(|options| {
        async move {
            let kernel = Kernel::start(options).await?;
            signals::watch(&kernel);
            Ok(kernel)
        }
        .boxed()
    }));
    let result = match args.http {
        None => pykernel_server::mcp::serve_stdio(options).await,
        Some(addr) => {
            let mut http = HttpOptions::new(addr);
            match token(args) {
                Ok(Some(token)) => http = http.with_token(token),
                Ok(None) => {}
                Err(message) => {
                    eprintln!("pyk mcp: {message}");
                    return Exit::Unusable;
                }
            }
            for origin in &args.allow_origins {
                http = http.with_allowed_origin(origin.clone());
            }
            let ready = |bound: SocketAddr| {
                eprintln!("pyk mcp: serving MCP at http://{bound}/mcp");
            };
            pykernel_server::mcp::serve_http(options, http, ready, std::future::pending()).await
        }
    };
    match result {
        Ok(()) => Exit::Success,
        Err(err) => {
            eprintln!("pyk mcp: {}", crate::error_chain(&err));
            Exit::Unusable
        }
    }
}

fn token(args: &McpArgs) -> Result<Option<String>, String> {
    if let Some(token) = &args.token {
        return Ok(Some(token.clone()));
    }
    let Some(path) = &args.token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the token file {}: {err}", path.display()))?;
    Ok(Some(text.trim().to_owned()))
}

/// Parses `ADDR:PORT`; `localhost:PORT` means 127.0.0.1.
fn parse_addr(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    let resolved = match raw.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => raw.to_owned(),
    };
    resolved
        .parse()
        .map_err(|_| format!("expected ADDR:PORT such as 127.0.0.1:8000, found `{raw}`"))
}

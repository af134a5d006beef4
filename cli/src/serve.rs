//! `pyk serve`: JSON-RPC 2.0 over stdio for host programs (see `docs/serve.md`).

use std::{sync::Arc, time::Duration};

use clap::Args;
use pykernel_server::{
    DEFAULT_MAX_SESSIONS, ServiceOptions,
    serve::{DEFAULT_MAX_LINE_BYTES, ServeOptions},
};

use crate::{
    args::{KernelArgs, parse_timeout},
    exit::Exit,
    signals,
};

/// `pyk serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Kernels kept started ahead of time, so a new session gets one at once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) pool_size: usize,

    /// Refuse a new session when this many have a kernel.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SESSIONS)]
    pub(crate) max_sessions: usize,

    /// Shut a session's kernel down after it sat unused this many seconds (default: never).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub(crate) idle_timeout: Option<Duration>,

    /// Refuse (and skip) input lines longer than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES)]
    pub(crate) max_line_bytes: usize,

    #[command(flatten)]
    pub(crate) kernel: KernelArgs,
}

/// Serves stdin and stdout until stdin ends, then shuts every kernel down: exit 0.
pub(crate) async fn serve(args: &ServeArgs) -> Exit {
    // A host program sets each cell's timeout itself; cells have none by default.
    let service = ServiceOptions::new(args.kernel.kernel_options())
        .with_pool_size(args.pool_size)
        .with_max_sessions(args.max_sessions)
        .with_idle_timeout(args.idle_timeout)
        .with_default_timeout(None);
    // On SIGTERM or SIGHUP, main shuts watched kernels down through the whole ladder.
    let options = ServeOptions::new(service)
        .with_max_line_bytes(args.max_line_bytes)
        .with_on_kernel_start(Arc::new(signals::watch));
    match pykernel_server::serve::serve(options, tokio::io::stdin(), tokio::io::stdout()).await {
        Ok(()) => Exit::Success,
        Err(err) => {
            eprintln!("pyk serve: {}", crate::error_chain(&err));
            Exit::Unusable
        }
    }
}

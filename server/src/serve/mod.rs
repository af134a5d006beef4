//! `pyk serve`: JSON-RPC 2.0 over a byte stream, one JSON object per line.
//!
//! A host program in any language spawns `pyk serve`, writes requests on its stdin and
//! reads responses, notifications and the server's own requests on its stdout. Requests
//! run concurrently, in many named sessions (a [`crate::Service`]):
//!
//! - `execute {session?, code, timeout?, silent?, allowStdin?}` runs a cell; while it
//!   runs the server sends `output {requestId, output}` notifications in order, asks
//!   `input {session, requestId, prompt, password}` when the cell calls `input()` (and
//!   the request allowed stdin), and forwards Python's `host_call(name, args)` as
//!   `call {session, name, args}`; the response says how the cell ended.
//! - `interrupt`, `restart`, `shutdown` (idempotent) take `{session}`; `sessions {}`
//!   lists them; `complete {session, code, cursor}` completes from the live namespace.
//! - `$/cancelRequest {id}` cancels an `execute`: interrupt, then kill after the grace.
//!
//! Bad input never ends the server: it answers with the JSON-RPC error codes in
//! [`rpc`], and skips a line over the limit with [`rpc::LINE_TOO_LONG`]. The end of the
//! input shuts every kernel down (exit, SIGTERM, SIGKILL to each process group) and
//! [`serve`] returns. `docs/serve.md` has a full transcript, `docs/serve.schema.json`
//! the schema of every message.

mod connection;
mod host;
mod lines;
mod methods;
mod output;
pub mod rpc;

use std::{fmt, sync::Arc};

use pykernel::Kernel;
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::serve::output::{CommBodyJson, ErrorJson, ExecuteResult, OutputJson, TruncatedJson};
use crate::{ServiceError, ServiceOptions};

/// The default limit on one line of input: 64 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 << 20;

/// Called with each kernel the server starts, such as to shut it down on a signal.
pub type KernelStarted = Arc<dyn Fn(&Kernel) + Send + Sync>;

/// How `pyk serve` runs. Build it with [`ServeOptions::new`].
#[derive(Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// How sessions and kernels are kept.
    pub service: ServiceOptions,
    /// Lines of input longer than this are refused (and skipped).
    pub max_line_bytes: usize,
    /// Told of every kernel started, pooled ones included.
    pub on_kernel_start: Option<KernelStarted>,
}

impl ServeOptions {
    /// Sessions kept as `service` says; lines up to [`DEFAULT_MAX_LINE_BYTES`].
    pub fn new(service: ServiceOptions) -> Self {
        Self {
            service,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            on_kernel_start: None,
        }
    }

    /// Tells `started` of every kernel the server starts.
    pub fn with_on_kernel_start(mut self, started: KernelStarted) -> Self {
        self.on_kernel_start = Some(started);
        self
    }

    /// Refuses lines longer than `limit` bytes.
    pub fn with_max_line_bytes(mut self, limit: usize) -> Self {
        self.max_line_bytes = limit;
        self
    }
}

impl fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeOptions")
            .field("service", &self.service)
            .field("max_line_bytes", &self.max_line_bytes)
            .field("on_kernel_start", &self.on_kernel_start.is_some())
            .finish()
    }
}

/// Serves JSON-RPC requests read from `input`, writing to `output`, until `input` ends;
/// then shuts every kernel down and returns once the last answer is written.
///
/// # Errors
/// Only when the service cannot be made ([`ServiceError::Artifacts`]); everything a
/// client sends is answered, never an error here.
///
/// # Panics
/// Outside a tokio runtime.
pub async fn serve<R, W>(options: ServeOptions, input: R, output: W) -> Result<(), ServiceError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    connection::run(options, input, output).await
}

#[cfg(test)]
mod tests;

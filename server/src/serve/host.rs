//! Host calls from Python, forwarded to the client as `call` requests.
//!
//! Host functions are fixed when a kernel starts, and pooled kernels start before any
//! session owns them, so every kernel gets a catch-all function
//! ([`pykernel::KernelOptions::with_host_fallback`]) that knows its runner's process id.
//! A call looks up which session holds that kernel now and becomes a `call` request
//! naming the session; the client's answer (or error) is what Python's `host_call`
//! returns (or raises).

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use futures::{FutureExt, future::BoxFuture};
use pykernel::{HostFallback, Kernel, KernelError, KernelOptions};
use serde::Serialize;
use serde_json::Value;

use crate::{
    Service,
    serve::{KernelStarted, connection::Outbox, rpc::Json},
};

/// Starts kernels whose host calls go to the client, naming the session that owns the
/// calling kernel.
pub(crate) struct HostRouter {
    outbox: Outbox,
    on_kernel_start: Option<KernelStarted>,
    /// The service whose sessions own the kernels; taken out at the end of the
    /// connection, which breaks the cycle through the service's kernel start.
    service: Mutex<Option<Service>>,
}

/// `call` parameters: Python called `host_call(name, args)` in `session`.
#[derive(Serialize)]
struct CallParams<'a> {
    session: &'a str,
    name: &'a str,
    args: &'a Value,
}

impl HostRouter {
    pub(crate) fn new(outbox: Outbox, on_kernel_start: Option<KernelStarted>) -> Arc<Self> {
        Arc::new(Self {
            outbox,
            on_kernel_start,
            service: Mutex::new(None),
        })
    }

    /// Routes calls by the sessions of `service` until [`HostRouter::close`].
    pub(crate) fn open(&self, service: &Service) {
        *self.lock() = Some(service.clone());
    }

    /// Forgets the service: later calls fail.
    pub(crate) fn close(&self) {
        self.lock().take();
    }

    /// Starts a kernel whose host calls go to the client.
    pub(crate) fn start_kernel(
        self: &Arc<Self>,
        options: KernelOptions,
    ) -> BoxFuture<'static, Result<Kernel, KernelError>> {
        // The kernel's instance number, known once it started; no cell calls before that.
        // Not the runner's pid: behind a sandbox or launcher every runner may have the same.
        let instance = Arc::new(OnceLock::new());
        let fallback: HostFallback = {
            let instance = Arc::clone(&instance);
            let router = Arc::downgrade(self);
            Arc::new(move |name: &str, args: Value| {
                let session = router
                    .upgrade()
                    .zip(instance.get())
                    .and_then(|(router, instance)| router.session_of(*instance));
                let Some((session, outbox)) = session else {
                    return Err(format!("host function {name:?}: the kernel has no session"));
                };
                let params = Json::of(&CallParams {
                    session: &session,
                    name,
                    args: &args,
                });
                outbox
                    .blocking_request("call", params)
                    .map_err(|error| error.message)
            })
        };
        let options = options.with_host_fallback(fallback);
        let on_kernel_start = self.on_kernel_start.clone();
        async move {
            let kernel = Kernel::start(options).await?;
            let _ = instance.set(kernel.instance());
            if let Some(started) = on_kernel_start {
                started(&kernel);
            }
            Ok(kernel)
        }
        .boxed()
    }

    /// The session whose live kernel is instance `instance`, and where to ask.
    fn session_of(&self, instance: u64) -> Option<(String, Outbox)> {
        let service = self.lock().clone()?;
        let session = service.sessions().into_iter().find(|session| {
            service
                .session_kernel(&session.name)
                .is_some_and(|kernel| kernel.instance() == instance)
        })?;
        Some((session.name, self.outbox.clone()))
    }

    fn lock(&self) -> MutexGuard<'_, Option<Service>> {
        // Each update is one assignment, consistent after a panic elsewhere.
        self.service.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

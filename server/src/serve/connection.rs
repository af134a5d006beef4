//! One client connection: reading lines, running requests concurrently, writing answers.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter},
    sync::{mpsc, oneshot, watch},
    task::JoinSet,
};

use crate::{
    Service,
    serve::{
        ServeOptions,
        host::HostRouter,
        lines::{Line, Lines},
        methods,
        rpc::{
            INVALID_REQUEST, Incoming, Json, LINE_TOO_LONG, Outgoing, RequestId, RpcError,
            SHUTTING_DOWN,
        },
    },
};

/// How many lines may wait for the writer before senders wait: a client that stops
/// reading pauses the cells that print, it does not grow the server's memory.
const OUTBOX_CAPACITY: usize = 256;

/// The client's answer to one of the server's requests.
type Answer = Result<Value, RpcError>;
/// Answers to the server's own requests, by id.
type Pending = HashMap<RequestId, oneshot::Sender<Answer>>;

/// The writing side, shared by every request and host call.
#[derive(Clone)]
pub(crate) struct Outbox {
    lines: mpsc::Sender<Outgoing>,
    pending: Arc<Mutex<Pending>>,
    next_id: Arc<AtomicU64>,
    /// The client's input ended: no answer can come any more.
    closed: Arc<AtomicBool>,
}

/// What the requests of one connection share.
pub(crate) struct Connection {
    pub(crate) service: Service,
    pub(crate) outbox: Outbox,
    pub(crate) router: Arc<HostRouter>,
    /// Running `execute` requests, by id: `$/cancelRequest` sets their flag.
    cancels: Mutex<HashMap<RequestId, watch::Sender<bool>>>,
    /// The kernels (by [`pykernel::Kernel::instance`]; pids repeat behind sandboxes)
    /// whose late output is already sent as `lateOutput`.
    pub(crate) late_watched: Arc<Mutex<HashSet<u64>>>,
}

/// Takes a request out of the cancellable ones when it ends.
pub(crate) struct CancelGuard<'a> {
    connection: &'a Connection,
    id: RequestId,
    /// Becomes true when the client cancels the request.
    pub(crate) cancelled: watch::Receiver<bool>,
}

/// Forgets a server request the caller stopped waiting for.
struct PendingGuard<'a> {
    outbox: &'a Outbox,
    id: RequestId,
}

/// Serves one connection until the end of `input`, then shuts every session down.
pub(crate) async fn run<R, W>(
    options: ServeOptions,
    input: R,
    output: W,
) -> Result<(), crate::ServiceError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (lines_tx, lines_rx) = mpsc::channel(OUTBOX_CAPACITY);
    let outbox = Outbox {
        lines: lines_tx,
        pending: Arc::default(),
        next_id: Arc::new(AtomicU64::new(1)),
        closed: Arc::default(),
    };
    let (finish_tx, finish_rx) = oneshot::channel();
    let writer = tokio::spawn(write_lines(lines_rx, finish_rx, output));
    let router = HostRouter::new(outbox.clone(), options.on_kernel_start);
    let service = {
        let router = Arc::clone(&router);
        Service::with_kernel_start(
            options.service,
            Arc::new(move |kernel_options| router.start_kernel(kernel_options)),
        )?
    };
    router.open(&service);
    let connection = Arc::new(Connection {
        service,
        outbox,
        router,
        cancels: Mutex::default(),
        late_watched: Arc::default(),
    });
    let mut lines = Lines::new(BufReader::new(input), options.max_line_bytes);
    let mut tasks = JoinSet::new();
    loop {
        let line = tokio::select! {
            line = lines.next() => line,
            Some(_) = tasks.join_next() => continue,
        };
        match line {
            Ok(Some(Line::Text(line))) => connection.handle(Incoming::parse(&line), &mut tasks),
            Ok(Some(Line::TooLong)) => {
                let message = format!(
                    "line too long: over the limit of {} bytes; it was skipped",
                    options.max_line_bytes
                );
                let error = RpcError::new(LINE_TOO_LONG, message);
                connection.respond(&mut tasks, None, Err(error));
            }
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(%err, "cannot read the client's input; shutting down");
                break;
            }
        }
    }
    // No answer can come any more: `input()` gets end of input, host calls raise.
    connection.outbox.fail_pending();
    connection.service.shutdown_all().await;
    // Cells ended with the kernels; their answers go out before the server exits.
    while tasks.join_next().await.is_some() {}
    connection.router.close();
    let _ = finish_tx.send(());
    if let Err(err) = writer.await {
        tracing::warn!(%err, "the writer task failed");
    }
    Ok(())
}

impl Connection {
    fn handle(self: &Arc<Self>, incoming: Incoming, tasks: &mut JoinSet<()>) {
        match incoming {
            Incoming::Request { id, method, params } => {
                let connection = Arc::clone(self);
                tasks.spawn(async move {
                    let result = methods::call(&connection, &id, &method, params).await;
                    connection
                        .outbox
                        .send(Outgoing::Response {
                            id: Some(id),
                            result,
                        })
                        .await;
                });
            }
            Incoming::Notification { method, params } => {
                if method == "$/cancelRequest" {
                    self.cancel(&params);
                } else {
                    tracing::debug!(method, "ignoring an unknown notification");
                }
            }
            Incoming::Response { id, result } => self.outbox.answer(&id, result),
            Incoming::Invalid { id, error } => self.respond(tasks, id, Err(error)),
        }
    }

    /// Sends a response from a task, so a client that does not read never stops the
    /// reading of its own input.
    fn respond(
        &self,
        tasks: &mut JoinSet<()>,
        id: Option<RequestId>,
        result: Result<Json, RpcError>,
    ) {
        let outbox = self.outbox.clone();
        tasks.spawn(async move {
            outbox.send(Outgoing::Response { id, result }).await;
        });
    }

    /// `$/cancelRequest {id}`: cancels that `execute` if it still runs.
    fn cancel(&self, params: &Value) {
        let Ok(id) = serde_json::from_value::<RequestId>(params["id"].clone()) else {
            tracing::debug!(%params, "ignoring a $/cancelRequest without a valid id");
            return;
        };
        if let Some(flag) = self.lock_cancels().get(&id) {
            flag.send_replace(true);
        }
    }

    /// Makes request `id` cancellable until the guard drops.
    ///
    /// # Errors
    /// When a running request already has that id.
    pub(crate) fn cancellable(&self, id: &RequestId) -> Result<CancelGuard<'_>, RpcError> {
        let mut cancels = self.lock_cancels();
        if cancels.contains_key(id) {
            return Err(RpcError::new(
                INVALID_REQUEST,
                format!("invalid request: request {id} is still running"),
            ));
        }
        let (flag, cancelled) = watch::channel(false);
        cancels.insert(id.clone(), flag);
        Ok(CancelGuard {
            connection: self,
            id: id.clone(),
            cancelled,
        })
    }

    fn lock_cancels(&self) -> MutexGuard<'_, HashMap<RequestId, watch::Sender<bool>>> {
        // Each update is one insert or removal, consistent after a panic elsewhere.
        self.cancels.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CancelGuard<'_> {
    /// Waits until the client cancels the request; never returns if it does not.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) async fn wait(&mut self) {
        if self
            .cancelled
            .wait_for(|cancelled| *cancelled)
            .await
            .is_err()
        {
            // The flag cannot go away while the guard holds the entry.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        self.connection.lock_cancels().remove(&self.id);
    }
}

impl Outbox {
    /// Queues a message for the client; false when the writer is gone (the client closed
    /// its end), which callers may ignore.
    pub(crate) async fn send(&self, message: Outgoing) -> bool {
        self.lines.send(message).await.is_ok()
    }

    /// Sends a request to the client and waits for its answer.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped call forgets the request, and a late answer is ignored.
    pub(crate) async fn request(
        &self,
        method: &'static str,
        params: Json,
    ) -> Result<Value, RpcError> {
        let (id, _forget, answer) = self.register();
        if !self.send(Outgoing::Request { id, method, params }).await {
            return Err(closed());
        }
        answer.await.unwrap_or_else(|_| Err(closed()))
    }

    /// [`Outbox::request`] for a thread outside the runtime (a host function runs on the
    /// blocking pool).
    pub(crate) fn blocking_request(
        &self,
        method: &'static str,
        params: Json,
    ) -> Result<Value, RpcError> {
        let (id, _forget, answer) = self.register();
        if self
            .lines
            .blocking_send(Outgoing::Request { id, method, params })
            .is_err()
        {
            return Err(closed());
        }
        answer.blocking_recv().unwrap_or_else(|_| Err(closed()))
    }

    /// Hands the client's answer to whoever waits for it.
    fn answer(&self, id: &RequestId, result: Result<Value, RpcError>) {
        match self.lock().remove(id) {
            Some(waiter) => {
                let _ = waiter.send(result);
            }
            None => tracing::debug!(%id, "ignoring an answer to no pending request"),
        }
    }

    /// Ends every wait for an answer: the client is gone.
    fn fail_pending(&self) {
        let mut pending = self.lock();
        self.closed.store(true, Ordering::Relaxed);
        for (_, waiter) in pending.drain() {
            let _ = waiter.send(Err(closed()));
        }
    }

    /// A fresh request id, waited for until the guard drops.
    fn register(&self) -> (RequestId, PendingGuard<'_>, oneshot::Receiver<Answer>) {
        let number = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = RequestId::String(format!("pyk-{number}"));
        let (waiter, answer) = oneshot::channel();
        let mut pending = self.lock();
        // Checked under the lock, so a waiter is either failed by `fail_pending` or never
        // registered: a dropped sender ends the wait at once.
        if !self.closed.load(Ordering::Relaxed) {
            pending.insert(id.clone(), waiter);
        }
        let guard = PendingGuard {
            outbox: self,
            id: id.clone(),
        };
        (id, guard, answer)
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Each update is one insert or removal, consistent after a panic elsewhere.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.outbox.lock().remove(&self.id);
    }
}

fn closed() -> RpcError {
    RpcError::new(SHUTTING_DOWN, "the connection is closing")
}

/// Writes queued lines, flushing when the queue runs dry, until `finish` and the queue
/// is empty.
async fn write_lines<W: AsyncWrite + Unpin>(
    mut lines: mpsc::Receiver<Outgoing>,
    mut finish: oneshot::Receiver<()>,
    output: W,
) {
    let mut output = BufWriter::new(output);
    let mut finishing = false;
    loop {
        let message = if finishing {
            lines.recv().await
        } else {
            tokio::select! {
                biased;
                message = lines.recv() => message,
                _ = &mut finish => {
                    finishing = true;
                    lines.close();
                    continue;
                }
            }
        };
        let Some(message) = message else { break };
        if let Err(err) = write_batch(&mut output, &mut lines, &message).await {
            tracing::debug!(%err, "the client closed its input; dropping what is left");
            return;
        }
    }
    let _ = output.flush().await;
}

/// Writes `first` and whatever else is queued, then flushes once.
async fn write_batch<W: AsyncWrite + Unpin>(
    output: &mut BufWriter<W>,
    lines: &mut mpsc::Receiver<Outgoing>,
    first: &Outgoing,
) -> std::io::Result<()> {
    output.write_all(&first.to_line()).await?;
    while let Ok(message) = lines.try_recv() {
        output.write_all(&message.to_line()).await?;
    }
    output.flush().await
}

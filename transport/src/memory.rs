//! An in-process transport, for tests.
//!
//! [`MemoryTransport::pair`] gives the host's side (a [`Transport`]) and the runner's side
//! (a [`RunnerHandle`]). Nothing runs on its own: a test either drives the handle by
//! hand or, with the `fake` feature, hands it to a `FakeRunner` (in `fake.rs`), which
//! answers requests from a script on tokio time.
//!
//! Requests travel through the real codec (encoded to a line and decoded again), so the
//! runner side sees exactly what a Python runner would parse.

use std::{
    collections::VecDeque,
    fmt, io,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use async_trait::async_trait;
use bytes::BytesMut;
use pykernel_protocol::{Decoded, Event, Malformed, NdjsonCodec, Request};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};

use crate::{Exit, ExitStatus, Incoming, Signal, Transport, TransportError};

/// The host's side of an in-process runner; see [`MemoryTransport::pair`].
///
/// It behaves like [`StdioTransport`](crate::StdioTransport) where a test can tell:
/// frames arrive in the order the runner sent them, [`Incoming::Exited`] comes after
/// every frame sent before the exit, sends fail with [`TransportError::Closed`] once the
/// runner has exited or input is closed, and signals to an exited runner are ignored.
/// It has no process id.
pub struct MemoryTransport {
    input: mpsc::UnboundedSender<RunnerInput>,
    input_open: bool,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    shared: Arc<Mutex<Shared>>,
    encoder: NdjsonCodec<Request>,
    /// Whether [`Incoming::Exited`] has been yielded.
    exit_reported: bool,
}

/// What a memory runner receives from the host, in the order the host did it.
///
/// One ordered stream keeps tests deterministic: a signal delivered after a request is
/// seen after it.
#[derive(Clone, Debug, PartialEq)]
pub enum RunnerInput {
    /// A request line.
    Request(Request),
    /// A delivered signal.
    Signal(Signal),
    /// The host closed input (or dropped the transport): no request follows, though
    /// signals still may.
    InputClosed,
}

/// The runner's side of a [`MemoryTransport`]: what a test (or a [`FakeRunner`]) uses to
/// read requests and signals and to send frames and the exit.
pub struct RunnerHandle {
    input: mpsc::UnboundedReceiver<RunnerInput>,
    /// Inputs read ahead by [`RunnerHandle::next_request`] or
    /// [`RunnerHandle::next_signal`], in order.
    pending: VecDeque<RunnerInput>,
    incoming: mpsc::UnboundedSender<Incoming>,
    decoder: NdjsonCodec<Event>,
    log: RunnerLog,
}

/// A shareable view of what the host did to a memory runner: every request sent, every
/// signal delivered, whether input was closed, whether the runner exited.
///
/// Get one from [`RunnerHandle::log`] before handing the handle to a [`FakeRunner`].
#[derive(Clone)]
pub struct RunnerLog {
    shared: Arc<Mutex<Shared>>,
}

#[derive(Debug, Default)]
struct Shared {
    requests: Vec<Request>,
    signals: Vec<Signal>,
    input_closed: bool,
    exit: Option<ExitStatus>,
}

impl MemoryTransport {
    /// A connected transport and runner handle.
    pub fn pair() -> (Self, RunnerHandle) {
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let transport = Self {
            input: input_tx,
            input_open: true,
            incoming: incoming_rx,
            shared: Arc::clone(&shared),
            encoder: NdjsonCodec::new(),
            exit_reported: false,
        };
        let handle = RunnerHandle {
            input: input_rx,
            pending: VecDeque::new(),
            incoming: incoming_tx,
            decoder: NdjsonCodec::new(),
            log: RunnerLog { shared },
        };
        (transport, handle)
    }

    /// Encodes `request` to its line and decodes it back, as the runner would read it.
    fn round_trip(&mut self, request: &Request) -> Result<Request, TransportError> {
        let mut line = BytesMut::new();
        self.encoder
            .encode(request, &mut line)
            .map_err(TransportError::Encode)?;
        let invalid = |message: String| TransportError::Encode(io::Error::other(message));
        match NdjsonCodec::<Request>::new().decode(&mut line) {
            Ok(Some(Decoded::Frame(decoded))) => Ok(decoded),
            Ok(Some(Decoded::Malformed(malformed))) => Err(invalid(malformed.to_string())),
            Ok(None) => Err(invalid("request encoded to a blank line".to_owned())),
            Err(err) => Err(TransportError::Encode(err)),
        }
    }

    fn close(&mut self) {
        if self.input_open {
            self.input_open = false;
            lock(&self.shared).input_closed = true;
            // A dropped handle reads nothing; that is fine.
            let _ = self.input.send(RunnerInput::InputClosed);
        }
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    /// Records `request` in the [`RunnerLog`] and queues it for the runner.
    ///
    /// # Errors
    /// [`TransportError::Closed`] after [`Transport::close_input`], after the runner
    /// exited, or when the [`RunnerHandle`] is gone; [`TransportError::Encode`] when the
    /// request does not survive encoding and decoding.
    ///
    /// # Cancel safety
    /// Cancel safe: it never waits.
    async fn send(&mut self, request: &Request) -> Result<(), TransportError> {
        let decoded = self.round_trip(request)?;
        if !self.input_open {
            return Err(TransportError::Closed);
        }
        let mut shared = lock(&self.shared);
        if shared.exit.is_some() {
            return Err(TransportError::Closed);
        }
        self.input
            .send(RunnerInput::Request(decoded.clone()))
            .map_err(|_| TransportError::Closed)?;
        shared.requests.push(decoded);
        Ok(())
    }

    /// # Cancel safety
    /// Cancel safe: it only awaits a channel receive, which is.
    async fn recv(&mut self) -> Option<Incoming> {
        if self.exit_reported {
            return None;
        }
        let incoming = self.incoming.recv().await.unwrap_or_else(|| {
            // The handle was dropped without an exit: report one, as a vanished process would.
            Incoming::Exited(Exit {
                status: ExitStatus::Unknown,
                stderr_tail: String::new(),
            })
        });
        self.exit_reported = matches!(incoming, Incoming::Exited(_));
        Some(incoming)
    }

    /// Records and delivers `signal`, unless the runner has exited (then it is a no-op).
    fn signal(&mut self, signal: Signal) -> Result<(), TransportError> {
        let mut shared = lock(&self.shared);
        if shared.exit.is_none() {
            shared.signals.push(signal);
            // A dropped handle cannot receive it; like a signal to a dead process, that is fine.
            let _ = self.input.send(RunnerInput::Signal(signal));
        }
        Ok(())
    }

    /// Closes input: the runner reads [`RunnerInput::InputClosed`] after every earlier
    /// request. Closing twice is fine.
    async fn close_input(&mut self) -> Result<(), TransportError> {
        self.close();
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        None
    }
}

impl Drop for MemoryTransport {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("input_open", &self.input_open)
            .field("exit_reported", &self.exit_reported)
            .finish_non_exhaustive()
    }
}

impl RunnerHandle {
    /// The next thing the host did, in order; `None` once the transport is dropped and
    /// everything before was read.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn next_input(&mut self) -> Option<RunnerInput> {
        match self.pending.pop_front() {
            Some(input) => Some(input),
            None => self.input.recv().await,
        }
    }

    /// The next input if one is waiting.
    pub fn try_next_input(&mut self) -> Option<RunnerInput> {
        self.pending
            .pop_front()
            .or_else(|| self.input.try_recv().ok())
    }

    /// The next request, in order, leaving signals for [`RunnerHandle::next_signal`] and
    /// [`RunnerHandle::next_input`]; `None` once the host closed input (or dropped the
    /// transport) and every earlier request was read.
    ///
    /// # Cancel safety
    /// Cancel safe: inputs read past are kept.
    pub async fn next_request(&mut self) -> Option<Request> {
        loop {
            if let Some(request) = self.take_request() {
                return request;
            }
            let input = self.input.recv().await?;
            self.pending.push_back(input);
        }
    }

    /// The next request if one is waiting (`None` also once input is closed).
    pub fn try_next_request(&mut self) -> Option<Request> {
        self.read_ahead();
        self.take_request().flatten()
    }

    /// The next signal the host delivered, leaving requests for
    /// [`RunnerHandle::next_request`]; `None` once the transport is dropped.
    ///
    /// # Cancel safety
    /// Cancel safe: inputs read past are kept.
    pub async fn next_signal(&mut self) -> Option<Signal> {
        loop {
            if let Some(signal) = self.take_signal() {
                return Some(signal);
            }
            let input = self.input.recv().await?;
            self.pending.push_back(input);
        }
    }

    /// The next signal if one is waiting.
    pub fn try_next_signal(&mut self) -> Option<Signal> {
        self.read_ahead();
        self.take_signal()
    }

    /// Sends a frame to the host. Ignored once the runner has exited or the host is gone.
    pub fn send(&self, event: Event) {
        self.push(Decoded::Frame(event));
    }

    /// Sends a line the host's decoder rejected. Ignored once the runner has exited.
    pub fn send_malformed(&self, malformed: Malformed) {
        self.push(Decoded::Malformed(malformed));
    }

    /// Sends raw output through the host's decoder: a frame line, a malformed line or
    /// several lines. A missing final newline is added.
    pub fn send_line(&mut self, line: &str) {
        let mut buf = BytesMut::from(line.as_bytes());
        if !line.ends_with('\n') {
            buf.extend_from_slice(b"\n");
        }
        // Decoding from memory cannot fail; `Err` is reserved for I/O.
        while let Ok(Some(decoded)) = self.decoder.decode(&mut buf) {
            self.push(decoded);
        }
    }

    /// Ends the runner: the host receives [`Incoming::Exited`] after every frame sent
    /// before. Later calls, and later frames, are ignored.
    pub fn exit(&self, status: ExitStatus, stderr_tail: impl Into<String>) {
        let mut shared = lock(&self.log.shared);
        if shared.exit.is_some() {
            return;
        }
        shared.exit = Some(status);
        let exit = Exit {
            status,
            stderr_tail: stderr_tail.into(),
        };
        let _ = self.incoming.send(Incoming::Exited(exit));
    }

    /// A view of what the host did, which outlives the handle.
    pub fn log(&self) -> RunnerLog {
        self.log.clone()
    }

    /// Every signal the host delivered, in order (read or not).
    pub fn signals(&self) -> Vec<Signal> {
        self.log.signals()
    }

    /// Whether the host closed input or dropped the transport.
    pub fn input_closed(&self) -> bool {
        self.log.input_closed()
    }

    fn push(&self, decoded: Decoded<Event>) {
        if lock(&self.log.shared).exit.is_none() {
            // A dropped transport reads nothing, like a host that went away.
            let _ = self.incoming.send(Incoming::Frame(decoded));
        }
    }

    /// Moves every input already sent into `pending`.
    fn read_ahead(&mut self) {
        while let Ok(input) = self.input.try_recv() {
            self.pending.push_back(input);
        }
    }

    /// Takes the first pending request: `Some(None)` when input closed before it.
    /// The close marker stays, so later calls see it too.
    fn take_request(&mut self) -> Option<Option<Request>> {
        let at = self
            .pending
            .iter()
            .position(|input| !matches!(input, RunnerInput::Signal(_)))?;
        match self.pending.remove(at)? {
            RunnerInput::Request(request) => Some(Some(request)),
            marker => {
                self.pending.insert(at, marker);
                Some(None)
            }
        }
    }

    fn take_signal(&mut self) -> Option<Signal> {
        let at = self
            .pending
            .iter()
            .position(|input| matches!(input, RunnerInput::Signal(_)))?;
        match self.pending.remove(at)? {
            RunnerInput::Signal(signal) => Some(signal),
            other => {
                self.pending.insert(at, other);
                None
            }
        }
    }
}

impl fmt::Debug for RunnerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnerHandle")
            .field("pending", &self.pending)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl RunnerLog {
    /// Every request the host sent, in order, as the runner decoded it.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared).requests.clone()
    }

    /// Every signal the host delivered while the runner was alive, in order.
    pub fn signals(&self) -> Vec<Signal> {
        lock(&self.shared).signals.clone()
    }

    /// Whether the host closed input or dropped the transport.
    pub fn input_closed(&self) -> bool {
        lock(&self.shared).input_closed
    }

    /// How the runner exited, once it has.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        lock(&self.shared).exit
    }
}

impl fmt::Debug for RunnerLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = lock(&self.shared);
        f.debug_struct("RunnerLog")
            .field("requests", &shared.requests.len())
            .field("signals", &shared.signals)
            .field("input_closed", &shared.input_closed)
            .field("exit", &shared.exit)
            .finish()
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // The data stays consistent if a test panicked while holding the lock.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

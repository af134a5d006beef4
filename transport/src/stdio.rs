//! The real transport: a runner child process over piped stdin, stdout and stderr.
//!
//! The child runs in a session of its own (so it has no controlling terminal) and leads its
//! process group, so that terminate and kill reach whatever user code spawned; on Linux it
//! gets `SIGHUP` when the host goes away.
//! Its stdout carries frames; its stderr is not part of the protocol and goes to `tracing`
//! (target `pykernel::runner`), with a bounded tail kept for the exit report.
//!
//! # Reading
//!
//! ```text
//!   Reading ──stdout EOF──────────────────────────────┐
//!      │                                              v
//!      └─child reaped──> Draining ──EOF or bound──> Finishing ──stderr EOF or bound──> Done
//!                        (stdout kept open by a                 (yields Exited once)
//!                         grandchild is read for
//!                         at most DRAIN_BOUND)
//! ```

use std::{
    collections::VecDeque,
    ffi::OsString,
    io,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use bytes::BytesMut;
use futures::StreamExt;
use pykernel_protocol::{DEFAULT_MAX_LINE_LENGTH, Decoded, Event, NdjsonCodec, Request};
use rustix::process::{Pid, Signal as RawSignal};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    process::{Child, ChildStdin, ChildStdout, Command},
    task::JoinHandle,
    time::Instant,
};
use tokio_util::codec::{Encoder, FramedRead};

use crate::{Exit, ExitStatus, Incoming, Signal, Transport, TransportError};

/// How long stdout is still read after the runner was reaped, for a grandchild that
/// inherited it and keeps it open: 200 ms.
const DRAIN_BOUND: Duration = Duration::from_millis(200);

/// How long the exit report waits for the stderr reader to reach end of file.
const STDERR_BOUND: Duration = Duration::from_millis(200);

/// The longest stderr line logged as one event; longer lines are logged in pieces.
const MAX_LOGGED_LINE: usize = 16 * 1024;

/// How to start a runner process.
///
/// The environment is complete: the child starts from an empty one and gets exactly
/// [`SpawnOptions::env`].
#[derive(Clone, Debug)]
pub struct SpawnOptions {
    /// The program to run, such as the Python interpreter.
    pub program: PathBuf,
    /// Its arguments, such as `-u` and what starts the runner.
    pub args: Vec<OsString>,
    /// The working directory; `None` inherits the host's.
    pub cwd: Option<PathBuf>,
    /// The child's complete environment.
    pub env: Vec<(OsString, OsString)>,
    /// How many bytes of the child's stderr are kept for [`Exit::stderr_tail`].
    pub stderr_tail_bytes: usize,
    /// The longest frame line accepted from the child; longer lines become malformed.
    pub max_line_length: usize,
    /// The longest raw payload accepted after a frame's header line (stream text, or a
    /// display's parts together; see [`NdjsonCodec::with_max_payload_length`]); a host
    /// sets it to its display cap.
    pub max_payload_length: usize,
    /// Whether to kill what is left of the child's process group once the child itself
    /// has exited, so processes that user code started in the background do not outlive
    /// the runner.
    pub kill_group_on_exit: bool,
    /// Bytes written to the child's stdin before any request, such as the runner package
    /// for a launcher's bootstrap. They are written in the background as the child reads
    /// them; the first send waits until they are out.
    pub stdin_preamble: Vec<u8>,
    /// Where signals go: to the child's process group, or in band to a runner behind a
    /// launcher.
    pub signal_route: SignalRoute,
}

/// How [`Transport::signal`] reaches the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignalRoute {
    /// The child is the runner: signals go to it and its process group.
    Process,
    /// The child is a launcher (ssh, `kubectl exec`, a sandbox) with the runner behind
    /// it, where no local signal reaches. [`Signal::Interrupt`] fails with
    /// [`TransportError::InBand`], so the caller sends an in-band `interrupt`;
    /// [`Signal::Terminate`] writes the in-band `kill` request and closes the runner's
    /// input (a runner kills its process group at the end of its input);
    /// [`Signal::Kill`] does the same and then kills the launcher's local process group.
    InBand,
}

impl SpawnOptions {
    /// Options to run `program` with no arguments, an empty environment, an 8 KiB stderr
    /// tail, the protocol's default line limit (also the payload limit) and group cleanup
    /// on exit.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            stderr_tail_bytes: 8 * 1024,
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
            max_payload_length: DEFAULT_MAX_LINE_LENGTH,
            kill_group_on_exit: true,
            stdin_preamble: Vec::new(),
            signal_route: SignalRoute::Process,
        }
    }
}

/// The frame pipe's buffer size, and the reader's initial buffer.
///
/// Linux's default 64 KiB pipe makes the runner block, and both sides switch, once per
/// output frame under heavy output; 256 KiB measurably raises throughput. It stays small
/// because every pipe counts against the user's pipe budget (`pipe-user-pages-soft`).
const FRAME_PIPE_BYTES: usize = 256 * 1024;

/// Enlarges the frame pipe; a refusal (an exhausted pipe budget) only costs speed.
fn grow_frame_pipe(stdout: &ChildStdout) {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::pipe::fcntl_setpipe_size(stdout, FRAME_PIPE_BYTES) {
        tracing::debug!(target: "pykernel::runner", error = %err, "could not enlarge the frame pipe");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stdout;
}

/// A runner child process spoken to over its stdin and stdout.
///
/// Created by [`StdioTransport::spawn`]; must be created and used inside a tokio runtime.
///
/// # Process lifetime
/// - The child leads a new session (`setsid`), and so its own process group, with no
///   controlling terminal: code that reads `/dev/tty` (a password prompt of `ssh`,
///   `sudo` or `git`) fails at once instead of stopping the runner with `SIGTTIN`.
///   [`Signal::Interrupt`] goes to the child only (the runner turns it into
///   `KeyboardInterrupt`); [`Signal::Terminate`] and [`Signal::Kill`] go to the whole
///   group.
/// - Dropping the transport kills the group (`SIGKILL`) if the child has not been reaped.
/// - On Linux the child gets `SIGHUP` when the host dies (`PR_SET_PDEATHSIG`). It is a
///   signal the runner can catch, so it kills its process group before it exits (a
///   `SIGKILL` would take the runner alone and leave what user code started); a runner
///   that does not catch it still dies of it (the default action). Linux
///   delivers it when the *thread* that forked the child exits, so every child is forked
///   by one dedicated thread that lives as long as the process; callers may spawn from
///   any thread, `spawn_blocking` included.
///
/// # Reading
/// [`Transport::recv`] yields every line of stdout, then waits for the child's exit and
/// reports it with the stderr tail. A child that closes its stdout but keeps running is
/// not reported until it exits (kill it to end the wait). A child that exits while
/// another process keeps its stdout or stderr open is still reported, within about
/// 0.4 s of being reaped (each stream is read for at most 200 ms more).
/// A process group that user code left behind is killed when the child exits, unless
/// [`SpawnOptions::kill_group_on_exit`] is off.
/// Once the exit is reported the child's pid may be reused, so signals are no-ops.
///
/// # Terminal interrupts
/// Being its own group, the child does not receive the `SIGINT` a terminal sends to the
/// host on Ctrl-C; the host forwards interrupts with [`Signal::Interrupt`] as it sees fit.
///
/// # SIGPIPE
/// Writing to a runner that has died fails with `EPIPE`, reported as
/// [`TransportError::Closed`]. That relies on `SIGPIPE` being ignored in the host, which
/// Rust binaries do before `main`. A program embedding this crate from a runtime that
/// restores the default `SIGPIPE` action must ignore it itself, or a dead runner can kill
/// the host. The child gets the default action back, as `std::process` always does.
#[derive(Debug)]
pub struct StdioTransport {
    child: Child,
    /// The child's pid, which is also its process group id; kept after the child is reaped
    /// only to name it in logs.
    pgid: Pid,
    stdin: Input,
    encoder: NdjsonCodec<Event>,
    write_buf: BytesMut,
    reader: Reader,
    stderr: StderrReader,
    kill_group_on_exit: bool,
    signal_route: SignalRoute,
}

/// The child's stdin.
#[derive(Debug)]
enum Input {
    /// The preamble is being written; the task hands the pipe back when it is out.
    Preamble(JoinHandle<io::Result<ChildStdin>>),
    /// Ready for requests.
    Open(ChildStdin),
    /// Closed by the host, or broken.
    Closed,
}

/// The read side: where [`StdioTransport::recv`] stands.
#[derive(Debug)]
enum Reader {
    /// Frames are being read. Once the child has been reaped, `reaped` holds its status
    /// and the deadline after which stdout is no longer read.
    Reading {
        frames: FramedRead<ChildStdout, NdjsonCodec<Event>>,
        reaped: Option<(ExitStatus, Instant)>,
    },
    /// Stdout is finished; the exit is reported once the status and stderr are in.
    Finishing {
        status: Option<ExitStatus>,
        stderr_until: Option<Instant>,
    },
    /// The exit has been reported.
    Done,
}

/// The stderr reader task and the tail it keeps.
#[derive(Debug)]
struct StderrReader {
    task: JoinHandle<()>,
    tail: Arc<Mutex<Tail>>,
    finished: bool,
}

impl StdioTransport {
    /// Starts the child described by `options` with piped stdio.
    ///
    /// # Errors
    /// [`TransportError::Spawn`] when the program cannot be started (missing, not
    /// executable, bad working directory).
    pub fn spawn(options: SpawnOptions) -> Result<Self, TransportError> {
        let SpawnOptions {
            program,
            args,
            cwd,
            env,
            stderr_tail_bytes,
            max_line_length,
            max_payload_length,
            kill_group_on_exit,
            stdin_preamble,
            signal_route,
        } = options;
        let mut command = Command::new(&program);
        command
            .args(&args)
            .env_clear()
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cwd) = &cwd {
            command.current_dir(cwd);
        }
        start_session(&mut command);
        set_parent_death_signal(&mut command);
        let spawn_error = |source| TransportError::Spawn {
            program: program.clone(),
            source,
        };
        let mut child = spawn_child(command).map_err(spawn_error)?;
        let pgid = child
            .id()
            .and_then(raw_pid)
            .ok_or_else(|| spawn_error(io::Error::other("the child has no process id")))?;
        // All three are set because they were configured as piped above.
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(spawn_error(io::Error::other(
                "the child's stdio is not piped",
            )));
        };
        grow_frame_pipe(&stdout);
        let stdin = if stdin_preamble.is_empty() {
            Input::Open(stdin)
        } else {
            let mut stdin = stdin;
            Input::Preamble(tokio::spawn(async move {
                stdin.write_all(&stdin_preamble).await?;
                stdin.flush().await?;
                Ok(stdin)
            }))
        };
        let tail = Arc::new(Mutex::new(Tail::new(stderr_tail_bytes)));
        let task = tokio::spawn(drain_stderr(stderr, Arc::clone(&tail), pgid.as_raw_pid()));
        tracing::debug!(
            target: "pykernel::runner",
            pid = pgid.as_raw_pid(),
            program = %program.display(),
            "runner spawned"
        );
        Ok(Self {
            child,
            pgid,
            stdin,
            encoder: NdjsonCodec::new_with_max_length(max_line_length),
            write_buf: BytesMut::new(),
            reader: Reader::Reading {
                frames: FramedRead::with_capacity(
                    stdout,
                    NdjsonCodec::new_with_max_length(max_line_length)
                        .with_max_payload_length(max_payload_length),
                    FRAME_PIPE_BYTES,
                ),
                reaped: None,
            },
            stderr: StderrReader {
                task,
                tail,
                finished: false,
            },
            kill_group_on_exit,
            signal_route,
        })
    }

    /// Records the child's exit and, when configured, kills what is left of its group.
    fn on_reaped(&self, status: io::Result<std::process::ExitStatus>) -> ExitStatus {
        let status = match status {
            Ok(status) => exit_status(status),
            Err(err) => {
                tracing::warn!(target: "pykernel::runner", error = %err, "waiting for the runner failed");
                ExitStatus::Unknown
            }
        };
        tracing::debug!(target: "pykernel::runner", pid = self.pgid.as_raw_pid(), %status, "runner exited");
        if self.kill_group_on_exit {
            // The group id cannot have been reused yet: it stays allocated while any
            // member is alive, and the leader was reaped just now. The leader's pid is
            // free again, so it is not signalled on its own.
            let res = ignore_gone(rustix::process::kill_process_group(
                self.pgid,
                RawSignal::KILL,
            ));
            if let Err(err) = res {
                tracing::warn!(target: "pykernel::runner", error = %err, "killing the runner's group failed");
            }
        }
        status
    }

    /// Takes the stderr tail, as complete as the bounded wait allowed.
    fn stderr_tail(&self) -> String {
        self.stderr
            .tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot()
    }
}

#[async_trait]
impl Transport for StdioTransport {
    /// Writes one request line and flushes it.
    ///
    /// # Errors
    /// [`TransportError::Closed`] when input was closed, the child was reaped or the pipe
    /// is broken; [`TransportError::Encode`] when the request cannot be encoded (the pipe
    /// is untouched); [`TransportError::Io`] for any other write failure.
    ///
    /// It waits while the pipe is full, that is while the runner does not read.
    ///
    /// # Cancel safety
    /// Not cancel safe: a dropped call may have written part of a line.
    async fn send(&mut self, request: &Request) -> Result<(), TransportError> {
        if self.child.id().is_none() {
            return Err(TransportError::Closed);
        }
        self.write_buf.clear();
        self.encoder
            .encode(request, &mut self.write_buf)
            .map_err(TransportError::Encode)?;
        self.finish_preamble().await?;
        let Input::Open(stdin) = &mut self.stdin else {
            return Err(TransportError::Closed);
        };
        let res = async {
            stdin.write_all(&self.write_buf).await?;
            stdin.flush().await
        }
        .await;
        match res {
            Ok(()) => Ok(()),
            Err(err) if is_closed(&err) => {
                self.stdin = Input::Closed;
                Err(TransportError::Closed)
            }
            Err(err) => Err(TransportError::Io(err)),
        }
    }

    /// # Cancel safety
    /// Cancel safe. Every await is on state the transport owns (the framed reader's
    /// buffer, the child's cached exit status, the stderr task's handle) and the
    /// deadlines are stored before awaiting them, so a dropped call loses no frame and
    /// does not extend a bound; a value is returned in the same poll it is taken.
    async fn recv(&mut self) -> Option<Incoming> {
        loop {
            match &mut self.reader {
                Reader::Reading {
                    frames,
                    reaped: None,
                } => {
                    let next = tokio::select! {
                        biased;
                        next = frames.next() => next,
                        status = self.child.wait() => {
                            let status = self.on_reaped(status);
                            if let Reader::Reading { reaped, .. } = &mut self.reader {
                                *reaped = Some((status, Instant::now() + DRAIN_BOUND));
                            }
                            continue;
                        }
                    };
                    if let Some(incoming) = self.on_stdout(next, None) {
                        return Some(incoming);
                    }
                }
                Reader::Reading {
                    frames,
                    reaped: Some((status, drain_until)),
                } => {
                    let status = *status;
                    let drain_until = *drain_until;
                    let next = tokio::select! {
                        biased;
                        next = frames.next() => next,
                        () = tokio::time::sleep_until(drain_until) => {
                            tracing::warn!(
                                target: "pykernel::runner",
                                "runner exited but another process keeps its stdout open; \
                                 no longer reading it"
                            );
                            None
                        }
                    };
                    if let Some(incoming) = self.on_stdout(next, Some(status)) {
                        return Some(incoming);
                    }
                }
                Reader::Finishing { status: None, .. } => {
                    let status = self.child.wait().await;
                    let status = self.on_reaped(status);
                    if let Reader::Finishing { status: slot, .. } = &mut self.reader {
                        *slot = Some(status);
                    }
                }
                Reader::Finishing {
                    status: Some(status),
                    stderr_until,
                } => {
                    let status = *status;
                    if !self.stderr.finished {
                        let until =
                            *stderr_until.get_or_insert_with(|| Instant::now() + STDERR_BOUND);
                        tokio::select! {
                            _ = &mut self.stderr.task => {}
                            () = tokio::time::sleep_until(until) => {
                                tracing::debug!(target: "pykernel::runner", "runner stderr is still open; reporting the exit without its end");
                            }
                        }
                        self.stderr.finished = true;
                    }
                    self.reader = Reader::Done;
                    return Some(Incoming::Exited(Exit {
                        status,
                        stderr_tail: self.stderr_tail(),
                    }));
                }
                Reader::Done => return None,
            }
        }
    }

    fn signal(&mut self, signal: Signal) -> Result<(), TransportError> {
        // While the child is not reaped its pid cannot be reused, so signalling is safe.
        let Some(pid) = self.child.id().and_then(raw_pid) else {
            return Ok(());
        };
        let res = match (self.signal_route, signal) {
            (SignalRoute::Process, Signal::Interrupt) => {
                ignore_gone(rustix::process::kill_process(pid, RawSignal::INT))
            }
            (SignalRoute::Process, Signal::Terminate) => signal_group(pid, RawSignal::TERM),
            (SignalRoute::Process, Signal::Kill) => signal_group(pid, RawSignal::KILL),
            (SignalRoute::InBand, Signal::Interrupt) => return Err(TransportError::InBand),
            (SignalRoute::InBand, Signal::Terminate) => {
                self.kill_in_band();
                Ok(())
            }
            (SignalRoute::InBand, Signal::Kill) => {
                self.kill_in_band();
                signal_group(pid, RawSignal::KILL)
            }
        };
        res.map_err(TransportError::Io)
    }

    async fn close_input(&mut self) -> Result<(), TransportError> {
        let stdin = match std::mem::replace(&mut self.stdin, Input::Closed) {
            Input::Open(stdin) => stdin,
            Input::Closed => return Ok(()),
            // The runner no longer needs its package: dropping the pipe closes it.
            Input::Preamble(task) => {
                task.abort();
                return Ok(());
            }
        };
        let mut stdin = stdin;
        // Nothing is buffered (every send flushes), so this only surfaces a broken pipe,
        // which does not matter when closing.
        match stdin.flush().await {
            Err(err) if !is_closed(&err) => Err(TransportError::Io(err)),
            _ => Ok(()),
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

impl StdioTransport {
    /// Waits until the preamble is out, if one is being written.
    async fn finish_preamble(&mut self) -> Result<(), TransportError> {
        let Input::Preamble(task) = &mut self.stdin else {
            return Ok(());
        };
        let res = task.await;
        self.stdin = Input::Closed;
        match res {
            Ok(Ok(stdin)) => self.stdin = Input::Open(stdin),
            Ok(Err(err)) if !is_closed(&err) => return Err(TransportError::Io(err)),
            Ok(Err(_)) => return Err(TransportError::Closed),
            Err(err) => return Err(TransportError::Io(io::Error::other(err))),
        }
        Ok(())
    }

    /// Writes the in-band `kill` request if the pipe takes it at once, then closes the
    /// runner's input, whose end makes the runner kill its group too.
    ///
    /// The request is one short line written with one non-blocking `write`, which a pipe
    /// takes whole or not at all (it is shorter than `PIPE_BUF`); every send finishes its
    /// line before the driver signals, so it never lands inside another line.
    fn kill_in_band(&mut self) {
        match std::mem::replace(&mut self.stdin, Input::Closed) {
            Input::Open(stdin) => {
                let mut line = BytesMut::new();
                if self.encoder.encode(&Request::Kill, &mut line).is_ok() {
                    if let Err(err) = rustix::io::write(&stdin, &line) {
                        tracing::debug!(target: "pykernel::runner", error = %err, "could not write the in-band kill");
                    }
                }
            }
            Input::Preamble(task) => task.abort(),
            Input::Closed => {}
        }
    }

    /// Handles one read from stdout; a finished stdout moves on to [`Reader::Finishing`].
    fn on_stdout(
        &mut self,
        next: Option<io::Result<Decoded<Event>>>,
        status: Option<ExitStatus>,
    ) -> Option<Incoming> {
        match next {
            Some(Ok(decoded)) => return Some(Incoming::Frame(decoded)),
            Some(Err(err)) => {
                tracing::warn!(target: "pykernel::runner", error = %err, "reading the runner's stdout failed");
            }
            None => {}
        }
        self.reader = Reader::Finishing {
            status,
            stderr_until: None,
        };
        None
    }
}

impl Drop for StdioTransport {
    fn drop(&mut self) {
        if self.signal_route == SignalRoute::InBand {
            self.kill_in_band();
        }
        if self.child.id().is_some() {
            // Not reaped, so the group id is still ours. `kill_on_drop` then kills the
            // child itself (in case it left the group) and tokio reaps it.
            let _ = signal_group(self.pgid, RawSignal::KILL);
        }
        self.stderr.task.abort();
    }
}

/// Sends `signal` to every descendant of the child `pgid` (those that left its group
/// too, such as a daemon in a session of its own), to the group it leads, and to `pgid`
/// itself if it left the group. Only for a child that has not been reaped, whose pid
/// cannot name another process.
fn signal_group(pgid: Pid, signal: RawSignal) -> io::Result<()> {
    for pid in descendants(pgid) {
        // A descendant that exited meanwhile is no failure; its pid cannot have been
        // reused while it was a zombie waiting for its parent.
        let _ = rustix::process::kill_process(pid, signal);
    }
    ignore_gone(rustix::process::kill_process_group(pgid, signal))?;
    match rustix::process::getpgid(Some(pgid)) {
        Ok(group) if group != pgid => ignore_gone(rustix::process::kill_process(pgid, signal)),
        _ => Ok(()),
    }
}

/// The processes whose chain of parents leads to `root`, read from `/proc` (Linux; none
/// elsewhere). As a child subreaper the runner adopts the orphans among them, so a
/// double-forked daemon is found too.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn descendants(root: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(i32, i32)> = entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After the parenthesized command name: the state, then the parent's pid.
            let (_, rest) = stat.rsplit_once(')')?;
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root.as_raw_pid()];
    let mut next = 0;
    while let Some(&parent) = found.get(next) {
        next += 1;
        found.extend(
            parents
                .iter()
                .filter(|(pid, ppid)| *ppid == parent && !found.contains(pid))
                .map(|(pid, _)| *pid)
                .collect::<Vec<_>>(),
        );
    }
    found
        .into_iter()
        .skip(1)
        .filter_map(Pid::from_raw)
        .collect()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn descendants(_root: Pid) -> Vec<Pid> {
    Vec::new()
}

/// Treats "no such process" as success: the target is already gone.
fn ignore_gone(res: rustix::io::Result<()>) -> io::Result<()> {
    match res {
        Err(rustix::io::Errno::SRCH) | Ok(()) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}

fn raw_pid(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().and_then(Pid::from_raw)
}

fn is_closed(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;

    if let Some(code) = status.code() {
        ExitStatus::Code(code)
    } else if let Some(signal) = status.signal() {
        ExitStatus::Signal(signal)
    } else {
        ExitStatus::Unknown
    }
}

/// Makes the child a session leader, and so its process group's leader, without a
/// controlling terminal.
fn start_session(command: &mut Command) {
    let pre_exec = || {
        rustix::process::setsid()?;
        Ok(())
    };
    // SAFETY: the closure makes one system call, which is async-signal-safe between
    // fork and exec.
    unsafe {
        command.pre_exec(pre_exec);
    }
}

/// Asks Linux to send the child `SIGHUP` when the spawning thread exits (see
/// [`spawn_child`]), and makes it a child subreaper.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_parent_death_signal(command: &mut Command) {
    let parent = rustix::process::getpid();
    let pre_exec = move || {
        rustix::process::set_parent_process_death_signal(Some(RawSignal::HUP))?;
        // Orphans of the runner's descendants (a double-forked daemon) are re-parented to
        // the runner instead of init, so they can be found and stopped with it.
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
        // The parent may have died before the call above; then the signal never comes.
        if rustix::process::getppid() != Some(parent) {
            return Err(io::Error::from(rustix::io::Errno::SRCH));
        }
        Ok(())
    };
    // SAFETY: the closure only makes two system calls and builds an error without
    // allocating, which is async-signal-safe between fork and exec.
    unsafe {
        command.pre_exec(pre_exec);
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_parent_death_signal(_command: &mut Command) {}

/// Spawns `command` from a thread that lives as long as the process.
///
/// Linux sends the parent-death signal when the thread that forked the child exits, not
/// when the process does. Spawning from the caller's thread would kill the runner as
/// soon as that thread ends, which for a `spawn_blocking` thread, or a runtime worker
/// that `block_in_place` turned into one, happens whenever it idles out. One dedicated
/// thread does every spawn instead; the caller's runtime is entered there so tokio
/// registers the child with it. If that thread cannot be started the caller spawns.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn spawn_child(command: Command) -> io::Result<Child> {
    use std::sync::{OnceLock, mpsc};

    struct Job {
        command: Command,
        runtime: tokio::runtime::Handle,
        reply: mpsc::SyncSender<io::Result<Child>>,
    }

    static SPAWNER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();

    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("pykernel-spawner".to_owned())
            .spawn(move || {
                for mut job in job_rx {
                    let _runtime = job.runtime.enter();
                    // The caller may have given up waiting; the child is then dropped
                    // and killed.
                    let _ = job.reply.send(job.command.spawn());
                }
            });
        match thread {
            Ok(_) => Some(jobs),
            Err(err) => {
                tracing::warn!(
                    target: "pykernel::runner",
                    error = %err,
                    "cannot start the spawner thread; runners die with the thread that starts them"
                );
                None
            }
        }
    });
    // Without a runtime tokio cannot spawn; let it report that on this thread.
    let (Some(jobs), Ok(runtime)) = (spawner, tokio::runtime::Handle::try_current()) else {
        let mut command = command;
        return command.spawn();
    };
    let (reply, reply_rx) = mpsc::sync_channel(1);
    if let Err(mpsc::SendError(job)) = jobs.send(Job {
        command,
        runtime,
        reply,
    }) {
        let mut command = job.command;
        return command.spawn();
    }
    reply_rx
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the spawner thread is gone")))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn spawn_child(mut command: Command) -> io::Result<Child> {
    command.spawn()
}

/// Reads the child's stderr to end of file, logging each line and keeping the tail.
async fn drain_stderr(mut stderr: impl AsyncRead + Unpin, tail: Arc<Mutex<Tail>>, pid: i32) {
    let mut line = Vec::new();
    let mut chunk = vec![0; 8 * 1024];
    loop {
        let n = match stderr.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(target: "pykernel::runner", pid, error = %err, "reading the runner's stderr failed");
                break;
            }
        };
        let bytes = &chunk[..n];
        tail.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(bytes);
        for piece in bytes.split_inclusive(|&byte| byte == b'\n') {
            line.extend_from_slice(piece);
            if line.ends_with(b"\n") || line.len() >= MAX_LOGGED_LINE {
                log_stderr_line(&line, pid);
                line.clear();
            }
        }
    }
    log_stderr_line(&line, pid);
}

fn log_stderr_line(line: &[u8], pid: i32) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']);
    if !text.trim().is_empty() {
        tracing::warn!(target: "pykernel::runner", pid, "runner stderr: {text}");
    }
}

/// The last bytes of the child's stderr.
#[derive(Debug)]
struct Tail {
    limit: usize,
    bytes: VecDeque<u8>,
    /// Whether bytes were dropped from the front.
    truncated: bool,
}

impl Tail {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            bytes: VecDeque::new(),
            truncated: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend(bytes);
        if let Some(excess) = self.bytes.len().checked_sub(self.limit).filter(|&n| n > 0) {
            self.bytes.drain(..excess);
            self.truncated = true;
        }
    }

    /// The tail as text of at most `limit` bytes. When the front was cut, it starts on a
    /// character boundary and, if it holds a line break, at the start of a line.
    fn snapshot(&self) -> String {
        let (front, back) = self.bytes.as_slices();
        let mut bytes = [front, back].concat();
        if self.truncated {
            // Drop the continuation bytes of a character cut in half.
            let cut = bytes
                .iter()
                .take(3)
                .take_while(|&&byte| byte & 0xC0 == 0x80)
                .count();
            bytes.drain(..cut);
        }
        let text = String::from_utf8_lossy(&bytes);
        // Lossy decoding can grow the text (a stray byte becomes a 3-byte U+FFFD).
        let mut start = text.len().saturating_sub(self.limit);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        let mut text = &text[start..];
        if self.truncated || start > 0 {
            if let Some(newline) = text.find('\n').filter(|&at| at + 1 < text.len()) {
                text = &text[newline + 1..];
            }
        }
        text.to_owned()
    }
}

"""Output: one ordered buffer for stdout and stderr, flushed into stream frames.

``sys.stdout``/``sys.stderr`` are ``Stream`` proxies that write into ``OUT``; a flusher
thread turns what it holds into frames every few milliseconds. Bytes written to fds 1
and 2 (``os.system``, C extensions) are read by the fd relay, a process that needs no
GIL (see ``relay``), and a drain thread turns what it hands over into output of the
running cell. ``flush_output()`` makes everything written so far go out before the next
frame that is not stream text.
"""

import _thread
import codecs
import io
import os
import sys
import time

from . import relay, running, wire
from .running import Event
from .signals import after_critical, critical
from .wire import (
    FRAME_LOCK,
    check_parent,
    emit,
    log,
    log_text,
    send_bytes,
    stream_frame,
    stream_head,
)

_FLUSH_SIZE = 64 * 1024
# Writes the hot path takes before the next one goes down the slow path, which seals
# them into the buffer and checks its size.
_HOT_CHUNKS = 64
# One stream frame carries at most this many characters: even fully escaped it stays
# far below the host's line limit (64 MiB), however large a single write() is.
_MAX_FRAME_CHARS = 1024 * 1024
_FLUSH_DELAY = 0.005
# How long the end of a cell waits at most for fd output that keeps coming.
FD_SYNC_BUDGET = 0.2
FD_CAPTURES = []  # a FdCapture for fd 1 and fd 2, when they point at pipes
RELAY = None  # the fd relay's Relay, when it could be started


class Output:
    """Coalesces stream writes of the running execution into few, ordered frames.

    Writes land in ``segments`` ([stream, [chunks]] in write order) under the lock,
    except on the hot path (``print`` in a loop): while nothing needs looking at
    between two writes, the stream written last appends to its own live list, up to
    ``_HOT_CHUNKS`` chunks, with one ``list.append`` and no lock. A live list is never
    replaced, only emptied from the front, so a write that races with a flush is never
    lost: the next flush takes it. Every flush and every slow write first seals the
    live lists into ``segments``, which keeps the order of writes; a full live list
    sends the next write down the slow path, which flushes at ``_FLUSH_SIZE`` (so
    frames stay bounded and a slow host holds the writer back).
    """

    def __init__(self):
        self.lock = _thread.allocate_lock()
        self.segments = []  # [stream, [chunks]] in write order
        self.size = 0
        self.owner = None
        self.pending = Event()
        self.python_pending = False
        self.streams = []  # every Stream, for their live lists
        self.hot = None  # the Stream whose hot path is on

    def write(self, stream, text):
        """A Python-level write off the hot path. The first one after a flush first
        takes in bytes already waiting in the fd pipes (``os.system`` output, say), so
        they keep their place before it; it then turns the hot path on."""
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        if not text:
            return 0
        if not self.python_pending and FD_CAPTURES:
            sync_fds()
        self.python_pending = True
        self.append(stream._stream, text, stream)
        return len(text)

    @critical
    def append(self, stream, text, hot=None):
        try:
            ex = running.current
            if ex is not None and ex.captures and ex.captures[-1].take(stream, text):
                return
            with self.lock:
                ex = running.current
                if ex is None or ex.finished:
                    # A background thread writing after its cell ended: it goes out under
                    # the id of the cell that ended last, which the host passes on.
                    ex = running.last
                    if ex is None:
                        log_text(text)
                        return
                self._seal_locked()
                if self.owner is not ex:
                    if self.segments:
                        self._flush_locked()
                    self.owner = ex
                segments = self.segments
                if segments and segments[-1][0] == stream:
                    segments[-1][1].append(text)
                else:
                    segments.append([stream, [text]])
                self.size += len(text)
                if self.size >= _FLUSH_SIZE:
                    self._flush_locked()
                    return
                # Until the next flush, the next write to this stream needs none of
                # the checks above: the fd pipes were synced since the last flush, the
                # owner is current, and a %%capture that starts turns the hot path off.
                if (
                    hot is not None
                    and self.python_pending
                    and not ex.captures
                    and ex is running.current
                ):
                    hot._hot = hot._live
                    self.hot = hot
            if not self.pending.is_set():
                self.pending.set()
        finally:
            after_critical()

    @critical
    def _seal_locked(self):
        """Turns the hot path off and moves what it appended into ``segments``."""
        try:
            hot = self.hot
            if hot is not None:
                hot._hot = None
                self.hot = None
            for source in self.streams:
                live = source._live
                count = len(live)
                if not count:
                    continue
                chunks = live[:count]
                del live[:count]
                segments = self.segments
                if segments and segments[-1][0] == source._stream:
                    segments[-1][1].extend(chunks)
                else:
                    segments.append([source._stream, chunks])
                self.size += sum(map(len, chunks))
        finally:
            after_critical()

    def seal(self):
        """Turns the hot path off, so the next write is looked at (a capture starts)."""
        with self.lock:
            self._seal_locked()

    def flush(self):
        try:
            with self.lock:
                self._flush_locked()
        finally:
            after_critical()

    @critical
    def _flush_locked(self):
        try:
            self._seal_locked()
            owner = self.owner
            segments = self.segments
            self.segments = []
            self.size = 0
            self.python_pending = False
            if owner is None:
                return
            heads = owner.heads
            for stream, chunks in segments:
                data = "".join(chunks)
                head = heads.get(stream, False)
                if head is False:
                    head = heads[stream] = stream_head(stream, owner.id)
                for start in range(0, len(data), _MAX_FRAME_CHARS):
                    text = data[start : start + _MAX_FRAME_CHARS]
                    line = stream_frame(head, text)
                    if line is None:
                        emit({"type": stream, "id": owner.id, "data": text})
                    elif not wire.in_child:
                        with FRAME_LOCK:
                            send_bytes(line)
        finally:
            after_critical()


OUT = Output()


class Stream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` while the runner serves: text goes into frames."""

    encoding = "utf-8"
    errors = "replace"
    newlines = None
    line_buffering = False
    write_through = True
    mode = "w"

    def __init__(self, stream, fd):
        super().__init__()
        self._stream = stream
        self._fd = fd
        self._buffer = None
        # The hot path: ``_hot`` is ``_live`` while OUT allows it (see Output).
        self._live = []
        self._hot = None
        OUT.streams.append(self)

    @property
    def name(self):
        return "<%s>" % self._stream

    @property
    def closed(self):
        return False

    @property
    def buffer(self):
        if self._buffer is None:
            self._buffer = _BinaryStream(self)
        return self._buffer

    def write(self, text):
        # print() in a loop comes here twice per call: keep it to one list append. Nothing
        # between reading ``_hot`` and the append lets another thread run (under the GIL),
        # so a flush that turns the hot path off never misses a write.
        if type(text) is str:
            live = self._hot
            if live is not None:
                live.append(text)
                if len(live) >= _HOT_CHUNKS:
                    # Full: the next write takes the slow path, which seals the list.
                    self._hot = None
                return len(text)
        return OUT.write(self, text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        # Fd output written before the flush goes out before it too: a C call that held
        # the GIL kept the flusher from marking the next print as needing a sync.
        flush_output()

    def close(self):
        # Closing the proxy would leave the kernel mute; flush instead.
        OUT.flush()

    def isatty(self):
        return False

    def fileno(self):
        return self._fd

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False

    def reconfigure(self, **kwargs):
        """Accepted for compatibility; the proxy always takes str and emits UTF-8."""


class _BinaryStream:
    """``sys.stdout.buffer``: bytes are decoded as UTF-8 into the text stream."""

    def __init__(self, text_stream):
        self._text = text_stream
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.closed = False

    def write(self, data):
        text = self._decoder.decode(bytes(data))
        if text:
            self._text.write(text)
        return len(data)

    def flush(self):
        self._text.flush()

    def fileno(self):
        return self._text.fileno()

    def isatty(self):
        return False

    def writable(self):
        return True

    def readable(self):
        return False

    def close(self):
        self.flush()


class FdCapture:
    """Turns bytes written to fd 1 or fd 2 into stream text of the running execution."""

    def __init__(self, fd, stream, target, write_fd):
        self.fd = fd
        self.stream = stream
        self.target = target  # 1 or 2
        self.write_fd = write_fd  # a private duplicate of the pipe's write end
        self.lock = _thread.allocate_lock()
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def drain(self, max_chunks=None, deadline=None):
        """Reads what the pipe holds now; the caller holds ``self.lock``."""
        chunks = 0
        while True:
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                return
            text = self.decoder.decode(data)
            if text:
                OUT.append(self.stream, text)
            chunks += 1
            if max_chunks is not None and chunks >= max_chunks:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return


def drain_main():
    """The drain thread: turns bytes written to fds 1 and 2 into stream text, as the relay
    hands them over (or, without a relay, from the capture pipes themselves)."""
    import select

    fd_relay = RELAY
    while fd_relay is not None and fd_relay.alive:
        try:
            select.select((fd_relay.data_r,), (), ())
        except InterruptedError:
            continue
        except (OSError, ValueError):
            break
        with fd_relay.lock:
            if fd_relay.alive:
                fd_relay.read()
    fds = [cap.fd for cap in FD_CAPTURES]
    by_fd = {cap.fd: cap for cap in FD_CAPTURES}
    while True:
        try:
            ready = select.select(fds, [], [])[0]
        except InterruptedError:
            continue
        except (OSError, ValueError):
            return
        for fd in ready:
            cap = by_fd[fd]
            with cap.lock:
                cap.drain(max_chunks=16)


def sync_fds(budget=0.0):
    """Moves everything already written to fds 1 and 2 into the output buffer.

    With a budget, keeps reading while data keeps coming, for at most that long, so a
    background writer cannot hold a cell open.
    """
    if not FD_CAPTURES or wire.in_child:
        return
    if budget and "ctypes" in sys.modules:
        _libc_fflush()
    fd_relay = RELAY
    if fd_relay is not None and fd_relay.alive:
        deadline = time.monotonic() + budget
        with fd_relay.lock:
            # The common case, twice per cell: a few polls and no round trip.
            while fd_relay.alive and fd_relay.pending():
                if not fd_relay.sync() or time.monotonic() >= deadline:
                    break
        if fd_relay.alive:
            return
    if not _fds_ready():
        return
    deadline = time.monotonic() + budget
    for cap in FD_CAPTURES:
        with cap.lock:
            cap.drain(deadline=deadline)


def _fds_ready():
    """Whether a capture pipe may hold bytes (True when that cannot be asked cheaply).

    ``select`` rather than a shared ``poll`` object: any thread may ask at any time, and
    a poll object refuses concurrent use.
    """
    try:
        import select

        return bool(select.select([cap.fd for cap in FD_CAPTURES], (), (), 0)[0])
    except (OSError, ValueError):
        return True


_LIBC = []


def _libc_fflush():
    """Flushes C stdio buffers (printf from extensions) into the fd pipes."""
    try:
        if not _LIBC:
            import ctypes

            _LIBC.append(ctypes.CDLL(None))
        _LIBC[0].fflush(None)
    except Exception:
        pass


def flush_output():
    """Makes every byte written so far go out before the next non-stream frame."""
    sync_fds()
    OUT.flush()


def flusher_main():
    """The flusher thread: sends buffered output within ``_FLUSH_DELAY`` of its write,
    and checks once a second that the host still runs."""
    pending = OUT.pending
    next_check = time.monotonic() + 1.0
    while True:
        if pending.wait(0.5):
            time.sleep(_FLUSH_DELAY)
            pending.clear()
            try:
                OUT.flush()
            except Exception as exc:
                log("flush failed: %r" % (exc,))
        now = time.monotonic()
        if now >= next_check:
            next_check = now + 1.0
            check_parent()



def capture_fds():
    """Points fds 1 and 2 at pipes the fd relay reads, so output of child processes and
    C code becomes stream text of the running cell (POSIX only). Runs before any thread
    starts: the relay is forked here."""
    if not wire.POSIX:
        # The drain thread waits with select(), which does not work on Windows pipes;
        # fds 1 and 2 stay where they are there.
        return
    try:
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            read_end, write_end = os.pipe()
            # Non-blocking first: if that is unsupported, fd 1/2 stay where they were
            # rather than pointing at a pipe nobody drains.
            os.set_blocking(read_end, False)
            os.dup2(write_end, fd)
            # Kept (non-inheritable) to point fd 1 or 2 back at the pipe if a cell
            # closes or moves it.
            private = os.dup(write_end)
            os.close(write_end)
            FD_CAPTURES.append(FdCapture(read_end, stream, fd, private))
    except (OSError, AttributeError) as exc:
        log("fd-level capture unavailable: %s" % exc)
        return
    start_relay()
    _report_crashes()


def _report_crashes():
    """Has a crash (SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL) write the Python traceback of
    the crashing thread to the runner's log, which the host keeps as the stderr tail of the
    kernel's death, as ipykernel does; a cell that enables ``faulthandler`` itself points
    it at fd 2, which the relay logs after the crash as well."""
    try:
        import faulthandler

        faulthandler.enable(file=wire.LOG_FD, all_threads=False)
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        log("crash tracebacks unavailable: %s" % exc)


def start_relay():
    """Forks the fd relay; without it the drain thread reads the capture pipes, which
    C code holding the GIL can fill (it then blocks)."""
    global RELAY
    by_target = {cap.target: cap for cap in FD_CAPTURES}

    def deliver(target, data):
        cap = by_target[target]
        text = cap.decoder.decode(data)
        if text:
            OUT.append(cap.stream, text)

    keep_out = [0, 1, 2, wire.FRAME_FD, wire.REQ_FD] + [cap.write_fd for cap in FD_CAPTURES]
    try:
        RELAY = relay.start(
            [(cap.fd, cap.target) for cap in FD_CAPTURES], keep_out, wire.LOG_FD, deliver
        )
    except (OSError, AttributeError) as exc:
        log("fd relay unavailable, draining fds in the runner: %s" % exc)


def install_streams():
    """Points ``sys.stdout`` and ``sys.stderr`` at the runner's streams."""
    global _STDOUT, _STDERR
    _STDOUT = sys.stdout = Stream("stdout", 1)
    _STDERR = sys.stderr = Stream("stderr", 2)


_STDOUT = _STDERR = None


def restore_stdio():
    """Undoes what an earlier cell did to the process's output: fds 1 and 2 closed or
    pointed elsewhere go back to their pipes, and ``sys.stdout``/``sys.stderr`` back to
    the runner's streams. Runs at the start of every cell."""
    if _STDOUT is not None and sys.stdout is not _STDOUT:
        sys.stdout = _STDOUT
    if _STDERR is not None and sys.stderr is not _STDERR:
        sys.stderr = _STDERR
    for cap in FD_CAPTURES:
        try:
            now = os.fstat(cap.target)
            pipe = os.fstat(cap.write_fd)
            if (now.st_dev, now.st_ino) == (pipe.st_dev, pipe.st_ino):
                continue
        except OSError:
            pass  # closed: point it back
        try:
            os.dup2(cap.write_fd, cap.target)
        except OSError as exc:
            log("cannot restore fd %d: %s" % (cap.target, exc))


def after_fork_in_child():
    """A forked child gets plain fd streams and never touches the runner's buffer."""
    # Another thread may have held the lock at the fork: the child gets its own.
    OUT.lock = _thread.allocate_lock()
    for stream in OUT.streams:
        stream._hot = None
    OUT.hot = None
    if RELAY is not None:
        RELAY.close()
    if "faulthandler" in sys.modules:
        # Its fd, the runner's log, is closed in the child and may be reused.
        sys.modules["faulthandler"].disable()
    for cap in FD_CAPTURES:
        for fd in (cap.fd, cap.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
    try:
        sys.stdout = io.TextIOWrapper(
            io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True
        )
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True
        )
    except (OSError, ValueError):
        pass

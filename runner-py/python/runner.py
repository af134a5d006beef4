"""pykernel runner: one persistent Python namespace served over NDJSON.

The host starts this file as ``python -u runner.py``, or imports it and calls
``main()`` (which lets Python cache its bytecode), and talks to it with one JSON object
per line: requests on stdin, frames on a private duplicate of the original stdout. The wire shapes are defined by ``protocol/src/frame.rs`` in the pykernel
workspace; this file is the Python side of that contract.

Layout of the process:

* fd 0 is pointed at /dev/null and fds 1 and 2 at pipes, so child processes and C code
  can never read or write protocol bytes. Frames go out on a private, non-inheritable
  duplicate of the original stdout; the runner's own notices go to a private duplicate
  of the original stderr (the host logs them).
* A reader thread parses request lines. It answers ``interrupt``, ``input_reply`` and
  ``reply`` at once, hands ``complete`` to a completer thread (so completion never waits
  for a cell), and queues executions for the main thread, which runs them one at a
  time. Cells with top-level ``await`` run on one persistent event loop.
* ``sys.stdout``/``sys.stderr`` buffer text into one ordered buffer that a flusher
  thread turns into frames every few milliseconds; a drain thread turns bytes written
  to fds 1 and 2 into output of the running cell.
* SIGINT is ignored while idle and raises ``KeyboardInterrupt`` while a cell runs.

Standard library only; Python 3.9 and newer.
"""

# Startup time matters: only C-level modules and modules the interpreter has already
# loaded are imported here (no json, signal, threading or ast, which pull in re, enum
# and functools); everything else is imported where it is used.
import _signal as signal
import _thread
import builtins
import codecs
import io
import os
import sys
import time

import _queue

PROTOCOL_VERSION = 2
RUNNER_VERSION = "0.1.0"

_POSIX = os.name == "posix"
_FLUSH_SIZE = 64 * 1024
# Writes the hot path takes before the next one goes down the slow path, which seals
# them into the buffer and checks its size.
_HOT_CHUNKS = 64
# One stream frame carries at most this many characters: even fully escaped it stays
# far below the host's line limit (64 MiB), however large a single write() is.
_MAX_FRAME_CHARS = 1024 * 1024
_FLUSH_DELAY = 0.005
_FD_SYNC_BUDGET = 0.2
# What the first error report imports (linecache, tokenize with re, traceback, ast:
# 5-18 ms on a fresh kernel). They are imported ahead of time, once the runner has been
# idle this long after an execution (never during startup, which must stay fast).
_WARM_MODULES = ("linecache", "tokenize", "traceback", "ast")
_WARM_AFTER_IDLE = 0.1
_CO_COROUTINE = 0x0080
_PYCF_ONLY_AST = 0x0400
_PYCF_ALLOW_TOP_LEVEL_AWAIT = 0x2000
_SHELL_MAX_BYTES = 1024 * 1024
_SHELL_MAX_LINES = 3000
_SHELL_NOTICE = (
    "[output truncated: shell helper exceeded 1048576 bytes or 3000 lines; "
    "remaining output discarded]"
)


class UsageError(Exception):
    """A magic was used wrongly, or does not exist (reported without a traceback)."""


class StdinNotImplementedError(IOError, NotImplementedError):
    """``input()`` was called but the execution did not allow stdin requests."""


class HostCallError(Exception):
    """The host answered a ``host_call`` with an error."""


# ---------------------------------------------------------------------------------------
# Process state
# ---------------------------------------------------------------------------------------


class _State:
    """Everything the runner keeps between requests (one instance, ``_S``)."""

    def __init__(self):
        self.current = None  # the running _Exec, or None while idle
        self.count = 0  # execution counter: stored executions only
        self.silent_seq = 0
        self.main_ident = _thread.get_ident()
        self.orig_ppid = os.getppid() if _POSIX else None
        self.loop = None
        self.loop_waiter = None
        self.deferred_sigint = False
        self.sigint_on = True  # unknown at first: the first _set_sigint(False) installs
        self.redelivering = False
        self.in_child = False
        self.closing = False
        self.waits_lock = _thread.allocate_lock()
        self.input_waits = []  # (exec id, _Waiter)
        self.calls = {}  # callId -> _Waiter
        self.call_seq = 0
        self.prelude_source = None
        self.rerunning_prelude = False
        self.hidden = {}
        self.inputs = [""]
        self.last_inputs = ["", "", ""]
        self.out_history = {}
        self.last_results = [None, None, None]
        self.future_flags = 0
        self.oldpwd = None
        self.sources = {}
        self.last_source = None  # the filename registered last
        self.cold = list(_WARM_MODULES)  # still to import ahead of time
        self.pyplot_patched = False
        self.getpass_patched = False
        # Stream text goes out as raw payloads after a header line (the host asked).
        self.payloads = False


_S = _State()


class _Event:
    """``threading.Event`` for the runner's own use, built on ``_thread`` locks so that
    ``threading`` is not imported at startup."""

    __slots__ = ("_flag", "_gate", "_guard")

    def __init__(self):
        self._flag = False
        self._guard = _thread.allocate_lock()
        self._gate = _thread.allocate_lock()
        self._gate.acquire()  # the gate is closed while the flag is down

    def is_set(self):
        return self._flag

    def set(self):
        with self._guard:
            if not self._flag:
                self._flag = True
                self._gate.release()

    def clear(self):
        with self._guard:
            if self._flag:
                self._flag = False
                self._gate.acquire()

    def wait(self, timeout=None):
        if self._flag:
            return True
        if self._gate.acquire(True, -1 if timeout is None else timeout):
            self._gate.release()
            return True
        return self._flag


class _Exec:
    """One execution request while it runs."""

    __slots__ = (
        "id",
        "silent",
        "store",
        "allow_stdin",
        "filename",
        "number",
        "finished",
        "shown_figs",
        "captures",
        "heads",
    )

    def __init__(self, rid, silent, store, allow_stdin, filename, number):
        self.id = rid
        self.silent = silent
        self.store = store
        self.allow_stdin = allow_stdin
        self.filename = filename
        self.number = number
        self.finished = False
        self.shown_figs = []
        self.captures = []
        self.heads = {}  # stream -> frame head, see _stream_head


# ---------------------------------------------------------------------------------------
# File descriptors: private frame, log and request channels; fds 0/1/2 redirected
# ---------------------------------------------------------------------------------------

_FRAME_FD = 1
_LOG_FD = 2
_REQ_FD = 0
_FD_CAPTURES = []


def _setup_fds():
    """Moves the protocol onto private fds and points fds 0, 1 and 2 elsewhere."""
    global _FRAME_FD, _LOG_FD, _REQ_FD
    _FRAME_FD = os.dup(1)  # os.dup gives non-inheritable descriptors
    _LOG_FD = os.dup(2)
    _REQ_FD = os.dup(0)
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        if not _POSIX:
            # The drain thread waits with select(), which does not work on Windows
            # pipes; fds 1 and 2 stay where they are there.
            return
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            read_end, write_end = os.pipe()
            # Non-blocking first: if that is unsupported, fd 1/2 stay where they were
            # rather than pointing at a pipe nobody drains.
            os.set_blocking(read_end, False)
            os.dup2(write_end, fd)
            os.close(write_end)
            _FD_CAPTURES.append(_FdCapture(read_end, stream))
    except (OSError, AttributeError) as exc:
        _log("fd-level capture unavailable: %s" % exc)


def _log(message):
    """Writes a notice line to the runner's private stderr (the host's log)."""
    _log_text("pykernel-runner: %s\n" % message)


def _log_text(text):
    if _S.in_child:
        return
    try:
        data = text.encode("utf-8", "replace")
        while data:
            written = os.write(_LOG_FD, data)
            data = data[written:]
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------

_FRAME_LOCK = _thread.allocate_lock()


def _json_default(value):
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    try:
        return repr(value)
    except Exception:
        return "<unrepresentable %s>" % type(value).__name__


_NAN = float("nan")
_JSON_CONSTANTS = {"NaN": _NAN, "Infinity": float("inf"), "-Infinity": float("-inf")}


def _make_json_codec():
    """Returns (dumps, loads) for frames and requests.

    They use the ``_json`` accelerator directly, which spares importing ``json`` (and
    with it ``re`` and ``enum``) at startup; if this interpreter's ``_json`` does not
    look as expected, the ``json`` module is used instead. Either way: compact
    separators, UTF-8 text rather than escapes, and no NaN/Infinity in output.
    """
    try:
        import _json

        class _Context:
            strict = True
            object_hook = None
            object_pairs_hook = None
            parse_float = float
            parse_int = int
            parse_constant = _JSON_CONSTANTS.__getitem__
            memo = {}

        scan = _json.make_scanner(_Context())
        make_encoder = _json.make_encoder
        encode_string = _json.encode_basestring

        def dumps(value):
            encoder = make_encoder(
                {}, _json_default, encode_string, None, ":", ",", False, False, False
            )
            return "".join(encoder(value, 0))

        def loads(data):
            text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
            start = len(text) - len(text.lstrip(" \t\r\n"))
            try:
                value, end = scan(text, start)
            except StopIteration as stop:
                raise ValueError("Expecting value: char %d" % stop.value) from None
            except ValueError:
                raise
            except Exception:
                # The accelerator builds its error by importing json.decoder, which
                # can fail in a thread; the json module gives the proper error.
                import json

                return json.loads(text)
            if text[end:].strip(" \t\r\n"):
                raise ValueError("Extra data: char %d" % end)
            return value

        if dumps({"a": [1, 2.5, "\u00e9", None, True]}) != '{"a":[1,2.5,"\u00e9",null,true]}':
            raise ValueError("unexpected _json output")
        if loads(b' {"a": [1, 2.5, NaN]} ')["a"][:2] != [1, 2.5]:
            raise ValueError("unexpected _json parse")
        return dumps, loads
    except Exception:
        import json

        encoder = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
        )
        return encoder.encode, json.loads


_json_dumps, _json_loads = _make_json_codec()


def _sanitize(value, seen=None, depth=0):
    """Makes any value JSON-safe: string keys, no NaN, no cycles, repr for the rest."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if depth > 200:
        return "<too deep>"
    if seen is None:
        seen = set()
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        if id(value) in seen:
            return "<circular reference>"
        seen.add(id(value))
        try:
            if isinstance(value, dict):
                return {
                    (k if isinstance(k, str) else str(k)): _sanitize(v, seen, depth + 1)
                    for k, v in value.items()
                }
            return [_sanitize(v, seen, depth + 1) for v in value]
        finally:
            seen.discard(id(value))
    return _sanitize(_json_default(value), seen, depth + 1)


def _encode_frame(frame):
    try:
        line = _json_dumps(frame)
    except (TypeError, ValueError, RecursionError):
        line = _json_dumps(_sanitize(frame))
    line += "\n"
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (undecodable file names, for instance) become U+FFFD.
        return line.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


def _json_escapes():
    """(byte, escape) pairs that turn UTF-8 text into the inside of a JSON string the
    way the JSON encoder writes it: the backslash first, then '"' and the control
    characters (short forms where JSON has them, ``\\u00XX`` otherwise)."""
    short = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r"}
    escapes = {b"\\": b"\\\\", b'"': b'\\"'}
    for code in range(0x20):
        escapes[bytes((code,))] = short.get(code) or b"\\u%04x" % code
    return tuple(escapes.items())


_JSON_ESCAPES = _json_escapes()


def _stream_head(stream, rid):
    """A stream frame up to the opening quote of its ``data``, as ``_encode_frame``
    writes it (or, with payloads, up to its ``bytes`` count); None when the id cannot go
    out as UTF-8."""
    member = "bytes\":" if _S.payloads else "data\":\""
    try:
        return ('{"type":"%s","id":%s,"%s' % (stream, _json_dumps(rid), member)).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        return None


def _stream_frame(head, text):
    """The frame line for stream text, built without the JSON encoder; or None.

    The encoder looks at text one character at a time; here each byte JSON escapes is
    found with one fast ``bytes.replace`` over the UTF-8 (no byte of a multi-byte
    sequence is below 0x80, so this is safe), which makes large output several times
    cheaper. The result is byte for byte what ``_encode_frame`` gives. With payloads it is
    a header line ending in ``"bytes":N}`` and then the N bytes of UTF-8 as they are, which
    needs no scan at all. None (use the general path) for text with lone surrogates, or
    when there is no head.
    """
    if head is None:
        return None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if _S.payloads:
        # The header line, then the UTF-8 as it is: nothing to escape.
        return b"".join((head, b"%d}\n" % len(data), data, b"\n"))
    for raw, escape in _JSON_ESCAPES:
        data = data.replace(raw, escape)
    return b"".join((head, data, b'"}\n'))


def _emit(frame):
    """Writes one frame to the host: one line, written whole under the frame lock."""
    if _S.in_child:
        return
    data = _encode_frame(frame)
    try:
        with _FRAME_LOCK:
            _send_bytes(data)
    finally:
        _after_critical()


def _send_bytes(data):
    view = memoryview(data)
    while view:
        try:
            written = os.write(_FRAME_FD, view)
        except InterruptedError:
            continue
        except OSError:
            _host_gone()
            return
        view = view[written:]


def _emit_for(ex, frame):
    """Emits a frame about ``ex`` unless its ``done`` has already gone out."""
    if ex.finished:
        _log("dropped a %s frame for finished execution %r" % (frame.get("type"), ex.id))
        return
    _emit(frame)


def _host_gone():
    """The host is gone: take our process group down if we lead it, then exit."""
    try:
        if _POSIX and os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    except OSError:
        pass
    os._exit(0)


# ---------------------------------------------------------------------------------------
# SIGINT: ignored while idle, KeyboardInterrupt while a cell runs. A SIGINT that lands
# while the main thread is writing a frame is deferred until the write is complete, so a
# frame is never cut in half.
# ---------------------------------------------------------------------------------------


def _sigint_handler(signum, frame):
    if _S.redelivering:
        raise KeyboardInterrupt
    f = frame
    while f is not None:
        if f.f_code in _CRITICAL_CODES:
            _S.deferred_sigint = True
            return
        f = f.f_back
    raise KeyboardInterrupt


def _after_critical():
    """Called as a critical function ends: delivers a SIGINT deferred meanwhile.

    Only the outermost critical function delivers it (an enclosing one would be cut
    short otherwise). ``raise_signal`` runs the handler at once, still inside the
    critical caller, so the handler is told not to defer it again.
    """
    if not _S.deferred_sigint or _thread.get_ident() != _S.main_ident:
        return
    f = sys._getframe(2)
    while f is not None:
        if f.f_code in _CRITICAL_CODES:
            return
        f = f.f_back
    _S.deferred_sigint = False
    _S.redelivering = True
    try:
        signal.raise_signal(signal.SIGINT)
    except (AttributeError, OSError, ValueError):
        pass
    finally:
        _S.redelivering = False


def _set_sigint(enabled):
    """Installs the handler (always: user code may have replaced it) or ignores SIGINT
    (unless it already is, as when a cell's error path and its end both turn it off)."""
    if _thread.get_ident() != _S.main_ident or not (enabled or _S.sigint_on):
        return
    _S.sigint_on = enabled
    try:
        signal.signal(signal.SIGINT, _sigint_handler if enabled else signal.SIG_IGN)
    except (OSError, ValueError):
        pass


def _interrupt_main():
    """The in-band ``interrupt`` request: the same effect as a SIGINT."""
    if _S.current is None:
        return
    if hasattr(signal, "pthread_kill"):
        try:
            signal.pthread_kill(_S.main_ident, signal.SIGINT)
            return
        except OSError:
            pass
    import _thread

    _thread.interrupt_main()


# ---------------------------------------------------------------------------------------
# Output: one ordered buffer for stdout and stderr, flushed into frames
# ---------------------------------------------------------------------------------------


class _Output:
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
        self.pending = _Event()
        self.python_pending = False
        self.streams = []  # every _Stream, for their live lists
        self.hot = None  # the _Stream whose hot path is on

    def write(self, stream, text):
        """A Python-level write off the hot path. The first one after a flush first
        takes in bytes already waiting in the fd pipes (``os.system`` output, say), so
        they keep their place before it; it then turns the hot path on."""
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        if not text:
            return 0
        if not self.python_pending and _FD_CAPTURES:
            _sync_fds()
        self.python_pending = True
        self.append(stream._stream, text, stream)
        return len(text)

    def append(self, stream, text, hot=None):
        try:
            ex = _S.current
            if ex is not None and ex.captures and ex.captures[-1].take(stream, text):
                return
            with self.lock:
                ex = _S.current
                if ex is None or ex.finished:
                    _log_text(text)
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
                if hot is not None and self.python_pending and not ex.captures:
                    hot._hot = hot._live
                    self.hot = hot
            if not self.pending.is_set():
                self.pending.set()
        finally:
            _after_critical()

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
            _after_critical()

    def seal(self):
        """Turns the hot path off, so the next write is looked at (a capture starts)."""
        with self.lock:
            self._seal_locked()

    def flush(self):
        try:
            with self.lock:
                self._flush_locked()
        finally:
            _after_critical()

    def _flush_locked(self):
        try:
            self._seal_locked()
            owner = self.owner
            segments = self.segments
            self.segments = []
            self.size = 0
            self.python_pending = False
            if owner is None or owner.finished:
                return
            heads = owner.heads
            for stream, chunks in segments:
                data = "".join(chunks)
                head = heads.get(stream, False)
                if head is False:
                    head = heads[stream] = _stream_head(stream, owner.id)
                for start in range(0, len(data), _MAX_FRAME_CHARS):
                    text = data[start : start + _MAX_FRAME_CHARS]
                    line = _stream_frame(head, text)
                    if line is None:
                        _emit({"type": stream, "id": owner.id, "data": text})
                    elif not _S.in_child:
                        with _FRAME_LOCK:
                            _send_bytes(line)
        finally:
            _after_critical()


_OUT = _Output()


class _Stream(io.TextIOBase):
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
        # The hot path: ``_hot`` is ``_live`` while _OUT allows it (see _Output).
        self._live = []
        self._hot = None
        _OUT.streams.append(self)

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
        return _OUT.write(self, text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        _OUT.flush()

    def close(self):
        # Closing the proxy would leave the kernel mute; flush instead.
        _OUT.flush()

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


class _FdCapture:
    """Turns bytes written to fd 1 or fd 2 into stream text of the running execution."""

    def __init__(self, fd, stream):
        self.fd = fd
        self.stream = stream
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
                _OUT.append(self.stream, text)
            chunks += 1
            if max_chunks is not None and chunks >= max_chunks:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return


def _drain_main():
    import select

    fds = [cap.fd for cap in _FD_CAPTURES]
    by_fd = {cap.fd: cap for cap in _FD_CAPTURES}
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


def _sync_fds(budget=0.0):
    """Moves everything already written to fds 1 and 2 into the output buffer.

    With a budget, keeps reading while data keeps coming, for at most that long, so a
    background writer cannot hold a cell open.
    """
    if not _FD_CAPTURES or _S.in_child:
        return
    if budget and "ctypes" in sys.modules:
        _libc_fflush()
    if not _fds_ready():
        # The common case, twice per cell: one poll() instead of failing reads.
        return
    deadline = time.monotonic() + budget
    for cap in _FD_CAPTURES:
        with cap.lock:
            cap.drain(deadline=deadline)


def _fds_ready():
    """Whether a capture pipe may hold bytes (True when that cannot be asked cheaply).

    ``select`` rather than a shared ``poll`` object: any thread may ask at any time, and
    a poll object refuses concurrent use.
    """
    try:
        import select

        return bool(select.select([cap.fd for cap in _FD_CAPTURES], (), (), 0)[0])
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


def _flush_output():
    """Makes every byte written so far go out before the next non-stream frame."""
    _sync_fds()
    _OUT.flush()


def _flusher_main():
    pending = _OUT.pending
    next_check = time.monotonic() + 1.0
    while True:
        if pending.wait(0.5):
            time.sleep(_FLUSH_DELAY)
            pending.clear()
            try:
                _OUT.flush()
            except Exception as exc:
                _log("flush failed: %r" % (exc,))
        now = time.monotonic()
        if now >= next_check:
            next_check = now + 1.0
            if _S.orig_ppid is not None and os.getppid() != _S.orig_ppid:
                _host_gone()


# ---------------------------------------------------------------------------------------
# Waiting for the host: input() and host_call()
# ---------------------------------------------------------------------------------------


class _Waiter:
    """A one-shot slot the reader thread fills with the host's answer."""

    def __init__(self):
        self.event = _Event()
        self.value = None
        self.failure = None

    def set(self, value):
        self.value = value
        self.event.set()

    def fail(self, exc):
        self.failure = exc
        self.event.set()

    def wait(self):
        # Short timeouts keep the wait interruptible everywhere.
        while not self.event.wait(0.25):
            pass
        if self.failure is not None:
            raise self.failure
        return self.value


def _request_input(prompt, password):
    ex = _S.current
    if ex is None or not ex.allow_stdin:
        raise StdinNotImplementedError(
            "raw_input was called, but this frontend does not support input requests."
        )
    waiter = _Waiter()
    entry = (ex.id, waiter)
    with _S.waits_lock:
        if _S.closing:
            raise EOFError("the host closed the request channel")
        _S.input_waits.append(entry)
    try:
        _flush_output()
        _emit_for(
            ex, {"type": "input_request", "id": ex.id, "prompt": prompt, "password": password}
        )
        return waiter.wait()
    finally:
        with _S.waits_lock:
            if entry in _S.input_waits:
                _S.input_waits.remove(entry)


def _input(prompt=""):
    """Reads a line from the host (``input_request``/``input_reply``)."""
    return _request_input(str(prompt), False)


def _getpass(prompt="Password: ", stream=None):
    """Reads a secret from the host without echo (``password: true``)."""
    return _request_input(str(prompt), True)


def host_call(name, args=None, /, **kwargs):
    """Calls the host function ``name`` and blocks until it answers.

    ``args`` is any JSON value; keyword arguments are merged into it as a dict. Returns
    the host's value, or raises ``HostCallError`` with the host's message.
    """
    if not isinstance(name, str):
        raise TypeError("host_call() name must be a str, not %s" % type(name).__name__)
    if kwargs:
        if args is None:
            args = {}
        elif not isinstance(args, dict):
            raise TypeError("host_call() takes a dict of arguments when keywords are given")
        args = dict(args)
        args.update(kwargs)
    ex = _S.current
    if ex is None:
        raise RuntimeError("host_call() needs a running execution")
    waiter = _Waiter()
    with _S.waits_lock:
        if _S.closing:
            raise HostCallError("the host closed the request channel")
        _S.call_seq += 1
        call_id = "c%d" % _S.call_seq
        _S.calls[call_id] = waiter
    try:
        _flush_output()
        _emit_for(
            ex, {"type": "call", "id": ex.id, "callId": call_id, "name": name, "args": args}
        )
        ok, payload = waiter.wait()
    finally:
        with _S.waits_lock:
            _S.calls.pop(call_id, None)
    if ok:
        return payload
    raise HostCallError(payload)


def _fail_waiters():
    with _S.waits_lock:
        _S.closing = True
        for _, waiter in _S.input_waits:
            waiter.fail(EOFError("the host closed the request channel"))
        for waiter in _S.calls.values():
            waiter.fail(HostCallError("the host closed the request channel"))


# ---------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------

_QUEUE = _queue.SimpleQueue()


def _enqueue(item):
    _QUEUE.put(item)
    waiter = _S.loop_waiter
    if waiter is not None:
        try:
            _S.loop.call_soon_threadsafe(_wake_loop, waiter)
        except RuntimeError:
            pass


def _wake_loop(waiter):
    if not waiter.done():
        waiter.set_result(None)


def _reader_main():
    pending = bytearray()
    while True:
        try:
            chunk = os.read(_REQ_FD, 1 << 16)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            if pending.strip():
                _handle_line(bytes(pending))
            _fail_waiters()
            _enqueue(("exit",))
            return
        start = len(pending)
        pending += chunk
        newline = pending.find(b"\n", start)
        while newline >= 0:
            line = bytes(pending[:newline])
            del pending[: newline + 1]
            try:
                stop = _handle_line(line)
            except Exception as exc:
                _log("failed to handle a request line: %r" % (exc,))
                stop = False
            if stop:
                _fail_waiters()
                return
            newline = pending.find(b"\n")


def _recover_id(line):
    """Finds the ``id`` of a request line that did not parse, if there is one."""
    import re

    text = line.decode("utf-8", "replace")
    match = re.search(r'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)', text)
    if match is None:
        return None
    try:
        value = _json_loads(match.group(1))
    except ValueError:
        return None
    return value if isinstance(value, str) else str(value)


def _preview(line):
    text = line[:120].decode("utf-8", "replace")
    return text + ("..." if len(line) > 120 else "")


def _handle_line(line):
    """Handles one request line; returns True when reading must stop (``exit``)."""
    line = line.strip()
    if not line:
        return False
    try:
        request = _json_loads(line)
    except ValueError as exc:
        rid = _recover_id(line)
        if rid is None:
            _log("ignored a request line that is not JSON (%s): %s" % (exc, _preview(line)))
        else:
            _enqueue(("bad", rid, "invalid JSON request: %s" % exc))
        return False
    if not isinstance(request, dict):
        _log("ignored a request that is not a JSON object: %s" % _preview(line))
        return False
    kind = request.get("type", "execute")
    if kind == "execute":
        _enqueue_execute(request, line)
    elif kind == "exit":
        _enqueue(("exit",))
        return True
    elif kind == "interrupt":
        _interrupt_main()
    elif kind == "input_reply":
        _deliver_input(request)
    elif kind == "reply":
        _deliver_reply(request)
    elif kind == "complete":
        _enqueue_complete(request)
    else:
        _log("ignored a request of unknown type %r" % (kind,))
    return False


def _enqueue_execute(request, line):
    rid = request.get("id")
    if isinstance(rid, (int, float)) and not isinstance(rid, bool):
        rid = str(rid)
    if not isinstance(rid, str):
        _log("ignored an execute request without a string id: %s" % _preview(line))
        return
    problem = None
    code = request.get("code", "")
    silent = request.get("silent", False)
    store = request.get("storeHistory")
    cwd = request.get("cwd")
    env = request.get("env")
    allow_stdin = request.get("allowStdin", False)
    if not isinstance(code, str):
        problem = "`code` must be a string"
    elif not isinstance(silent, bool):
        problem = "`silent` must be a boolean"
    elif store is not None and not isinstance(store, bool):
        problem = "`storeHistory` must be a boolean"
    elif cwd is not None and not isinstance(cwd, str):
        problem = "`cwd` must be a string"
    elif env is not None and not (
        isinstance(env, dict) and all(v is None or isinstance(v, str) for v in env.values())
    ):
        problem = "`env` must map names to strings or null"
    elif not isinstance(allow_stdin, bool):
        problem = "`allowStdin` must be a boolean"
    if problem is not None:
        _enqueue(("bad", rid, "invalid execute request: %s" % problem))
        return
    _enqueue(
        (
            "exec",
            {
                "id": rid,
                "code": code,
                "silent": silent,
                "store": (not silent) if store is None else store,
                "cwd": cwd,
                "env": env,
                "allow_stdin": allow_stdin,
            },
        )
    )


def _deliver_input(request):
    rid = request.get("id")
    value = request.get("value")
    # ``"eof": true``: the host's input ended; input() raises as at the end of a file.
    eof = request.get("eof") is True
    if not eof and not isinstance(value, str):
        _log("ignored an input_reply without a string value")
        return
    with _S.waits_lock:
        for entry in _S.input_waits:
            if entry[0] == rid:
                _S.input_waits.remove(entry)
                if eof:
                    entry[1].fail(EOFError("EOF when reading a line"))
                else:
                    entry[1].set(value)
                return
    _log("ignored an input_reply for %r: no input() is waiting" % (rid,))


def _deliver_reply(request):
    call_id = request.get("callId")
    with _S.waits_lock:
        waiter = _S.calls.pop(call_id, None) if isinstance(call_id, str) else None
    if waiter is None:
        _log("ignored a reply for unknown call %r" % (call_id,))
        return
    if request.get("ok") is True:
        waiter.set((True, request.get("value")))
    else:
        error = request.get("error")
        waiter.set((False, error if isinstance(error, str) else "host call failed"))


# ---------------------------------------------------------------------------------------
# The main loop
# ---------------------------------------------------------------------------------------


def _next_item():
    loop = _S.loop
    while True:
        try:
            return _QUEUE.get_nowait()
        except _queue.Empty:
            pass
        if loop is None or loop.is_closed() or not _loop_has_work(loop):
            if _S.cold and (_S.count or _S.silent_seq):
                try:
                    return _QUEUE.get(True, _WARM_AFTER_IDLE)
                except _queue.Empty:
                    _warm_up()
                    continue
            return _QUEUE.get()
        # Background tasks of earlier async cells keep running while the runner is idle.
        waiter = loop.create_future()
        _S.loop_waiter = waiter
        try:
            if _QUEUE.empty():
                loop.run_until_complete(waiter)
        except Exception as exc:
            _log("event loop failed while idle: %r" % (exc,))
        finally:
            _S.loop_waiter = None


def _warm_up():
    """Imports what the first error report needs while the runner is idle, one module
    at a time, stopping as soon as a request waits (the rest waits for the next idle
    spell). Nothing is imported when one of them would not come from the standard
    library: a file of the user's by that name runs only if their code asks for it."""
    cold = _S.cold
    if cold == list(_WARM_MODULES) and not _warmable(cold):
        del cold[:]
        return
    while cold and _QUEUE.empty():
        name = cold.pop(0)
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except BaseException as exc:
            _log("could not import %s ahead of time: %r" % (name, exc))


def _warmable(names):
    """Whether each module of ``names`` not yet imported would come from the standard
    library, found next to ``os``."""
    stdlib = os.path.dirname(getattr(os, "__file__", None) or "")
    try:
        from importlib.machinery import PathFinder

        for name in names:
            if name in sys.modules:
                continue
            spec = PathFinder.find_spec(name)
            origin = getattr(spec, "origin", None)
            if not stdlib or not origin or os.path.dirname(origin) != stdlib:
                _log(
                    "not importing %s ahead of time: %s is not the standard library's"
                    % (", ".join(names), origin or name)
                )
                return False
    except Exception as exc:
        _log("not importing ahead of time: %r" % (exc,))
        return False
    return True


def _loop_has_work(loop):
    import asyncio

    try:
        return bool(asyncio.all_tasks(loop)) or bool(getattr(loop, "_scheduled", None))
    except RuntimeError:
        return False


def _main_loop():
    while True:
        try:
            item = _next_item()
        except KeyboardInterrupt:
            continue
        kind = item[0]
        if kind == "exit":
            return
        try:
            if kind == "exec":
                _run_request(item[1])
            elif kind == "bad":
                _answer_bad_request(item[1], item[2])
        except KeyboardInterrupt:
            pass
        except BaseException as exc:
            _log("internal error: %r" % (exc,))


def _answer_bad_request(rid, message):
    _emit({"type": "started", "id": rid})
    _emit(
        {
            "type": "error",
            "id": rid,
            "ename": "ProtocolError",
            "evalue": message,
            "traceback": ["ProtocolError: %s" % message],
        }
    )
    _emit(
        {"type": "done", "id": rid, "status": "error", "executionCount": _S.count, "cancelled": False}
    )


def _run_request(spec):
    if spec["store"]:
        _S.count += 1
        number = _S.count
        filename = "<cell-%d>" % number
    else:
        _S.silent_seq += 1
        number = None
        filename = "<silent-%d>" % _S.silent_seq
    ex = _Exec(spec["id"], spec["silent"], spec["store"], spec["allow_stdin"], filename, number)
    _S.deferred_sigint = False
    _emit({"type": "started", "id": ex.id})
    _S.current = ex
    status = "ok"
    cancelled = False
    try:
        try:
            _apply_runtime(spec)
            _check_patches()
            if ex.store:
                _record_input(spec["code"], number)
            _run_cell(ex, spec["code"])
        except BaseException as exc:
            _set_sigint(False)
            status = "error"
            cancelled = isinstance(exc, KeyboardInterrupt)
            _flush_figures_quietly(ex)
            _report_error(ex, exc)
    except BaseException as exc:
        status = "error"
        _log("failed to report an error: %r" % (exc,))
    finally:
        _set_sigint(False)
        _finish(ex, status, cancelled)


def _finish(ex, status, cancelled):
    try:
        _sync_fds(_FD_SYNC_BUDGET)
    except Exception as exc:
        _log("fd sync failed: %r" % (exc,))
    try:
        with _OUT.lock:
            _OUT._flush_locked()
            ex.finished = True
            _S.current = None
    finally:
        _after_critical()
    _emit(
        {
            "type": "done",
            "id": ex.id,
            "status": status,
            "executionCount": _S.count,
            "cancelled": cancelled,
        }
    )


def _apply_runtime(spec):
    env = spec.get("env")
    if env:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    cwd = spec.get("cwd")
    if cwd:
        os.chdir(cwd)
        resolved = os.getcwd()
        sys.path[:] = [p for p in sys.path if p != resolved]
        sys.path.insert(0, resolved)


def _record_input(code, number):
    ns = _USER_NS
    inputs = _S.inputs
    while len(inputs) < number:
        inputs.append("")
    inputs.append(code)
    previous = _S.last_inputs
    _S.last_inputs = [code, previous[0], previous[1]]
    ns["_i"] = previous[0]
    ns["_ii"] = previous[1]
    ns["_iii"] = previous[2]
    ns["_i%d" % number] = code
    ns["In"] = inputs
    ns["_ih"] = inputs


# ---------------------------------------------------------------------------------------
# Compiling and running cells
# ---------------------------------------------------------------------------------------


def _register_source(filename, source):
    _S.sources[filename] = source
    _S.last_source = filename
    linecache = sys.modules.get("linecache")
    if linecache is not None:
        _linecache_add(linecache, filename, source)


def _linecache_add(linecache, filename, source):
    lines = source.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[filename] = (len(source), None, lines, filename)


def _sync_linecache():
    import linecache

    for filename, source in _S.sources.items():
        if filename not in linecache.cache:
            _linecache_add(linecache, filename, source)
    return linecache


def _parse(source, filename):
    """Parses cell source into an AST, remembering ``from __future__`` imports."""
    tree = compile(
        source,
        filename,
        "exec",
        _PYCF_ONLY_AST | _PYCF_ALLOW_TOP_LEVEL_AWAIT | _S.future_flags,
        dont_inherit=True,
    )
    import _ast

    for node in tree.body:
        if isinstance(node, _ast.ImportFrom) and node.module == "__future__":
            import __future__

            for alias in node.names:
                feature = getattr(__future__, alias.name, None)
                if feature is not None:
                    _S.future_flags |= feature.compiler_flag
    return tree


def _compile_parts(tree, filename):
    """Splits a module into its statements and its final expression, compiled."""
    import _ast

    flags = _PYCF_ALLOW_TOP_LEVEL_AWAIT | _S.future_flags
    expr_code = None
    body = tree.body
    if body and isinstance(body[-1], _ast.Expr):
        last = body.pop()
        expr_code = compile(
            _ast.Expression(body=last.value), filename, "eval", flags, dont_inherit=True
        )
    body_code = compile(tree, filename, "exec", flags, dont_inherit=True) if body else None
    return body_code, expr_code


def _is_async(code):
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


def _execute(body, expr, ns):
    """Runs compiled parts in ``ns``; returns the final expression's value (or None)."""
    if _is_async(body) or _is_async(expr):
        return _run_async(_async_body(body, expr, ns))
    if body is not None:
        exec(body, ns)
    if expr is not None:
        return eval(expr, ns)
    return None


async def _async_body(body, expr, ns):
    if body is not None:
        result = eval(body, ns)
        if _is_async(body):
            await result
    if expr is None:
        return None
    value = eval(expr, ns)
    if _is_async(expr):
        value = await value
    return value


def _get_loop():
    loop = _S.loop
    if loop is None or loop.is_closed():
        import asyncio

        loop = asyncio.new_event_loop()
        _S.loop = loop
        asyncio.set_event_loop(loop)
    return loop


def _run_async(coro):
    loop = _get_loop()
    if loop.is_running():
        coro.close()
        raise RuntimeError("top-level await cannot run inside an already running event loop")
    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            # Interrupted while suspended: cancel the cell and let it unwind.
            import asyncio

            task.cancel()
            try:
                loop.run_until_complete(asyncio.wait([task], timeout=2.0))
            except BaseException:
                pass
        if task.done() and not task.cancelled():
            task.exception()  # mark it retrieved so asyncio does not log it later
        raise


def _run_cell(ex, code):
    _register_source(ex.filename, code)
    source = _transform_cell(code)
    tree = _parse(source, ex.filename)
    body, expr = _compile_parts(tree, ex.filename)
    _set_sigint(True)
    value = _execute(body, expr, _USER_NS)
    if expr is not None and not ex.silent and value is not None and not _quiet(source):
        _display_result(ex, value)
    _flush_figures(ex)
    _set_sigint(False)


def _run_source(source, filename, line_offset=0, ns=None):
    """Runs source (magics allowed) and returns its final expression's value."""
    if ns is None:
        ns = _USER_NS
    transformed = _transform_cell(source)
    tree = _parse("\n" * line_offset + transformed, filename)
    body, expr = _compile_parts(tree, filename)
    value = _execute(body, expr, ns)
    return None if _quiet(transformed) else value


def _quiet(source):
    """Whether the cell's last line ends with ``;`` (outside comments and strings)."""
    tail = source.rstrip()
    if ";" not in tail[tail.rfind("\n") + 1 :]:
        return False
    import tokenize

    last = None
    skip = (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER)
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in skip and token.type not in (tokenize.INDENT, tokenize.DEDENT):
                last = token
    except (tokenize.TokenError, SyntaxError):
        return False
    return last is not None and last.type == tokenize.OP and last.string == ";"


def _display_result(ex, value):
    bundle = _format(value)
    if ex.store:
        ns = _USER_NS
        last = _S.last_results
        if ns.get("_", last[0]) is last[0]:
            ns["_"] = value
        ns["__"] = last[0]
        ns["___"] = last[1]
        _S.last_results = [value, last[0], last[1]]
        _S.out_history[ex.number] = value
        ns["_%d" % ex.number] = value
    _publish("result", bundle)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def _report_error(ex, exc):
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
    if sys.version_info >= (3, 12):
        sys.last_exc = exc
    try:
        evalue = str(exc)
    except Exception:
        evalue = "<exception str() failed>"
    if isinstance(exc, UsageError):
        lines = ["UsageError: %s" % evalue]
    else:
        lines = _format_traceback(exc)
    _publish(
        "error",
        {"ename": type(exc).__name__, "evalue": evalue, "traceback": lines},
    )


def _format_traceback(exc):
    _sync_linecache()
    import traceback

    try:
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        _trim_frames(te, set())
        return [chunk.rstrip("\n") for chunk in te.format()]
    except Exception:
        return ["%s: %s" % (type(exc).__name__, exc)]


def _is_cell_file(filename):
    return filename.startswith("<") or filename in _S.sources


def _trim_frames(te, seen):
    """Drops runner frames, and everything before the user's first frame."""
    if id(te) in seen:
        return
    seen.add(id(te))
    import traceback

    frames = [f for f in te.stack if f.filename != _RUNNER_FILE]
    for index, frame in enumerate(frames):
        if _is_cell_file(frame.filename):
            frames = frames[index:]
            break
    else:
        frames = []
    te.stack = traceback.StackSummary.from_list(frames)
    for nested in (te.__cause__, te.__context__):
        if nested is not None:
            _trim_frames(nested, seen)
    for nested in getattr(te, "exceptions", None) or ():
        _trim_frames(nested, seen)


# ---------------------------------------------------------------------------------------
# Rich display
# ---------------------------------------------------------------------------------------

_REPR_METHODS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_json_", "application/json"),
    ("_repr_latex_", "text/latex"),
)
_BINARY_MIMES = ("image/png", "image/jpeg", "image/gif", "application/pdf")


def _real_method(obj, name):
    """The bound ``_repr_*_`` method of ``obj``, skipping classes and catch-all objects."""
    if isinstance(obj, type):
        return None
    try:
        if getattr(obj, "_pykernel_probe_attribute_that_does_not_exist_", None) is not None:
            return None
        method = getattr(obj, name, None)
    except Exception:
        return None
    return method if callable(method) else None


def _b64(data):
    import base64

    return base64.b64encode(bytes(data)).decode("ascii")


def _normalize(mime, value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        if mime in _BINARY_MIMES:
            return _b64(value)
        return bytes(value).decode("utf-8", "replace")
    return value


def _safe_repr(obj):
    try:
        return repr(obj)
    except Exception as exc:
        return "<%s object (repr failed: %s)>" % (type(obj).__name__, type(exc).__name__)


def _format(obj, include=None, exclude=None):
    """Builds the MIME bundle of ``obj``; ``text/plain`` is always present."""
    data = {}
    modules = sys.modules
    figure_mod = modules.get("matplotlib.figure")
    pil_mod = modules.get("PIL.Image")
    if figure_mod is not None and isinstance(obj, getattr(figure_mod, "Figure", ())):
        png = _figure_png(obj)
        if png is not None:
            data["image/png"] = png
    elif pil_mod is not None and isinstance(obj, getattr(pil_mod, "Image", ())):
        png = _pil_png(obj)
        if png is not None:
            data["image/png"] = png
    else:
        method = _real_method(obj, "_repr_mimebundle_")
        if method is not None:
            result = None
            try:
                result = method(include=include, exclude=exclude)
            except TypeError:
                try:
                    result = method()
                except Exception:
                    result = None
            except Exception:
                result = None
            if isinstance(result, tuple):
                result = result[0] if result else None
            if isinstance(result, dict):
                for mime, value in result.items():
                    if isinstance(mime, str):
                        data[mime] = _normalize(mime, value)
        for name, mime in _REPR_METHODS:
            if mime in data:
                continue
            method = _real_method(obj, name)
            if method is None:
                continue
            try:
                value = method()
            except Exception:
                continue
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
                value = value[0]
            if value is None:
                continue
            data[mime] = _normalize(mime, value)
    if "text/plain" not in data:
        data["text/plain"] = _safe_repr(obj)
    if include:
        data = {k: v for k, v in data.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data


def _figure_png(fig):
    ex = _S.current
    if ex is not None and not any(f is fig for f in ex.shown_figs):
        ex.shown_figs.append(fig)
    if not (fig.axes or getattr(fig, "lines", None) or getattr(fig, "images", None)):
        if not (getattr(fig, "texts", None) or getattr(fig, "patches", None)):
            return None
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return _b64(buf.getvalue())
    except Exception as exc:
        _log("could not render a figure: %r" % (exc,))
        return None


def _pil_png(image):
    try:
        buf = io.BytesIO()
        try:
            image.save(buf, format="PNG")
        except (OSError, ValueError):
            buf = io.BytesIO()
            image.convert("RGBA").save(buf, format="PNG")
        return _b64(buf.getvalue())
    except Exception as exc:
        _log("could not render an image: %r" % (exc,))
        return None


def _publish(kind, payload):
    """Sends a display/result bundle or an error for the running execution.

    Stream output written before it goes out first, so order is kept. Inside
    ``%%capture`` displays go to the capture instead.
    """
    ex = _S.current
    if ex is None:
        _log("dropped a %s outside of an execution" % kind)
        return
    if kind != "error" and ex.captures and ex.captures[-1].take_display(payload):
        return
    _flush_output()
    frame = {"type": kind, "id": ex.id}
    if kind == "error":
        frame.update(payload)
    else:
        frame["bundle"] = payload
    _emit_for(ex, frame)


def display(*objs, raw=False, include=None, exclude=None, **kwargs):
    """Shows objects as rich output (a ``display`` frame per object).

    With ``raw=True`` each object must already be a MIME bundle dict. Objects render
    through ``_repr_mimebundle_`` and the ``_repr_*_`` methods; ``text/plain`` is
    always included. Extra IPython keywords (``metadata``, ``display_id`` ...) are
    accepted and ignored.
    """
    for obj in objs:
        if raw:
            if not isinstance(obj, dict):
                raise TypeError("display(..., raw=True) requires a MIME bundle dict")
            bundle = {str(k): _normalize(str(k), v) for k, v in obj.items()}
        else:
            bundle = _format(obj, include, exclude)
        _publish("display", bundle)


def _status(op, **fields):
    """Emits a status event bundle (``application/x-pykernel-status``)."""
    event = {"op": op}
    event.update(fields)
    _publish("display", {"application/x-pykernel-status": event, "text/plain": ""})


# ---------------------------------------------------------------------------------------
# Matplotlib and other post-import patches
# ---------------------------------------------------------------------------------------


def _flush_figures(ex):
    """Emits each open pyplot figure not yet shown in this cell, then closes them all."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    if pyplot is None or helpers is None:
        return
    try:
        managers = helpers.Gcf.get_all_fig_managers()
    except Exception:
        return
    if not managers:
        return
    for manager in managers:
        try:
            fig = manager.canvas.figure
        except Exception:
            continue
        if any(f is fig for f in ex.shown_figs):
            continue
        bundle = _format(fig)
        if "image/png" in bundle:
            _publish("display", bundle)
    try:
        pyplot.close("all")
    except Exception:
        pass


def _flush_figures_quietly(ex):
    try:
        _flush_figures(ex)
    except BaseException as exc:
        _log("could not flush figures: %r" % (exc,))


def _pyplot_show(*args, **kwargs):
    """``plt.show()`` in the kernel: display every open figure now, then close them."""
    ex = _S.current
    if ex is None:
        return
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    if helpers is None:
        return
    for manager in helpers.Gcf.get_all_fig_managers():
        fig = manager.canvas.figure
        if not any(f is fig for f in ex.shown_figs):
            bundle = _format(fig)
            if "image/png" in bundle:
                _publish("display", bundle)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


def _check_patches(just_loaded=None):
    modules = sys.modules
    if not _S.pyplot_patched and "matplotlib.pyplot" in modules:
        _S.pyplot_patched = True
        modules["matplotlib.pyplot"].show = _pyplot_show
    if not _S.getpass_patched and "getpass" in modules:
        _S.getpass_patched = True
        modules["getpass"].getpass = _getpass
    asyncio = modules.get("asyncio")
    if (
        asyncio is not None
        and _thread.get_ident() == _S.main_ident
        and (
            asyncio is just_loaded
            or not getattr(getattr(asyncio, "__spec__", None), "_initializing", False)
        )
    ):
        # Sync cells see the kernel's loop too (asyncio.run() may have unset it).
        try:
            asyncio.set_event_loop(_get_loop())
        except Exception as exc:
            _log("could not set the event loop: %r" % (exc,))
    linecache = modules.get("linecache")
    # Cell sources go into linecache as they register; all of them are added again
    # only when it has lost them (linecache.clearcache(), or linecache imported since),
    # which the latest one shows, so a cell does not cost O(cells) here.
    if linecache is not None and _S.last_source not in linecache.cache:
        for filename, source in _S.sources.items():
            if filename not in linecache.cache:
                _linecache_add(linecache, filename, source)


_PATCHED_MODULES = ("matplotlib.pyplot", "getpass", "linecache", "asyncio")


class _PostImportFinder:
    """Patches ``matplotlib.pyplot`` and ``getpass`` right after they are imported."""

    def __init__(self):
        self._busy = set()

    def find_spec(self, name, path=None, target=None):
        if name not in _PATCHED_MODULES or name in self._busy:
            return None
        self._busy.add(name)
        try:
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(name, path)
        except Exception:
            spec = None
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _PatchingLoader(spec.loader)
        return spec


class _PatchingLoader:
    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            _check_patches(module)
        except Exception as exc:
            _log("post-import patch failed: %r" % (exc,))


# ---------------------------------------------------------------------------------------
# Magics: the cell transform
# ---------------------------------------------------------------------------------------

_RE = {}


def _re(name, pattern, flags=0):
    compiled = _RE.get(name)
    if compiled is None:
        import re

        compiled = _RE[name] = re.compile(pattern, flags)
    return compiled


def _assign_re():
    return _re(
        "assign",
        r"^([A-Za-z_][\w.]*(?:\[[^\]]*\])*(?:\s*,\s*[A-Za-z_][\w.]*(?:\[[^\]]*\])*)*)"
        r"\s*=\s*([!%])(.*)$",
        16,  # re.DOTALL
    )


class _ScanState:
    __slots__ = ("depth", "quote", "cont")

    def __init__(self):
        self.depth = 0
        self.quote = None
        self.cont = False

    def at_statement_start(self):
        return self.depth == 0 and self.quote is None and not self.cont


def _scan_line(line, st):
    """Advances the bracket/string state over one line of Python source."""
    tokens = _re("tokens", r"'''|\"\"\"|'|\"|#|[(\[{]|[)\]}]|\\$")
    st.cont = False
    pos = 0
    while True:
        if st.quote is not None:
            quote = st.quote
            end = _re("end" + quote, r"\\(?:.|$)|" + quote.replace('"', '\\"'))
            while True:
                match = end.search(line, pos)
                if match is None:
                    if len(quote) == 1 and not line.endswith("\\"):
                        st.quote = None  # an unterminated short string ends at the newline
                    return
                pos = match.end()
                if match.group()[0] != "\\":
                    st.quote = None
                    break
            continue
        match = tokens.search(line, pos)
        if match is None:
            return
        token = match.group()
        pos = match.end()
        if token == "#":
            return
        if token == "\\":
            st.cont = True
            return
        if token in ("(", "[", "{"):
            st.depth += 1
        elif token in (")", "]", "}"):
            st.depth = max(0, st.depth - 1)
        else:
            st.quote = token


def _split_magic(text):
    text = text.strip()
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], (parts[1] if len(parts) > 1 else "")


def _transform_cell(code):
    """Rewrites magics and shell escapes into calls on ``__pykernel__``.

    Only lines that start a statement are rewritten (never lines inside a string or
    open brackets), and a cell magic only on the cell's first non-blank line. Line
    numbers are preserved so tracebacks point at the user's lines.
    """
    if "%" not in code and "!" not in code:
        return code
    if not _may_have_magics(code):
        return code
    lines = code.replace("\r\n", "\n").split("\n")
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first < len(lines) and lines[first].lstrip().startswith("%%"):
        name, args = _split_magic(lines[first].strip()[2:])
        body = "\n".join(lines[first + 1 :])
        return "\n" * first + "__pykernel__.cell_magic(%r, %r, %r, %d)\n" % (
            name,
            args,
            body,
            first + 1,
        )
    out = []
    st = _ScanState()
    index = 0
    count = len(lines)
    assign = _assign_re()
    while index < count:
        line = lines[index]
        if st.at_statement_start():
            stripped = line.lstrip()
            if stripped.startswith(("%", "!")) or assign.match(stripped):
                indent = line[: len(line) - len(stripped)]
                text = stripped.rstrip()
                last = index
                while text.endswith("\\") and last + 1 < count:
                    last += 1
                    text = text[:-1].rstrip() + " " + lines[last].strip()
                rewritten = _rewrite_line(text)
                if rewritten is not None:
                    out.append(indent + rewritten)
                    out.extend([""] * (last - index))
                    index = last + 1
                    continue
        _scan_line(line, st)
        out.append(line)
        index += 1
    return "\n".join(out)


def _may_have_magics(code):
    """A cheap pre-check (no regex): does any line start with ``%``/``!``, or have
    ``%``/``!`` right after an ``=``?"""
    for line in code.split("\n"):
        stripped = line.lstrip(" \t")
        if stripped[:1] in ("%", "!"):
            return True
        equals = stripped.find("=")
        while equals >= 0:
            if stripped[equals + 1 :].lstrip(" \t")[:1] in ("%", "!"):
                return True
            equals = stripped.find("=", equals + 1)
    return False


def _rewrite_line(text):
    match = _assign_re().match(text)
    if match is not None:
        target, kind, rest = match.group(1), match.group(2), match.group(3)
        if kind == "!":
            return "%s = __pykernel__.getoutput(%r)" % (target, rest.strip())
        if rest.startswith("%"):
            return None
        name, args = _split_magic(rest)
        return "%s = __pykernel__.line_magic(%r, %r)" % (target, name, args)
    if text.startswith("!!"):
        return "__pykernel__.getoutput(%r)" % text[2:].strip()
    if text.startswith("!"):
        return "__pykernel__.system(%r)" % text[1:].strip()
    if text.startswith("%"):
        body = text[1:]
        suffix = ""
        if body.endswith(";"):
            body = body[:-1]
            suffix = ";"
        name, args = _split_magic(body)
        return "__pykernel__.line_magic(%r, %r)%s" % (name, args, suffix)
    return None


def _caller_ns(depth):
    """The namespace magics expand ``$name``/``{expr}`` in: the calling frame's."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return _USER_NS
    if frame.f_locals is frame.f_globals:
        return frame.f_globals
    ns = dict(frame.f_globals)
    ns.update(frame.f_locals)
    return ns


def _expand(text, ns):
    """IPython-style expansion: ``$name`` and ``{expr}``; ``$$``, ``{{``, ``}}`` escape.

    Anything that does not resolve is left as written, so shell syntax such as
    ``$HOME`` or ``awk '{print $1}'`` passes through.
    """
    if "$" not in text and "{" not in text and "}" not in text:
        return text
    name_re = _re("name", r"[A-Za-z_]\w*")
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "$":
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            match = name_re.match(text, i + 1)
            if match is not None and match.group() in ns:
                out.append(str(ns[match.group()]))
                i = match.end()
                continue
            out.append(c)
            i += 1
        elif c == "{":
            if nxt == "{":
                out.append("{")
                i += 2
                continue
            close = text.find("}", i + 1)
            if close < 0:
                out.append(text[i:])
                break
            expr = text[i + 1 : close]
            try:
                out.append(str(eval(expr, ns)))
            except Exception:
                out.append(text[i : close + 1])
            i = close + 1
        elif c == "}" and nxt == "}":
            out.append("}")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------
# Shell helpers
# ---------------------------------------------------------------------------------------


class SList(list):
    """Lines captured by ``x = !cmd``: a list with ``.n``, ``.s``, ``.returncode``."""

    returncode = None

    @property
    def n(self):
        """The lines joined by newlines."""
        return "\n".join(self)

    @property
    def s(self):
        """The lines joined by spaces."""
        return " ".join(self)

    @property
    def l(self):  # noqa: E743 - IPython's name
        """The lines as a list (the object itself)."""
        return self

    def grep(self, pattern, prune=False):
        """The lines matching the regex ``pattern`` (or not matching, with ``prune``)."""
        import re

        regex = re.compile(pattern)
        kept = SList(line for line in self if bool(regex.search(line)) != prune)
        kept.returncode = self.returncode
        return kept


class _Limiter:
    """Bounds shell output to 1 MiB and 3000 lines, then discards the rest."""

    def __init__(self):
        self.bytes = 0
        self.lines = 0
        self.cut = False

    def admit(self, data):
        """Returns the part of ``data`` to keep, and whether the limit was just hit."""
        room = _SHELL_MAX_BYTES - self.bytes
        if room <= 0 or self.lines >= _SHELL_MAX_LINES:
            self.cut = True
            return b"", True
        chunk = data[:room]
        cut = len(data) > room
        newlines = chunk.count(b"\n")
        if self.lines + newlines >= _SHELL_MAX_LINES:
            need = _SHELL_MAX_LINES - self.lines
            pos = -1
            for _ in range(need):
                pos = chunk.find(b"\n", pos + 1)
            end = pos + 1
            if end < len(chunk):
                cut = True
            chunk = chunk[:end]
            newlines = need
        self.bytes += len(chunk)
        self.lines += newlines
        if cut:
            self.cut = True
        return chunk, cut


def _run_streaming(argv, shell=False, merge=True, capture=None):
    """Runs a child with stdin at /dev/null and streams its output, bounded.

    Output goes to ``sys.stdout``/``sys.stderr`` as it arrives, or into the list
    ``capture`` (the truncation notice still goes to stdout). Returns the exit code.
    On KeyboardInterrupt the child gets SIGINT, then SIGKILL, and the interrupt
    propagates.
    """
    import subprocess

    proc = subprocess.Popen(
        argv,
        shell=shell,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
        close_fds=True,
    )
    pipes = {proc.stdout.fileno(): ("stdout", proc.stdout)}
    if not merge:
        pipes[proc.stderr.fileno()] = ("stderr", proc.stderr)
    limiter = _Limiter()
    decoders = {}
    at_line_start = {"stdout": True, "stderr": True}

    def sink(stream, text):
        if not text:
            return
        at_line_start[stream] = text.endswith("\n")
        if capture is not None:
            capture.append(text)
        elif stream == "stdout":
            sys.stdout.write(text)
        else:
            sys.stderr.write(text)

    def feed(stream, data):
        if limiter.cut:
            return
        kept, cut = limiter.admit(data)
        decoder = decoders.get(stream)
        if decoder is None:
            decoder = decoders[stream] = codecs.getincrementaldecoder("utf-8")("replace")
        sink(stream, decoder.decode(kept, final=cut))
        if cut:
            newline = "" if (capture is not None or at_line_start[stream]) else "\n"
            sys.stdout.write(newline + _SHELL_NOTICE + "\n")

    try:
        if _POSIX:
            _pump_select(proc, pipes, feed)
        else:
            _pump_threads(proc, pipes, feed)
        code = proc.wait()
    except KeyboardInterrupt:
        _stop_child(proc)
        raise
    finally:
        for _, pipe in pipes.values():
            try:
                pipe.close()
            except OSError:
                pass
    for stream, decoder in decoders.items():
        if not limiter.cut:
            sink(stream, decoder.decode(b"", final=True))
    return code


def _pump_select(proc, pipes, feed):
    import select

    open_fds = list(pipes)
    exited_at = None
    while open_fds:
        ready = select.select(open_fds, [], [], 0.1)[0]
        if not ready:
            if proc.poll() is None:
                continue
            # The child is gone but something it started still holds the pipe: give it
            # a moment, then stop reading so `!cmd &` cannot hang the cell.
            now = time.monotonic()
            if exited_at is None:
                exited_at = now
                continue
            break
        for fd in ready:
            data = os.read(fd, 65536)
            if not data:
                open_fds.remove(fd)
                continue
            feed(pipes[fd][0], data)
        if exited_at is not None and time.monotonic() - exited_at > 1.0:
            break


def _pump_threads(proc, pipes, feed):
    chunks = _queue.SimpleQueue()

    def pump(stream, pipe):
        while True:
            data = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
            if not data:
                chunks.put((stream, None))
                return
            chunks.put((stream, data))

    for stream, pipe in pipes.values():
        _thread.start_new_thread(pump, (stream, pipe))
    remaining = len(pipes)
    while remaining:
        try:
            stream, data = chunks.get(timeout=0.1)
        except _queue.Empty:
            continue
        if data is None:
            remaining -= 1
        else:
            feed(stream, data)


def _stop_child(proc):
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=0.5)
            except Exception:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    except BaseException:
        try:
            proc.kill()
        except OSError:
            pass


def _system(cmd):
    """``!cmd``: runs through the shell, streaming merged output; sets ``_exit_code``."""
    _shell(_expand(cmd, _caller_ns(1)))
    return None


def _shell(cmd):
    code = _run_streaming(cmd, shell=True)
    _USER_NS["_exit_code"] = code
    return code


def _getoutput(cmd):
    """``x = !cmd``: runs through the shell and returns its output lines as an SList."""
    cmd = _expand(cmd, _caller_ns(1))
    captured = []
    code = _run_streaming(cmd, shell=True, capture=captured)
    lines = SList("".join(captured).splitlines())
    lines.returncode = code
    _USER_NS["_exit_code"] = code
    return lines


# ---------------------------------------------------------------------------------------
# Magics: implementations
# ---------------------------------------------------------------------------------------


def _format_duration(seconds):
    """Formats a duration the way IPython's timing magics do."""
    if seconds >= 60.0:
        parts = []
        left = seconds
        for suffix, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            value = int(left // length)
            if value > 0:
                left -= value * length
                parts.append("%d%s" % (value, suffix))
            if left < 1:
                break
        return " ".join(parts)
    units = ("s", "ms", "\u00b5s", "ns")
    if seconds > 0.0:
        import math

        order = min(-int(math.floor(math.log10(seconds)) // 3), 3)
    else:
        order = 3
    order = max(order, 0)
    return "%.3g %s" % (seconds * 1000**order, units[order])


def _magic_cd(args):
    target = args.strip()
    quiet = False
    if target.startswith("-q"):
        quiet = True
        target = target[2:].strip()
    if target == "-":
        if _S.oldpwd is None:
            raise UsageError("%cd -: no previous directory")
        target = _S.oldpwd
    elif not target:
        target = "~"
    if len(target) >= 2 and target[0] == target[-1] and target[0] in "'\"":
        target = target[1:-1]
    previous = os.getcwd()
    try:
        os.chdir(os.path.expanduser(target))
    except OSError as exc:
        print(exc, file=sys.stderr)
        return None
    _S.oldpwd = previous
    if not quiet:
        print(os.getcwd())
    return None


def _magic_pwd(args):
    return os.getcwd()


def _magic_ls(args):
    _shell("ls " + args if args.strip() else "ls")
    return None


_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASS", "CREDENTIAL", "AUTH")


def _magic_env(args):
    args = args.strip()
    if not args:
        env = {}
        for key in sorted(os.environ):
            upper = key.upper()
            env[key] = "<hidden>" if any(w in upper for w in _SECRET_WORDS) else os.environ[key]
        return env
    if "=" in args or len(args.split(None, 1)) == 2:
        return _magic_set_env(args)
    try:
        return os.environ[args]
    except KeyError:
        raise UsageError("Environment does not have key: %s" % args) from None


def _magic_set_env(args):
    args = args.strip()
    first_word = args.split(None, 1)[0] if args else ""
    if "=" in first_word:
        key, _, value = args.partition("=")
    else:
        parts = args.split(None, 1)
        if len(parts) != 2:
            raise UsageError("usage: %set_env VAR VALUE (or VAR=VALUE)")
        key, value = parts
    key = key.strip()
    value = value.strip()
    if not key:
        raise UsageError("usage: %set_env VAR VALUE (or VAR=VALUE)")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    os.environ[key] = value
    print("env: %s=%s" % (key, value))
    return None


def _magic_pip(args):
    import shlex

    argv = [sys.executable, "-m", "pip"] + (shlex.split(args) if args.strip() else ["--help"])
    _run_streaming(argv)
    import importlib

    importlib.invalidate_caches()
    if argv[3:4] and argv[3] in ("install", "uninstall"):
        print("Note: you may need to restart the kernel to use updated packages.")
    return None


def _parse_timing_options(args, flags, valued):
    """Splits leading ``-x``/``-x N`` options off a timing magic's arguments."""
    options = {}
    rest = args.strip()
    while rest.startswith("-"):
        head, _, tail = rest.partition(" ")
        letter = head[1:2]
        if letter in valued:
            value = head[2:]
            if not value:
                value, _, tail = tail.strip().partition(" ")
            try:
                options[letter] = int(value)
            except ValueError:
                raise UsageError("option -%s needs an integer, got %r" % (letter, value)) from None
        elif letter in flags and len(head) == 2:
            options[letter] = True
        else:
            break
        rest = tail.strip()
    return options, rest


def _time_block(source, filename, line_offset=0):
    before = os.times()
    start = time.perf_counter()
    try:
        value = _run_source(source, filename, line_offset)
    finally:
        wall = time.perf_counter() - start
        after = os.times()
        user = after[0] - before[0]
        system = after[1] - before[1]
        print(
            "CPU times: user %s, sys: %s, total: %s"
            % (_format_duration(user), _format_duration(system), _format_duration(user + system))
        )
        print("Wall time: %s" % _format_duration(wall))
    return value


def _magic_time(args):
    if not args.strip():
        raise UsageError("usage: %time statement-or-expression")
    _register_source("<timed exec>", args)
    return _time_block(args, "<timed exec>")


class TimeitResult:
    """What ``%timeit -o`` returns: per-loop timings of every run."""

    def __init__(self, loops, repeat, timings):
        self.loops = loops
        self.repeat = repeat
        self.timings = timings
        self.all_runs = [t * loops for t in timings]
        self.best = min(timings)
        self.worst = max(timings)
        self.average = sum(timings) / len(timings)
        mean = self.average
        self.stdev = (sum((t - mean) ** 2 for t in timings) / len(timings)) ** 0.5

    def __repr__(self):
        return "%s \u00b1 %s per loop (mean \u00b1 std. dev. of %d run%s, %s loop%s each)" % (
            _format_duration(self.average),
            _format_duration(self.stdev),
            self.repeat,
            "" if self.repeat == 1 else "s",
            "{:,}".format(self.loops),
            "" if self.loops == 1 else "s",
        )


def _timeit(stmt, setup, args_options):
    import timeit

    options = args_options
    timer = timeit.Timer(stmt, setup, timer=time.perf_counter, globals=_USER_NS)
    repeat = options.get("r", 7)
    if repeat < 1:
        raise UsageError("-r must be at least 1")
    loops = options.get("n")
    if loops is None:
        loops = 1
        while True:
            if timer.timeit(loops) >= 0.2 or loops >= 10**9:
                break
            loops *= 10
    elif loops < 1:
        raise UsageError("-n must be at least 1")
    runs = timer.repeat(repeat, loops)
    result = TimeitResult(loops, repeat, [t / loops for t in runs])
    if not options.get("q"):
        print(repr(result))
    return result if options.get("o") else None


def _magic_timeit(args):
    options, stmt = _parse_timing_options(args, "qo", "nr")
    if not stmt:
        raise UsageError("usage: %timeit [-n N] [-r R] [-q] [-o] statement")
    return _timeit(_transform_cell(stmt), "pass", options)


def _user_names(types=None):
    ns = _USER_NS
    hidden = _S.hidden
    names = []
    for name in sorted(ns):
        if name.startswith("_"):
            continue
        value = ns[name]
        if name in hidden and hidden[name] is value:
            continue
        if name in ("In", "Out", "exit", "quit"):
            continue
        if types and type(value).__name__ not in types:
            continue
        names.append(name)
    return names


def _magic_who(args):
    names = _user_names(args.split())
    if not names:
        print("Interactive namespace is empty.")
    else:
        print("\t".join(names))
    return None


def _magic_who_ls(args):
    return _user_names(args.split())


def _magic_whos(args):
    names = _user_names(args.split())
    if not names:
        print("Interactive namespace is empty.")
        return None
    ns = _USER_NS
    rows = []
    for name in names:
        value = ns[name]
        info = _safe_str(value).replace("\n", "\\n")
        if len(info) > 50:
            info = info[:25] + "<...>" + info[-25:]
        rows.append((name, type(value).__name__, info))
    name_width = max(len("Variable"), max(len(r[0]) for r in rows)) + 3
    type_width = max(len("Type"), max(len(r[1]) for r in rows)) + 4
    lines = ["Variable".ljust(name_width) + "Type".ljust(type_width) + "Data/Info"]
    lines.append("-" * (name_width + type_width + len("Data/Info")))
    for name, type_name, info in rows:
        lines.append(name.ljust(name_width) + type_name.ljust(type_width) + info)
    print("\n".join(lines))
    return None


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return _safe_repr(value)


def _magic_reset(args):
    options = args.split()
    unknown = [o for o in options if o not in ("-f", "-s")]
    if unknown:
        raise UsageError("%%reset: unsupported arguments %s" % " ".join(unknown))
    ex = _S.current
    if "-f" not in options and ex is not None and ex.allow_stdin:
        answer = _input("Once deleted, variables cannot be recovered. Proceed (y/[n])? ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing done.")
            return None
    _reset_namespace()
    return None


def _reset_namespace():
    ns = _USER_NS
    ns.clear()
    _S.out_history.clear()
    _S.last_results = [None, None, None]
    _S.hidden = {}
    _init_user_ns()
    if _S.prelude_source is not None:
        _S.rerunning_prelude = True
        try:
            _register_source("<prelude>", _S.prelude_source)
            _run_source(_S.prelude_source, "<prelude>")
        finally:
            _S.rerunning_prelude = False


def _read_text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _magic_load(args):
    import shlex

    parts = shlex.split(args)
    if len(parts) != 1:
        raise UsageError("usage: %load path")
    path = os.path.expanduser(parts[0])
    try:
        source = _read_text(path)
    except OSError as exc:
        raise UsageError("could not load %r: %s" % (path, exc)) from None
    display({"text/plain": "# %%load %s\n%s" % (parts[0], source)}, raw=True)
    filename = os.path.abspath(path)
    _register_source(filename, source)
    return _run_source(source, filename)


def _magic_run(args):
    import shlex

    parts = shlex.split(args)
    if not parts:
        raise UsageError("usage: %run path [args...]")
    path = os.path.expanduser(parts[0])
    if not os.path.isfile(path):
        raise UsageError("File %r not found." % parts[0])
    filename = os.path.abspath(path)
    source = _read_text(path)
    code = compile(source, filename, "exec", dont_inherit=True)
    script_ns = {"__name__": "__main__", "__file__": filename, "__builtins__": builtins}
    saved_argv = sys.argv
    sys.argv = [parts[0]] + parts[1:]
    try:
        exec(code, script_ns)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
    finally:
        sys.argv = saved_argv
        for name, value in script_ns.items():
            if not (name.startswith("__") and name.endswith("__")):
                _USER_NS[name] = value
    return None


def _magic_matplotlib(args):
    backend = args.strip().lower()
    if backend not in ("", "inline", "agg"):
        print("pykernel shows figures inline only; %r ignored." % args.strip(), file=sys.stderr)
    os.environ["MPLBACKEND"] = "Agg"
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        try:
            pyplot.switch_backend("Agg")
        except Exception:
            pass
    _check_patches()
    return None


def _magic_lsmagic(args):
    print("Available line magics:")
    print("  " + "  ".join("%" + name for name in sorted(_LINE_MAGICS)))
    print("Available cell magics:")
    print("  " + "  ".join("%%" + name for name in sorted(_CELL_MAGICS)))
    return None


# Cell magics: (line, body, line_offset) -> value


def _cell_bash(line, body, offset):
    _run_streaming(["bash", "-c", body], merge=False)
    return None


class RichOutput:
    """A display captured by ``%%capture``."""

    def __init__(self, data):
        self.data = data

    def display(self):
        """Shows the captured bundle again."""
        display(self.data, raw=True)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return dict(self.data)

    def __repr__(self):
        return "<RichOutput %s>" % ", ".join(sorted(self.data))


class CapturedIO:
    """What ``%%capture`` keeps: ``.stdout``, ``.stderr``, ``.outputs``, ``.show()``."""

    def __init__(self):
        self._stdout = []
        self._stderr = []
        self.outputs = []

    @property
    def stdout(self):
        """Captured standard output."""
        return "".join(self._stdout)

    @property
    def stderr(self):
        """Captured standard error."""
        return "".join(self._stderr)

    def show(self):
        """Replays the captured streams and displays."""
        if self._stdout:
            sys.stdout.write(self.stdout)
        if self._stderr:
            sys.stderr.write(self.stderr)
        for output in self.outputs:
            output.display()

    __call__ = show

    def __repr__(self):
        return "<CapturedIO stdout=%d chars, stderr=%d chars, %d outputs>" % (
            len(self.stdout),
            len(self.stderr),
            len(self.outputs),
        )


class _Capture:
    def __init__(self, captured, stdout, stderr, displays):
        self.captured = captured
        self.streams = {"stdout": stdout, "stderr": stderr}
        self.displays = displays

    def take(self, stream, text):
        if not self.streams.get(stream):
            return False
        target = self.captured._stdout if stream == "stdout" else self.captured._stderr
        target.append(text)
        return True

    def take_display(self, bundle):
        if not self.displays:
            return False
        self.captured.outputs.append(RichOutput(bundle))
        return True


def _cell_capture(line, body, offset):
    stdout = stderr = displays = True
    name = None
    for word in line.split():
        if word == "--no-stdout":
            stdout = False
        elif word == "--no-stderr":
            stderr = False
        elif word == "--no-display":
            displays = False
        elif word.startswith("-") or name is not None:
            raise UsageError("usage: %%capture [--no-stdout] [--no-stderr] [--no-display] [name]")
        else:
            name = word
    ex = _S.current
    captured = CapturedIO()
    capture = _Capture(captured, stdout, stderr, displays)
    _flush_output()
    if ex is not None:
        ex.captures.append(capture)
        _OUT.seal()
    try:
        value = _run_source(body, ex.filename if ex else "<capture>", offset)
        if value is not None:
            display(value)
    finally:
        if ex is not None:
            try:
                _sync_fds()
            finally:
                ex.captures.remove(capture)
        if name is not None:
            _USER_NS[name] = captured
    return None


def _cell_timeit(line, body, offset):
    options, setup = _parse_timing_options(line, "qo", "nr")
    return _timeit(_transform_cell(body), _transform_cell(setup) or "pass", options)


def _cell_time(line, body, offset):
    ex = _S.current
    return _time_block(body, ex.filename if ex else "<timed exec>", offset)


def _cell_writefile(line, body, offset):
    import shlex

    parts = shlex.split(line)
    append = False
    if parts and parts[0] in ("-a", "--append"):
        append = True
        parts = parts[1:]
    if len(parts) != 1:
        raise UsageError("usage: %%writefile [-a] path")
    path = os.path.expanduser(parts[0])
    exists = os.path.exists(path)
    if append:
        print("Appending to %s" % parts[0])
    elif exists:
        print("Overwriting %s" % parts[0])
    else:
        print("Writing %s" % parts[0])
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    if body and not body.endswith("\n"):
        body += "\n"
    with open(path, "a" if append else "w", encoding="utf-8") as handle:
        handle.write(body)
    return None


# name -> (function, expand $name/{expr} in the arguments)
_LINE_MAGICS = {
    "cd": (_magic_cd, True),
    "pwd": (_magic_pwd, False),
    "ls": (_magic_ls, True),
    "env": (_magic_env, True),
    "set_env": (_magic_set_env, True),
    "pip": (_magic_pip, True),
    "time": (_magic_time, False),
    "timeit": (_magic_timeit, False),
    "who": (_magic_who, False),
    "who_ls": (_magic_who_ls, False),
    "whos": (_magic_whos, False),
    "reset": (_magic_reset, False),
    "load": (_magic_load, True),
    "run": (_magic_run, True),
    "matplotlib": (_magic_matplotlib, False),
    "lsmagic": (_magic_lsmagic, False),
}

_CELL_MAGICS = {
    "bash": (_cell_bash, False),
    "capture": (_cell_capture, False),
    "timeit": (_cell_timeit, False),
    "time": (_cell_time, False),
    "writefile": (_cell_writefile, True),
}


def _line_magic(name, args):
    entry = _LINE_MAGICS.get(name)
    if entry is None:
        raise UsageError("Line magic function `%%%s` not found." % name)
    function, expand = entry
    if expand:
        args = _expand(args, _caller_ns(1))
    return function(args)


def _cell_magic(name, line, body, offset=1):
    entry = _CELL_MAGICS.get(name)
    if entry is None:
        raise UsageError("Cell magic `%%%%%s` not found." % name)
    function, expand = entry
    if expand:
        line = _expand(line, _caller_ns(1))
    return function(line, body, offset)


# ---------------------------------------------------------------------------------------
# Completion: answered on a thread of its own, beside a running cell
# ---------------------------------------------------------------------------------------

_COMPLETE_LIMIT = 1000
_COMPLETE_QUEUE = _queue.SimpleQueue()
_COMPLETER = []  # holds True once the completer thread started
_MODULE_CACHE = {}  # tuple(sys.path) -> (time, names)
_MODULE_CACHE_SECONDS = 30.0
_PATH_MAGICS = ("cd", "ls", "run", "load")


def _enqueue_complete(request):
    """The ``complete`` request: answered by the completer thread, so that neither the
    reader (interrupts) nor the main thread (the running cell) ever waits for it."""
    rid = request.get("id")
    if not isinstance(rid, str):
        _log("ignored a complete request without a string id")
        return
    code = request.get("code")
    cursor = request.get("cursor")
    if (
        not isinstance(code, str)
        or not isinstance(cursor, int)
        or isinstance(cursor, bool)
        or cursor < 0
    ):
        _log("answered a malformed complete request with no matches")
        code, cursor = None, 0
    _COMPLETE_QUEUE.put((rid, code, cursor))
    if not _COMPLETER:
        _COMPLETER.append(True)
        _start_thread(_completer_main, "pykernel-completer")


def _completer_main():
    while True:
        rid, code, cursor = _COMPLETE_QUEUE.get()
        try:
            if code is None:
                matches, start, end = [], 0, 0
            else:
                matches, start, end = _complete(code, cursor)
        except BaseException as exc:  # a completion never takes the runner down
            _log("completion failed: %r" % (exc,))
            cursor = max(0, min(cursor, len(code or "")))
            matches, start, end = [], cursor, cursor
        _emit(
            {
                "type": "completions",
                "id": rid,
                "matches": matches,
                "cursorStart": start,
                "cursorEnd": end,
            }
        )


def _complete(code, cursor):
    """Completions for ``code`` at ``cursor`` (a code point offset): (matches, start,
    end), where every match replaces ``code[start:end]``.

    Nothing here runs user code on purpose: names are looked up in the namespace, and
    dotted names are followed with ``inspect.getattr_static``, stopping at properties and
    other descriptors (``dir()`` is the one call into objects, as in every completer).
    """
    import re

    cursor = max(0, min(cursor, len(code)))
    before = code[:cursor]
    line = before[before.rfind("\n") + 1 :]
    found = None
    magic = re.match(r"\s*(%%?)([A-Za-z_]\w*)?$", line)
    if magic is not None:
        table = _CELL_MAGICS if magic.group(1) == "%%" else _LINE_MAGICS
        prefix = magic.group(2) or ""
        names = [magic.group(1) + name for name in table if name.startswith(prefix)]
        found = (names, len(magic.group(1)) + len(prefix))
    if found is None:
        path_magic = re.match(r"\s*%(\w+)\s+(?:.*\s)?(\S*)$", line)
        if path_magic is not None and path_magic.group(1) in _PATH_MAGICS:
            typed = path_magic.group(2)
            found = (_complete_path(typed), len(typed))
    if found is None:
        found = _complete_import(re, line)
    if found is None:
        string_start = _string_start(before)
        if string_start is not None:
            typed = before[string_start:]
            keys = _complete_dict_key(re, before, string_start, typed)
            names = keys if keys is not None else _complete_path(typed)
            found = (names, len(typed))
    if found is None:
        found = _complete_expression(re, before)
    names, length = found
    matches = sorted(set(names))[:_COMPLETE_LIMIT]
    return matches, cursor - length, cursor


def _visible(name, prefix):
    """Whether ``name`` completes ``prefix``: private names only for a ``_`` prefix."""
    return name.startswith(prefix) and (prefix.startswith("_") or not name.startswith("_"))


def _complete_import(re, line):
    """Modules after ``import``/``from``, names after ``from x import``; None elsewhere."""
    names = re.match(r"\s*from\s+([\w.]+)\s+import\s+(?:\(?\s*)(?:\w+(?:\s+as\s+\w+)?\s*,\s*)*(\w*)$", line)
    if names is not None:
        module, prefix = names.group(1), names.group(2)
        found = [name for name in _submodules(module) if _visible(name, prefix)]
        loaded = sys.modules.get(module)
        if loaded is not None:
            found += [name for name in _names_of(loaded) if _visible(name, prefix)]
        return found, len(prefix)
    modules = re.match(
        r"\s*(?:from\s+|import\s+(?:[\w.]+(?:\s+as\s+\w+)?\s*,\s*)*)([\w.]*)$", line
    )
    if modules is None:
        return None
    typed = modules.group(1)
    parent, _, prefix = typed.rpartition(".")
    if parent:
        found = [parent + "." + name for name in _submodules(parent) if _visible(name, prefix)]
    else:
        found = [name for name in _top_level_modules() if _visible(name, prefix)]
    return found, len(typed)


def _top_level_modules():
    """Every importable top-level module name, cached for a while per ``sys.path``."""
    import pkgutil

    key = tuple(p for p in sys.path if isinstance(p, str))
    cached = _MODULE_CACHE.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _MODULE_CACHE_SECONDS:
        return cached[1]
    names = set(sys.builtin_module_names)
    names.update(name for name in sys.modules if "." not in name)
    try:
        names.update(info.name for info in pkgutil.iter_modules(list(key)))
    except Exception:
        pass
    names = sorted(names)
    _MODULE_CACHE.clear()
    _MODULE_CACHE[key] = (now, names)
    return names


def _submodules(package):
    """Submodules of ``package`` when it is already imported (importing it could run
    any code), else none."""
    import pkgutil

    module = sys.modules.get(package)
    path = getattr(module, "__path__", None) if module is not None else None
    if path is None:
        return []
    try:
        return [info.name for info in pkgutil.iter_modules(list(path))]
    except Exception:
        return []


def _string_start(text):
    """Where the content of the string literal open at the end of ``text`` starts, or
    None when the end of ``text`` is not inside a string."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            newline = text.find("\n", i)
            if newline < 0:
                return None
            i = newline + 1
            continue
        if c not in "'\"":
            i += 1
            continue
        quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else c
        start = i + len(quote)
        j = start
        while True:
            if j >= n:
                return start
            if text[j] == "\\":
                j += 2
                continue
            if text.startswith(quote, j):
                break
            if len(quote) == 1 and text[j] == "\n":
                break
            j += 1
        i = j + len(quote)
    return None


def _complete_dict_key(re, before, string_start, typed):
    """String keys of a dict in the namespace for ``d["``; None when the string is not
    a subscript of a dict."""
    head = before[: string_start - 1]
    head = re.sub(r"[rRbBuU]{0,2}$", "", head)
    subscript = re.search(r"(?<![\w.)\]])([^\W\d]\w*(?:\.[^\W\d]\w*)*)\s*\[\s*$", head)
    if subscript is None:
        return None
    target = _resolve(subscript.group(1).split("."))
    if target is _MISSING or not isinstance(target, dict):
        return None
    try:
        keys = list(dict.keys(target))
    except Exception:
        return None
    return [key for key in keys if isinstance(key, str) and key.startswith(typed)]


def _complete_path(typed):
    """Files and directories whose path starts with ``typed``; directories end in ``/``."""
    cut = typed.rfind("/") + 1
    head, prefix = typed[:cut], typed[cut:]
    directory = os.path.expanduser(head) if head else "."
    try:
        entries = os.listdir(directory)
    except (OSError, ValueError):
        return []
    found = []
    for name in entries:
        if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
            continue
        if os.path.isdir(os.path.join(directory, name)):
            name += "/"
        found.append(head + name)
        if len(found) > 4 * _COMPLETE_LIMIT:
            break
    return found


_MISSING = object()


def _resolve(parts):
    """The object a dotted name stands for, found without running user code; _MISSING
    when a part is unknown or is a property or other code-running descriptor."""
    import inspect
    import types

    first = parts[0]
    if first in _USER_NS:
        obj = _USER_NS[first]
    elif hasattr(builtins, first):
        obj = getattr(builtins, first)
    else:
        return _MISSING
    for part in parts[1:]:
        try:
            value = inspect.getattr_static(obj, part)
        except AttributeError:
            return _MISSING
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        elif isinstance(value, types.MemberDescriptorType) and not isinstance(obj, type):
            try:
                value = getattr(obj, part)  # a __slots__ slot: reading it runs no code
            except AttributeError:
                return _MISSING
        elif hasattr(type(value), "__get__") and not isinstance(
            value, (types.FunctionType, types.BuiltinFunctionType, type)
        ):
            return _MISSING
        obj = value
    return obj


def _names_of(obj):
    try:
        names = dir(obj)
    except Exception:
        return []
    return [name for name in names if isinstance(name, str)]


def _complete_expression(re, before):
    """Attributes after a dotted name, or names from the namespace, builtins and
    keywords."""
    import keyword

    attribute = re.search(r"(?<![\w.)\]'\"])([^\W\d]\w*(?:\.[^\W\d]\w*)*)\.(\w*)$", before)
    if attribute is not None:
        prefix = attribute.group(2)
        obj = _resolve(attribute.group(1).split("."))
        if obj is _MISSING:
            return [], len(prefix)
        return [name for name in _names_of(obj) if _visible(name, prefix)], len(prefix)
    word = re.search(r"(?<![\w.])[^\W\d]\w*$", before)
    if word is None:
        # After `f().`, `d[0].x` or a number there is nothing to offer without running code.
        tail = re.search(r"\w*$", before).group(0)
        if tail or before[-1:] in (".", ")", "]"):
            return [], len(tail)
        prefix = ""
    else:
        prefix = word.group(0)
    names = [name for name in list(_USER_NS) if isinstance(name, str)]
    names += dir(builtins)
    names += keyword.kwlist
    names += getattr(keyword, "softkwlist", [])
    return [name for name in names if _visible(name, prefix)], len(prefix)


# ---------------------------------------------------------------------------------------
# The namespace, builtins and the bridge object the prelude and magics use
# ---------------------------------------------------------------------------------------


class _Quitter:
    """``exit``/``quit`` in a kernel: raise SystemExit, which ends only the cell."""

    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return "Use %s() to raise SystemExit; the kernel keeps running." % self._name

    def __call__(self, code=None):
        raise SystemExit() if code is None else SystemExit(code)


class _Api:
    """``__pykernel__``: what transformed cells and the prelude call into."""

    line_magic = staticmethod(_line_magic)
    cell_magic = staticmethod(_cell_magic)
    system = staticmethod(_system)
    getoutput = staticmethod(_getoutput)
    display = staticmethod(display)
    format = staticmethod(_format)
    status = staticmethod(_status)
    host_call = staticmethod(host_call)
    HostCallError = HostCallError
    UsageError = UsageError
    StdinNotImplementedError = StdinNotImplementedError
    SList = SList
    CapturedIO = CapturedIO
    protocol_version = PROTOCOL_VERSION
    version = RUNNER_VERSION

    @staticmethod
    def execution_id():
        """The id of the running execution, or None while idle."""
        ex = _S.current
        return None if ex is None else ex.id

    @staticmethod
    def register_prelude(names):
        """Records the running cell as the prelude: ``%reset`` re-runs it, and
        ``%who`` hides the names it defined."""
        ex = _S.current
        if not _S.rerunning_prelude and ex is not None:
            _S.prelude_source = _S.sources.get(ex.filename)
        for name in names:
            if name in _USER_NS:
                _S.hidden[name] = _USER_NS[name]


_USER_MODULE = type(sys)("__main__")
_USER_NS = _USER_MODULE.__dict__


def _init_user_ns():
    ns = _USER_NS
    ns["__name__"] = "__main__"
    ns["__doc__"] = None
    ns["__package__"] = None
    ns["__loader__"] = None
    ns["__spec__"] = None
    ns["__builtins__"] = builtins
    ns["In"] = _S.inputs
    ns["_ih"] = _S.inputs
    ns["Out"] = _S.out_history
    ns["_oh"] = _S.out_history


def _install_builtins():
    builtins.display = display
    builtins.__pykernel__ = _Api()
    builtins.input = _input
    builtins.exit = _Quitter("exit")
    builtins.quit = _Quitter("quit")


def _after_fork_in_child():
    """A forked child must never touch the frame channel: give it plain fd streams."""
    _S.in_child = True
    # Another thread may have held the lock at the fork: the child gets its own.
    _OUT.lock = _thread.allocate_lock()
    for stream in _OUT.streams:
        stream._hot = None
    _OUT.hot = None
    for fd in [_FRAME_FD, _LOG_FD, _REQ_FD] + [cap.fd for cap in _FD_CAPTURES]:
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


# ---------------------------------------------------------------------------------------
# Startup and shutdown
# ---------------------------------------------------------------------------------------

_RUNNER_FILE = _setup_fds.__code__.co_filename
_CRITICAL_CODES = frozenset(
    (
        _emit.__code__,
        _send_bytes.__code__,
        _Output.append.__code__,
        _Output._seal_locked.__code__,
        _Output._flush_locked.__code__,
        _finish.__code__,
    )
)


def _shutdown():
    """``exit`` or EOF: flush, run exit handlers, and leave with code 0."""
    _fail_waiters()
    try:
        _sync_fds()
        _OUT.flush()
    except Exception:
        pass

    def reaper():
        time.sleep(0.75)
        os._exit(0)

    _thread.start_new_thread(reaper, ())
    sys.exit(0)


def _start_thread(target, name):
    """Starts a runner thread without waiting for it to be scheduled (a
    ``threading.Thread`` start waits, which costs milliseconds on a busy machine)."""
    _thread.start_new_thread(_thread_main, (target, name))


def _thread_main(target, name):
    try:
        target()
    except BaseException as exc:
        _log("%s thread died: %r" % (name, exc))


def main():
    """Sets up the process, greets the host and serves requests until exit."""
    # Asked for by this host only: user code and its children never see it.
    _S.payloads = os.environ.pop("PYKERNEL_STREAM_PAYLOADS", "") == "1"
    _setup_fds()
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Import from the working directory like IPython, never from the runner's cache dir.
    runner_dir = os.path.dirname(os.path.abspath(_RUNNER_FILE))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != runner_dir or p == ""]
    if not sys.path or sys.path[0] != "":
        sys.path.insert(0, "")
    sys.argv = [_RUNNER_FILE]
    _init_user_ns()
    sys.modules["__main__"] = _USER_MODULE
    _install_builtins()
    sys.stdout = _Stream("stdout", 1)
    sys.stderr = _Stream("stderr", 2)
    sys.meta_path.insert(0, _PostImportFinder())
    _check_patches()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    _set_sigint(False)
    _start_thread(_flusher_main, "pykernel-flusher")
    if _FD_CAPTURES:
        _start_thread(_drain_main, "pykernel-fd-drain")
    _emit(
        {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "runner": RUNNER_VERSION,
            "python": sys.version.split()[0],
            "pid": os.getpid(),
            "features": ["interrupt", "input", "call", "complete"]
            + (["stream_payloads"] if _S.payloads else []),
        }
    )
    _start_thread(_reader_main, "pykernel-reader")
    _main_loop()
    _shutdown()


if __name__ == "__main__":
    main()

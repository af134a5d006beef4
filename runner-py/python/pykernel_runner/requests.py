"""Requests from the host: the reader thread, the queue of executions, and the waits
for the host's answers (``input()``, ``getpass`` and ``host_call``).

The reader thread parses request lines. It answers ``interrupt``, ``input_reply`` and
``reply`` at once, hands ``complete`` to the completer thread (so completion never
waits for a cell), and queues executions on ``QUEUE`` for the main thread.
"""

import _queue
import _thread
import os

from . import running, wire
from .output import flush_output
from .running import Event, wake_idle_loop
from .signals import interrupt_main
from .wire import emit_for, json_loads, log

# Executions for the main thread: ("exec", spec), ("bad", id, message) or ("exit",).
QUEUE = _queue.SimpleQueue()
_WAITS_LOCK = _thread.allocate_lock()
_INPUT_WAITS = []  # (execution id, Waiter) of each input() waiting for the host
_CALLS = {}  # callId -> Waiter of each host_call() waiting for the host
_call_seq = 0
_closing = False  # the request channel is closed: nothing may wait for the host now


class StdinNotImplementedError(IOError, NotImplementedError):
    """``input()`` was called but the execution did not allow stdin requests."""


class HostCallError(Exception):
    """The host answered a ``host_call`` with an error."""


class Waiter:
    """A one-shot slot the reader thread fills with the host's answer."""

    def __init__(self):
        self.event = Event()
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
    ex = running.current
    if ex is None or not ex.allow_stdin:
        raise StdinNotImplementedError(
            "raw_input was called, but this frontend does not support input requests."
        )
    waiter = Waiter()
    entry = (ex.id, waiter)
    with _WAITS_LOCK:
        if _closing:
            raise EOFError("the host closed the request channel")
        _INPUT_WAITS.append(entry)
    try:
        flush_output()
        emit_for(
            ex, {"type": "input_request", "id": ex.id, "prompt": prompt, "password": password}
        )
        return waiter.wait()
    finally:
        with _WAITS_LOCK:
            if entry in _INPUT_WAITS:
                _INPUT_WAITS.remove(entry)


def host_input(prompt=""):
    """Reads a line from the host (``input_request``/``input_reply``)."""
    return _request_input(str(prompt), False)


def host_getpass(prompt="Password: ", stream=None):
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
    global _call_seq
    ex = running.current
    if ex is None:
        raise RuntimeError("host_call() needs a running execution")
    waiter = Waiter()
    with _WAITS_LOCK:
        if _closing:
            raise HostCallError("the host closed the request channel")
        _call_seq += 1
        call_id = "c%d" % _call_seq
        _CALLS[call_id] = waiter
    try:
        flush_output()
        emit_for(
            ex, {"type": "call", "id": ex.id, "callId": call_id, "name": name, "args": args}
        )
        ok, payload = waiter.wait()
    finally:
        with _WAITS_LOCK:
            _CALLS.pop(call_id, None)
    if ok:
        return payload
    raise HostCallError(payload)


def fail_waiters():
    """The host closed the request channel: every wait for it ends with an error, and
    so does every later one."""
    global _closing
    with _WAITS_LOCK:
        _closing = True
        for _, waiter in _INPUT_WAITS:
            waiter.fail(EOFError("the host closed the request channel"))
        for waiter in _CALLS.values():
            waiter.fail(HostCallError("the host closed the request channel"))


def _enqueue(item):
    QUEUE.put(item)
    wake_idle_loop()


def reader_main():
    """The reader thread: handles request lines as they come, until ``exit`` or EOF."""
    pending = bytearray()
    while True:
        try:
            chunk = os.read(wire.REQ_FD, 1 << 16)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            if pending.strip():
                _handle_line(bytes(pending))
            if running.current is not None:
                # The end of input without `exit` while a cell runs: the host is gone
                # (it would have sent `exit` first), so nothing may outlive it.
                wire.host_gone()
            fail_waiters()
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
                log("failed to handle a request line: %r" % (exc,))
                stop = False
            if stop:
                # Reading goes on after `exit`: a cell may still run, and a `kill` or the
                # end of input must still reach it.
                fail_waiters()
            newline = pending.find(b"\n")


def _recover_id(line):
    """Finds the ``id`` of a request line that did not parse, if there is one."""
    import re

    text = line.decode("utf-8", "replace")
    match = re.search(r'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)', text)
    if match is None:
        return None
    try:
        value = json_loads(match.group(1))
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
        request = json_loads(line)
    except ValueError as exc:
        rid = _recover_id(line)
        if rid is None:
            log("ignored a request line that is not JSON (%s): %s" % (exc, _preview(line)))
        else:
            _enqueue(("bad", rid, "invalid JSON request: %s" % exc))
        return False
    if not isinstance(request, dict):
        log("ignored a request that is not a JSON object: %s" % _preview(line))
        return False
    kind = request.get("type", "execute")
    if kind == "execute":
        _enqueue_execute(request, line)
    elif kind == "exit":
        _enqueue(("exit",))
        return True
    elif kind == "interrupt":
        if running.current is not None:
            interrupt_main()
    elif kind == "kill":
        # In-band kill, for a runner the host cannot signal (behind a launcher).
        wire.host_gone()
    elif kind == "ping":
        wire.emit({"type": "pong"})
    elif kind == "input_reply":
        _deliver_input(request)
    elif kind == "reply":
        _deliver_reply(request)
    elif kind == "complete":
        running.rare("completion").enqueue_complete(request)
    elif kind == "comm_msg":
        # Between cells, in order with executions, as ipykernel's shell channel.
        _enqueue(("comm", request))
    else:
        log("ignored a request of unknown type %r" % (kind,))
    return False


def _enqueue_execute(request, line):
    rid = request.get("id")
    if isinstance(rid, (int, float)) and not isinstance(rid, bool):
        rid = str(rid)
    if not isinstance(rid, str):
        log("ignored an execute request without a string id: %s" % _preview(line))
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
        log("ignored an input_reply without a string value")
        return
    with _WAITS_LOCK:
        for entry in _INPUT_WAITS:
            if entry[0] == rid:
                _INPUT_WAITS.remove(entry)
                if eof:
                    entry[1].fail(EOFError("EOF when reading a line"))
                else:
                    entry[1].set(value)
                return
    log("ignored an input_reply for %r: no input() is waiting" % (rid,))


def _deliver_reply(request):
    call_id = request.get("callId")
    with _WAITS_LOCK:
        waiter = _CALLS.pop(call_id, None) if isinstance(call_id, str) else None
    if waiter is None:
        log("ignored a reply for unknown call %r" % (call_id,))
        return
    if request.get("ok") is True:
        waiter.set((True, request.get("value")))
    else:
        error = request.get("error")
        waiter.set((False, error if isinstance(error, str) else "host call failed"))

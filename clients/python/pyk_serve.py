"""A client for ``pyk serve``: persistent Python kernels over JSON-RPC 2.0 on stdio.

Standard library only; copy this file into your project. ``pyk serve`` does the
supervision (interrupt, kill after a grace, shutdown of every process group, death
handling); this client only spawns it and moves lines.

    from pyk_serve import PykServe

    with PykServe(on_input=lambda p: "ada", on_call=lambda name, args, session: 42) as pyk:
        result = pyk.execute("print('hi'); 6 * 7", on_output=print)
        assert result["status"] == "ok"

See docs/serve.md in the pykernel repository for every message.
"""

import itertools
import json
import os
import subprocess
import threading

__all__ = ["PykServe", "PykServeError", "Pending"]


class PykServeError(Exception):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, code, message, data=None):
        super().__init__("%s (code %d)" % (message, code))
        self.code = code
        self.message = message
        self.data = data


class Pending:
    """A request in flight: wait for its result, or cancel it (``execute`` only)."""

    def __init__(self, client, request_id, on_output=None):
        self.id = request_id
        self.on_output = on_output
        self._client = client
        self._done = threading.Event()
        self._result = None
        self._error = None

    def result(self, timeout=None):
        """The request's result; raises ``PykServeError`` for an error answer."""
        if not self._done.wait(timeout):
            raise TimeoutError("no answer to request %r yet" % (self.id,))
        if self._error is not None:
            raise self._error
        return self._result

    def cancel(self):
        """Cancels the execution: interrupt, then kill the kernel after the grace."""
        self._client.notify("$/cancelRequest", {"id": self.id})

    def _resolve(self, result=None, error=None):
        self._result, self._error = result, error
        self._done.set()


class PykServe:
    """One ``pyk serve`` process and its connection.

    ``on_input(params)`` answers ``input()`` in a cell run with ``allow_stdin=True``:
    return a string, or None for end of input (``EOFError`` in Python). ``params`` has
    ``session``, ``requestId``, ``prompt`` and ``password``.

    ``on_call(name, args, session)`` answers Python's ``host_call(name, args)``:
    return any JSON value; an exception it raises becomes ``HostCallError`` in Python.

    ``on_late_output(session, output)`` gets what a background thread wrote after its
    cell ended (a ``lateOutput`` notification), shaped as an ``execute`` output.

    ``on_message(direction, message)``, if given, sees every message sent (``">"``) and
    received (``"<"``), for logging or tests.
    """

    def __init__(self, pyk=None, args=(), on_input=None, on_call=None, on_message=None,
                 on_late_output=None):
        pyk = pyk or os.environ.get("PYK_BIN", "pyk")
        self.on_input = on_input
        self.on_call = on_call
        self.on_message = on_message
        self.on_late_output = on_late_output
        self._process = subprocess.Popen(
            [pyk, "serve", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self._ids = itertools.count(1)
        self._pending = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="pyk-serve-reader", daemon=True)
        self._reader.start()

    # Requests

    def request(self, method, params=None, timeout=None):
        """Sends a request and waits for its result."""
        return self.start_request(method, params).result(timeout)

    def start_request(self, method, params=None, on_output=None):
        """Sends a request and returns at once with its ``Pending``."""
        request_id = next(self._ids)
        pending = Pending(self, request_id, on_output)
        with self._lock:
            self._pending[request_id] = pending
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)
        return pending

    def notify(self, method, params):
        """Sends a notification (no answer)."""
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def execute_async(self, code, session="default", on_output=None, timeout=None,
                      silent=False, allow_stdin=None):
        """Starts a cell; ``on_output(output)`` gets each output as it happens."""
        params = {"session": session, "code": code, "silent": silent}
        if timeout is not None:
            params["timeout"] = timeout
        params["allowStdin"] = self.on_input is not None if allow_stdin is None else allow_stdin
        return self.start_request("execute", params, on_output)

    def execute(self, code, session="default", on_output=None, timeout=None,
                silent=False, allow_stdin=None):
        """Runs a cell and returns how it ended (``status``, ``executionCount``, ...)."""
        return self.execute_async(code, session, on_output, timeout, silent, allow_stdin).result()

    def interrupt(self, session="default"):
        """Interrupts the session's running cell (``KeyboardInterrupt``)."""
        return self.request("interrupt", {"session": session})

    def restart(self, session="default"):
        """Gives the session a fresh kernel."""
        return self.request("restart", {"session": session})

    def shutdown(self, session="default"):
        """Shuts the session's kernel down; nothing happens if it has none."""
        return self.request("shutdown", {"session": session})

    def sessions(self):
        """The sessions, each with ``name``, ``alive``, ``busy``, ``pid`` and more."""
        return self.request("sessions", {})["sessions"]

    def complete(self, code, cursor=None, session="default"):
        """Completions at ``cursor`` (characters; default the end of ``code``)."""
        cursor = len(code) if cursor is None else cursor
        return self.request("complete", {"session": session, "code": code, "cursor": cursor})

    # Lifetime

    def close(self, timeout=30):
        """Ends the input: the server shuts every kernel down and exits. Returns its
        exit code (0)."""
        try:
            self._process.stdin.close()
        except OSError:
            pass
        code = self._process.wait(timeout)
        self._reader.join(timeout)
        self._process.stdout.close()
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._process.poll() is None:
            self.close()

    def send_line(self, line):
        """Writes a raw line (for tests of bad input)."""
        with self._write_lock:
            self._process.stdin.write(line + b"\n")
            self._process.stdin.flush()

    # The connection

    def _send(self, message):
        if self.on_message:
            self.on_message(">", message)
        self.send_line(json.dumps(message, separators=(",", ":")).encode())

    def _read(self):
        for line in self._process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if self.on_message:
                self.on_message("<", message)
            if "method" not in message:
                self._on_response(message)
            elif "id" in message:
                # A handler may take long (a human typing): answer on a thread of its own.
                threading.Thread(target=self._on_server_request, args=(message,), daemon=True).start()
            elif message["method"] == "output":
                self._on_output(message["params"])
            elif message["method"] == "lateOutput" and self.on_late_output is not None:
                params = message["params"]
                self.on_late_output(params["session"], params["output"])
        with self._lock:
            pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter._resolve(error=PykServeError(-32003, "the server exited"))

    def _on_response(self, message):
        with self._lock:
            pending = self._pending.pop(message.get("id"), None)
        if pending is None:
            return
        error = message.get("error")
        if error is not None:
            pending._resolve(error=PykServeError(error["code"], error["message"], error.get("data")))
        else:
            pending._resolve(result=message.get("result"))

    def _on_output(self, params):
        with self._lock:
            pending = self._pending.get(params["requestId"])
        if pending is not None and pending.on_output is not None:
            pending.on_output(params["output"])

    def _on_server_request(self, message):
        method, params = message["method"], message.get("params", {})
        reply = {"jsonrpc": "2.0", "id": message["id"]}
        try:
            if method == "input" and self.on_input is not None:
                reply["result"] = {"value": self.on_input(params)}
            elif method == "call" and self.on_call is not None:
                reply["result"] = self.on_call(params["name"], params.get("args"), params["session"])
            else:
                reply["error"] = {"code": -32601, "message": "method not found: %r" % method}
        except Exception as error:  # the handler's error is Python's exception
            reply.pop("result", None)
            reply["error"] = {"code": -32000, "message": str(error) or type(error).__name__}
        try:
            self._send(reply)
        except OSError:
            pass

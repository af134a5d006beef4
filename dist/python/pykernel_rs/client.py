"""A typed client for ``pyk serve``: persistent Python kernels over JSON-RPC 2.0 on stdio.

``pyk serve`` does the supervision (interrupt, kill after a grace, shutdown of every
process group, death handling); a client spawns it, writes requests on its stdin and
reads responses, ``output`` notifications and the server's own requests (``input``,
``call``) on its stdout, one JSON object per line.

Two forms with the same methods: :class:`Client` blocks (a reader thread moves the
lines), :class:`AsyncClient` is for ``asyncio``. Both start the ``pyk`` installed with
this package unless given another.

    from pykernel_rs import Client

    with Client() as pyk:
        result = pyk.execute("print('hi'); 6 * 7", on_output=print)
        assert result["status"] == "ok"

Standard library only.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import subprocess
import threading
from typing import (
    IO,
    Any,
    Awaitable,
    Callable,
    Dict,
    Generic,
    List,
    Literal,
    Optional,
    Sequence,
    TypedDict,
    TypeVar,
    Union,
    cast,
)

from pykernel_rs._binary import find_pyk

__all__ = [
    "AsyncClient",
    "AsyncExecution",
    "Client",
    "Completions",
    "DisplayOutput",
    "ErrorInfo",
    "ErrorOutput",
    "ExecuteResult",
    "Execution",
    "InputRequest",
    "Output",
    "PykServeError",
    "RestartResult",
    "ResultOutput",
    "SessionInfo",
    "StderrOutput",
    "StdoutOutput",
]

# JSON-RPC error codes `pyk serve` answers with (see docs/serve.md).
KERNEL_FAILED = -32000
TOO_MANY_SESSIONS = -32001
NO_SUCH_SESSION = -32002
SHUTTING_DOWN = -32003
LINE_TOO_LONG = -32004
METHOD_NOT_FOUND = -32601
REQUEST_CANCELLED = -32800

DEFAULT_SESSION = "default"
# The server's default limit on one line; a cell's image can make a long one.
_MAX_LINE_BYTES = 64 << 20

RequestId = Union[int, str]


class ErrorInfo(TypedDict):
    """A Python exception: class name, ``str()`` and formatted traceback entries."""

    ename: str
    evalue: str
    traceback: List[str]


class StdoutOutput(TypedDict):
    """Text the cell wrote to standard output, as it arrived."""

    type: Literal["stdout"]
    data: str


class StderrOutput(TypedDict):
    """Text the cell wrote to standard error, as it arrived."""

    type: Literal["stderr"]
    data: str


class _DisplayOutputFields(TypedDict):
    type: Literal["display"]
    bundle: Dict[str, Any]


class DisplayOutput(_DisplayOutputFields, total=False):
    """A rich output from ``display()``: a MIME bundle (images stay base64 strings), with
    the ``displayId`` later ``update_display`` outputs name, when it has one, and
    Jupyter's ``metadata`` (``{"image/png": {"width": 50}}``; ``{"pager": true}`` for
    help text) when there is some."""

    displayId: str
    metadata: Dict[str, Any]


class _UpdateDisplayOutputFields(TypedDict):
    type: Literal["update_display"]
    displayId: str
    bundle: Dict[str, Any]


class UpdateDisplayOutput(_UpdateDisplayOutputFields, total=False):
    """Replaces every earlier display with ``displayId`` (in any cell) by ``bundle`` and
    ``metadata`` (absent: none)."""

    metadata: Dict[str, Any]


class ClearOutputOutput(TypedDict):
    """Clears the cell's output so far; with ``wait``, just before its next output."""

    type: Literal["clear_output"]
    wait: bool


class _ResultOutputFields(TypedDict):
    type: Literal["result"]
    bundle: Dict[str, Any]


class ResultOutput(_ResultOutputFields, total=False):
    """The value of the cell's final expression, as a MIME bundle, with Jupyter's
    ``metadata`` when there is some."""

    metadata: Dict[str, Any]


class ErrorOutput(TypedDict):
    """The exception that ended the cell."""

    type: Literal["error"]
    ename: str
    evalue: str
    traceback: List[str]


Output = Union[
    StdoutOutput,
    StderrOutput,
    DisplayOutput,
    UpdateDisplayOutput,
    ClearOutputOutput,
    ResultOutput,
    ErrorOutput,
]
"""One streamed output of a cell, told apart by ``type``."""


class _ExecuteResultFields(TypedDict):
    status: Literal["ok", "error"]
    executionCount: Optional[int]
    cancelled: bool
    timedOut: bool
    kernelKilled: bool
    kernelRestarted: bool
    stdinRequested: bool


class ExecuteResult(_ExecuteResultFields, total=False):
    """How a cell ended.

    ``status`` is ``"ok"`` or ``"error"``; ``error`` is the exception that ended it;
    ``cancelled`` when it was interrupted (cancel, ``interrupt`` or its timeout),
    ``timedOut`` when its timeout hit, ``kernelKilled`` when the kernel was killed or died
    under it, ``kernelRestarted`` when it ran in a fresh namespace because the previous
    kernel was gone, ``stdinRequested`` when it called ``input()`` without stdin allowed,
    ``kernelError`` why the kernel itself failed.
    """

    error: ErrorInfo
    kernelError: str


class InputRequest(TypedDict):
    """A cell waits in ``input()`` (or ``getpass``, with ``password`` true)."""

    session: str
    requestId: RequestId
    prompt: str
    password: bool


class SessionInfo(TypedDict):
    """One session, as ``sessions()`` lists it."""

    name: str
    alive: bool
    busy: bool
    idleSeconds: Optional[float]
    cwd: Optional[str]
    generation: int
    pid: int


class Completions(TypedDict):
    """Completions for ``code[cursorStart:cursorEnd]`` (character offsets)."""

    matches: List[str]
    cursorStart: int
    cursorEnd: int


class RestartResult(TypedDict):
    """The session that got a fresh kernel, and how many kernels it had before."""

    session: str
    generation: int


class PykServeError(Exception):
    """The server answered a request with a JSON-RPC error (or exited before answering).

    ``code`` is one of the module's constants (``NO_SUCH_SESSION``, ...) or a standard
    JSON-RPC code; ``message`` says why; ``data`` is whatever the server added.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__("%s (code %d)" % (message, code))
        self.code = code
        self.message = message
        self.data = data


OnOutput = Callable[[Output], None]
"""Called with each output of a cell as it happens."""
OnInput = Callable[[InputRequest], Optional[str]]
"""Answers ``input()``: a string, or None for end of input (``EOFError`` in Python)."""
OnCall = Callable[[str, Any, str], Any]
"""Answers Python's ``host_call(name, args)`` in ``session``: any JSON value; an exception
it raises becomes ``HostCallError`` in Python."""
AsyncOnInput = Callable[[InputRequest], Union[Optional[str], Awaitable[Optional[str]]]]
"""``OnInput`` for :class:`AsyncClient`; it may be a coroutine function."""
AsyncOnCall = Callable[[str, Any, str], Any]
"""``OnCall`` for :class:`AsyncClient`; it may be a coroutine function."""

_T = TypeVar("_T")


class _Connection(Generic[_T]):
    """What both forms share: ids, waiters by id, message shapes, and dispatch."""

    # Settles the waiter of a request; each form has its own kind of waiter.
    _finish: Callable[[Any, Any, Optional[PykServeError]], None]

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._pending: Dict[RequestId, _T] = {}
        self._on_output: Dict[RequestId, OnOutput] = {}

    @staticmethod
    def _encode(message: Dict[str, Any]) -> bytes:
        return json.dumps(message, separators=(",", ":")).encode() + b"\n"

    def _new_request(self, method: str, params: Dict[str, Any]) -> tuple[int, bytes]:
        request_id = next(self._ids)
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        return request_id, self._encode(message)

    def _cancel_line(self, request_id: RequestId) -> bytes:
        message = {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": request_id}}
        return self._encode(message)

    @staticmethod
    def _execute_params(code: str, session: str, timeout: Optional[float], silent: bool,
                        allow_stdin: bool) -> Dict[str, Any]:
        params: Dict[str, Any] = {
            "session": session,
            "code": code,
            "silent": silent,
            "allowStdin": allow_stdin,
        }
        if timeout is not None:
            params["timeout"] = timeout
        return params

    def _dispatch(self, line: bytes) -> Optional[Dict[str, Any]]:
        """Settles the response or routes the output on ``line``; returns the server's
        request on it, which the caller answers, or None."""
        try:
            message = json.loads(line)
        except ValueError:
            return None
        if not isinstance(message, dict):
            return None
        method = message.get("method")
        if method is None:
            self._finish(message.get("id"), *self._outcome(message))
        elif "id" in message:
            return message
        elif method == "output":
            self._route_output(message.get("params"))
        return None

    def _route_output(self, params: Any) -> None:
        if not isinstance(params, dict) or params.get("requestId") is None:
            return
        on_output = self._on_output.get(params["requestId"])
        output = params.get("output")
        if on_output is not None and isinstance(output, dict):
            on_output(output)  # type: ignore[arg-type]

    @staticmethod
    def _outcome(message: Dict[str, Any]) -> tuple[Any, Optional[PykServeError]]:
        """The result of a response, or the error it carries."""
        error = message.get("error")
        if isinstance(error, dict):
            return None, PykServeError(int(error.get("code", 0)), str(error.get("message", "")),
                                       error.get("data"))
        return message.get("result"), None

    @staticmethod
    def _reply(request_id: Any, result: Any = None,
               error: Optional[BaseException] = None, method: str = "") -> Dict[str, Any]:
        reply: Dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if error is not None:
            reply["error"] = {"code": KERNEL_FAILED, "message": str(error) or type(error).__name__}
        elif method:
            reply["error"] = {"code": METHOD_NOT_FOUND, "message": "method not found: %r" % method}
        else:
            reply["result"] = result
        return reply

    @staticmethod
    def _server_exited() -> PykServeError:
        return PykServeError(SHUTTING_DOWN, "the server exited")


def _command(pyk: Optional[str], python: Optional[str], args: Sequence[str]) -> List[str]:
    command = [pyk or find_pyk(), "serve"]
    if python is not None:
        command += ["--python", python]
    command += list(args)
    return command


class Execution:
    """A cell in flight under :class:`Client`: wait for how it ends, or cancel it."""

    def __init__(self, client: Client, request_id: RequestId) -> None:
        self.id = request_id
        self._client = client
        self._done = threading.Event()
        self._result: Any = None
        self._error: Optional[PykServeError] = None

    def result(self, timeout: Optional[float] = None) -> ExecuteResult:
        """Waits for how the cell ended.

        Raises:
            TimeoutError: no answer within ``timeout`` seconds (the cell goes on).
            PykServeError: the server refused the request or exited.
        """
        result: ExecuteResult = self._wait(timeout)
        return result

    def cancel(self) -> None:
        """Cancels the cell: interrupt, then kill the kernel after the grace."""
        self._client._write(self._client._cancel_line(self.id))

    def _wait(self, timeout: Optional[float]) -> Any:
        if not self._done.wait(timeout):
            raise TimeoutError("no answer to request %r yet" % (self.id,))
        if self._error is not None:
            raise self._error
        return self._result

    def _resolve(self, result: Any, error: Optional[PykServeError]) -> None:
        self._result, self._error = result, error
        self._done.set()


class Client(_Connection[Execution]):
    """One ``pyk serve`` process and its connection, with blocking methods.

    Args:
        pyk: the ``pyk`` binary; default the one installed with this package.
        python: the interpreter kernels run (``--python``); default ``pyk``'s choice
            (the active or project virtualenv, then ``python3`` on ``PATH``).
        args: more arguments for ``pyk serve`` (``--pool-size``, ``--cwd``, ...).
        on_input: answers ``input()`` in cells; cells may read stdin only when it is set
            (or ``allow_stdin`` says so).
        on_call: answers Python's ``host_call(name, args)``.

    Handlers run on threads of their own, so one may block (a human typing).
    Methods may be called from any thread. ``pyk serve``'s log goes to this stderr.
    """

    def __init__(self, pyk: Optional[str] = None, *, python: Optional[str] = None,
                 args: Sequence[str] = (), on_input: Optional[OnInput] = None,
                 on_call: Optional[OnCall] = None) -> None:
        super().__init__()
        self.on_input = on_input
        self.on_call = on_call
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._process = subprocess.Popen(
            _command(pyk, python, args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        self._stdin: IO[bytes] = self._process.stdin  # type: ignore[assignment]
        self._stdout: IO[bytes] = self._process.stdout  # type: ignore[assignment]
        self._reader = threading.Thread(target=self._read, name="pyk-serve-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        """The process id of ``pyk serve``."""
        return self._process.pid

    def request(self, method: str, params: Optional[Dict[str, Any]] = None,
                timeout: Optional[float] = None) -> Any:
        """Sends request ``method`` and waits for its result.

        Raises:
            PykServeError: the server answered with an error or exited.
            TimeoutError: no answer within ``timeout`` seconds.
        """
        return self._start(method, params or {})._wait(timeout)

    def start_execute(self, code: str, *, session: str = DEFAULT_SESSION,
                      on_output: Optional[OnOutput] = None, timeout: Optional[float] = None,
                      silent: bool = False, allow_stdin: Optional[bool] = None) -> Execution:
        """Starts a cell and returns at once; ``on_output`` gets each output as it happens
        (on the reader thread, in order).

        ``timeout`` (seconds) interrupts the cell, then kills the kernel after the grace;
        ``silent`` runs it without counting it or showing its result; ``allow_stdin``
        defaults to whether ``on_input`` is set.
        """
        stdin = self.on_input is not None if allow_stdin is None else allow_stdin
        params = self._execute_params(code, session, timeout, silent, stdin)
        return self._start("execute", params, on_output)

    def execute(self, code: str, *, session: str = DEFAULT_SESSION,
                on_output: Optional[OnOutput] = None, timeout: Optional[float] = None,
                silent: bool = False, allow_stdin: Optional[bool] = None) -> ExecuteResult:
        """Runs a cell and returns how it ended; see :meth:`start_execute`.

        A Python exception is not raised here: it is ``result["error"]``.
        """
        execution = self.start_execute(code, session=session, on_output=on_output,
                                       timeout=timeout, silent=silent, allow_stdin=allow_stdin)
        return execution.result()

    def interrupt(self, session: str = DEFAULT_SESSION) -> None:
        """Interrupts the session's running cell (``KeyboardInterrupt`` in Python)."""
        self.request("interrupt", {"session": session})

    def restart(self, session: str = DEFAULT_SESSION) -> RestartResult:
        """Gives the session a fresh kernel (a fresh namespace)."""
        return self.request("restart", {"session": session})  # type: ignore[no-any-return]

    def shutdown(self, session: str = DEFAULT_SESSION) -> None:
        """Shuts the session's kernel down; nothing happens if it has none."""
        self.request("shutdown", {"session": session})

    def sessions(self) -> List[SessionInfo]:
        """The sessions that have a kernel."""
        return self.request("sessions")["sessions"]  # type: ignore[no-any-return]

    def complete(self, code: str, cursor: Optional[int] = None,
                 session: str = DEFAULT_SESSION) -> Completions:
        """Completions at ``cursor`` (in characters; default the end of ``code``) from the
        session's live namespace, without running user code."""
        cursor = len(code) if cursor is None else cursor
        params = {"session": session, "code": code, "cursor": cursor}
        return self.request("complete", params)  # type: ignore[no-any-return]

    def close(self, timeout: Optional[float] = 30) -> int:
        """Ends the input: the server shuts every kernel down and exits.

        Returns its exit status (0). Raises ``subprocess.TimeoutExpired`` if it has not
        exited within ``timeout`` seconds.
        """
        try:
            self._stdin.close()
        except OSError:
            pass
        status = self._process.wait(timeout)
        self._reader.join(timeout)
        self._stdout.close()
        return status

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.poll() is None:
            self.close()

    def _start(self, method: str, params: Dict[str, Any],
               on_output: Optional[OnOutput] = None) -> Execution:
        with self._lock:
            request_id, line = self._new_request(method, params)
            execution = Execution(self, request_id)
            self._pending[request_id] = execution
            if on_output is not None:
                self._on_output[request_id] = on_output
        try:
            self._write(line)
        except OSError:
            self._finish(request_id, None, self._server_exited())
        return execution

    def _write(self, line: bytes) -> None:
        with self._write_lock:
            self._stdin.write(line)
            self._stdin.flush()

    def _finish(self, request_id: Any, result: Any, error: Optional[PykServeError]) -> None:
        with self._lock:
            execution = self._pending.pop(request_id, None)
            self._on_output.pop(request_id, None)
        if execution is not None:
            execution._resolve(result, error)

    def _read(self) -> None:
        for line in self._stdout:
            request = self._dispatch(line)
            if request is not None:
                # A handler may take long: answer on a thread of its own.
                threading.Thread(target=self._answer, args=(request,), daemon=True).start()
        with self._lock:
            pending, self._pending = self._pending, {}
        for execution in pending.values():
            execution._resolve(None, self._server_exited())

    def _answer(self, message: Dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params") or {}
        try:
            if method == "input" and self.on_input is not None:
                reply = self._reply(message["id"], {"value": self.on_input(cast(InputRequest, params))})
            elif method == "call" and self.on_call is not None:
                result = self.on_call(str(params.get("name")), params.get("args"),
                                     str(params.get("session")))
                reply = self._reply(message["id"], result)
            else:
                reply = self._reply(message["id"], method=str(method))
        except Exception as error:  # the handler's exception is Python's HostCallError
            reply = self._reply(message["id"], error=error)
        try:
            self._write(self._encode(reply))
        except OSError:
            pass


class AsyncExecution:
    """A cell in flight under :class:`AsyncClient`: ``await`` it for how it ends, or
    cancel it."""

    def __init__(self, client: AsyncClient, request_id: RequestId,
                 future: asyncio.Future[Any]) -> None:
        self.id = request_id
        self._client = client
        self._future = future

    def cancel(self) -> None:
        """Cancels the cell: interrupt, then kill the kernel after the grace."""
        self._client._write(self._client._cancel_line(self.id))

    async def result(self) -> ExecuteResult:
        """Waits for how the cell ended; raises :class:`PykServeError` if the server
        refused the request or exited."""
        result: ExecuteResult = await asyncio.shield(self._future)
        return result

    def __await__(self) -> Any:
        return self.result().__await__()


class AsyncClient(_Connection["asyncio.Future[Any]"]):
    """One ``pyk serve`` process and its connection, for ``asyncio``.

    Start it with ``await AsyncClient.start(...)`` (same arguments as :class:`Client`);
    ``on_input`` and ``on_call`` may be plain or coroutine functions.

        async with await AsyncClient.start() as pyk:
            result = await pyk.execute("6 * 7")
    """

    def __init__(self, process: asyncio.subprocess.Process, on_input: Optional[AsyncOnInput],
                 on_call: Optional[AsyncOnCall]) -> None:
        """Wraps a started ``pyk serve``; use :meth:`start` instead."""
        super().__init__()
        self.on_input = on_input
        self.on_call = on_call
        self._process = process
        self._stdin: asyncio.StreamWriter = process.stdin  # type: ignore[assignment]
        self._stdout: asyncio.StreamReader = process.stdout  # type: ignore[assignment]
        self._handlers: set[asyncio.Task[None]] = set()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, pyk: Optional[str] = None, *, python: Optional[str] = None,
                    args: Sequence[str] = (), on_input: Optional[AsyncOnInput] = None,
                    on_call: Optional[AsyncOnCall] = None) -> AsyncClient:
        """Starts ``pyk serve`` (the bundled one unless ``pyk`` is given)."""
        process = await asyncio.create_subprocess_exec(
            *_command(pyk, python, args),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=_MAX_LINE_BYTES,
        )
        return cls(process, on_input, on_call)

    @property
    def pid(self) -> int:
        """The process id of ``pyk serve``."""
        return self._process.pid

    async def request(self, method: str, params: Optional[Dict[str, Any]] = None) -> Any:
        """Sends request ``method`` and waits for its result.

        Raises:
            PykServeError: the server answered with an error or exited.
        """
        _, future = await self._start(method, params or {})
        return await future

    async def start_execute(self, code: str, *, session: str = DEFAULT_SESSION,
                            on_output: Optional[OnOutput] = None,
                            timeout: Optional[float] = None, silent: bool = False,
                            allow_stdin: Optional[bool] = None) -> AsyncExecution:
        """Sends a cell and returns once it is sent; see :meth:`Client.start_execute`."""
        stdin = self.on_input is not None if allow_stdin is None else allow_stdin
        params = self._execute_params(code, session, timeout, silent, stdin)
        request_id, future = await self._start("execute", params, on_output)
        return AsyncExecution(self, request_id, future)

    async def execute(self, code: str, *, session: str = DEFAULT_SESSION,
                      on_output: Optional[OnOutput] = None, timeout: Optional[float] = None,
                      silent: bool = False, allow_stdin: Optional[bool] = None) -> ExecuteResult:
        """Runs a cell and returns how it ended; see :meth:`Client.execute`."""
        execution = await self.start_execute(code, session=session, on_output=on_output,
                                             timeout=timeout, silent=silent,
                                             allow_stdin=allow_stdin)
        return await execution.result()

    async def interrupt(self, session: str = DEFAULT_SESSION) -> None:
        """Interrupts the session's running cell."""
        await self.request("interrupt", {"session": session})

    async def restart(self, session: str = DEFAULT_SESSION) -> RestartResult:
        """Gives the session a fresh kernel."""
        return await self.request("restart", {"session": session})  # type: ignore[no-any-return]

    async def shutdown(self, session: str = DEFAULT_SESSION) -> None:
        """Shuts the session's kernel down; nothing happens if it has none."""
        await self.request("shutdown", {"session": session})

    async def sessions(self) -> List[SessionInfo]:
        """The sessions that have a kernel."""
        return (await self.request("sessions"))["sessions"]  # type: ignore[no-any-return]

    async def complete(self, code: str, cursor: Optional[int] = None,
                       session: str = DEFAULT_SESSION) -> Completions:
        """Completions at ``cursor`` (characters; default the end of ``code``)."""
        cursor = len(code) if cursor is None else cursor
        params = {"session": session, "code": code, "cursor": cursor}
        return await self.request("complete", params)  # type: ignore[no-any-return]

    async def close(self) -> int:
        """Ends the input: the server shuts every kernel down and exits; returns its exit
        status (0)."""
        self._stdin.close()
        status = await self._process.wait()
        await self._reader
        return status

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._process.returncode is None:
            await self.close()

    async def _start(self, method: str, params: Dict[str, Any],
                     on_output: Optional[OnOutput] = None) -> tuple[int, asyncio.Future[Any]]:
        request_id, line = self._new_request(method, params)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        if on_output is not None:
            self._on_output[request_id] = on_output
        try:
            self._write(line)
            await self._stdin.drain()
        except (OSError, RuntimeError):
            self._finish(request_id, None, self._server_exited())
        return request_id, future

    def _write(self, line: bytes) -> None:
        if not self._stdin.is_closing():
            self._stdin.write(line)

    def _finish(self, request_id: Any, result: Any, error: Optional[PykServeError]) -> None:
        future = self._pending.pop(request_id, None)
        self._on_output.pop(request_id, None)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    async def _read(self) -> None:
        while True:
            try:
                line = await self._stdout.readline()
            except ValueError:
                # Longer than the limit: the rest of that line is dropped by the reader.
                continue
            if not line:
                break
            request = self._dispatch(line)
            if request is not None:
                task = asyncio.get_running_loop().create_task(self._answer(request))
                self._handlers.add(task)
                task.add_done_callback(self._handlers.discard)
        for request_id in list(self._pending):
            self._finish(request_id, None, self._server_exited())

    async def _answer(self, message: Dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params") or {}
        try:
            if method == "input" and self.on_input is not None:
                value = await _maybe_await(self.on_input(cast(InputRequest, params)))
                reply = self._reply(message["id"], {"value": value})
            elif method == "call" and self.on_call is not None:
                result = self.on_call(str(params.get("name")), params.get("args"),
                                     str(params.get("session")))
                reply = self._reply(message["id"], await _maybe_await(result))
            else:
                reply = self._reply(message["id"], method=str(method))
        except Exception as error:  # the handler's exception is Python's HostCallError
            reply = self._reply(message["id"], error=error)
        self._write(self._encode(reply))


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value

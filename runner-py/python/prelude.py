# pykernel prelude: helpers for user code, run once by the host as a silent cell.
#
# Everything is built inside one function so the namespace only gains the exported
# helpers (no stray imports), and the runner is told their names so `%who` hides them
# and `%reset` can re-install them. Running this cell again is harmless.


def __pykernel_prelude():
    # Modules are imported inside the helpers that need them: the host waits for this
    # cell at startup, and pathlib or json would cost more than everything else here.
    import os

    api = __pykernel__  # noqa: F821 - installed in builtins by the runner
    status = api.status

    def display(*objs, raw=False, **kwargs):
        """Shows objects as rich output.

        Dicts, lists and tuples also get an ``application/json`` representation;
        everything else renders through its ``_repr_*_`` methods (HTML tables,
        images, figures), always with ``text/plain``. With ``raw=True`` each object
        must be a MIME bundle dict, sent as is.
        """
        for obj in objs:
            if not raw and isinstance(obj, (dict, list, tuple)):
                bundle = api.format(obj, kwargs.get("include"), kwargs.get("exclude"))
                bundle.setdefault("application/json", _json_safe(obj))
                api.display(bundle, raw=True)
            else:
                api.display(obj, raw=raw, **kwargs)

    def _json_safe(value):
        import json

        try:
            return json.loads(json.dumps(value, default=repr, allow_nan=False))
        except (TypeError, ValueError):
            if isinstance(value, dict):
                return {str(k): _json_safe(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [_json_safe(v) for v in value]
            if isinstance(value, float):
                return None
            return repr(value)

    def env(key=None, value=None):
        """Reads or changes environment variables of the kernel process.

        ``env()`` returns a sorted dict of all variables, ``env("K")`` the value of
        ``K`` (or None), and ``env("K", "v")`` sets it and returns ``"v"``.
        """
        if key is None:
            snapshot = dict(sorted(os.environ.items()))
            status("env", count=len(snapshot), keys=list(snapshot)[:20])
            return snapshot
        key = str(key)
        if value is None:
            current = os.environ.get(key)
            status("env", key=key, action="get", found=current is not None)
            return current
        value = str(value)
        os.environ[key] = value
        status("env", key=key, action="set")
        return value

    def read(path, offset=1, limit=None):
        """Returns the text of a UTF-8 file, or a slice of its lines.

        ``offset`` is the 1-based first line and ``limit`` the number of lines
        (``None`` reads to the end); line endings are kept. Both may be positional:
        ``read("log.txt", 10, 5)`` gives lines 10 to 14.
        """
        from pathlib import Path

        target = Path(path).expanduser()
        text = target.read_text(encoding="utf-8")
        if offset is None:
            offset = 1
        if offset < 1:
            raise ValueError("read() offset is 1-based, got %r" % (offset,))
        if offset > 1 or limit is not None:
            if limit is not None and limit < 0:
                raise ValueError("read() limit must be >= 0, got %r" % (limit,))
            lines = text.splitlines(True)
            end = None if limit is None else offset - 1 + limit
            text = "".join(lines[offset - 1 : end])
        status("read", path=str(target), chars=len(text), preview=text[:500])
        return text

    def write(path, content):
        """Writes ``content`` (str as UTF-8, or bytes) to ``path``, creating parent
        directories, and returns the ``Path``."""
        from pathlib import Path

        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, (bytes, bytearray)):
            target.write_bytes(bytes(content))
            size = {"bytes": len(content)}
        else:
            content = str(content)
            with open(target, "w", encoding="utf-8", newline="") as handle:
                handle.write(content)
            size = {"chars": len(content)}
        status("write", path=str(target), **size)
        return target

    def log(message):
        """Emits a log status event (``{"op": "log", "message": ...}``)."""
        status("log", message=str(message))

    def phase(title):
        """Emits a phase status event marking the start of a named step."""
        status("phase", title=str(title))

    def _run_all(calls, concurrency):
        import contextvars
        from concurrent.futures import ThreadPoolExecutor

        if not calls:
            return []
        if concurrency is not None:
            if not isinstance(concurrency, int) or isinstance(concurrency, bool):
                raise TypeError("concurrency must be an int or None")
            if concurrency < 1:
                raise ValueError("concurrency must be at least 1")
        width = len(calls) if concurrency is None else min(concurrency, len(calls))
        pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="pykernel-parallel")
        try:
            futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
            results = []
            failure = None
            for future in futures:
                try:
                    results.append(future.result())
                except BaseException as exc:  # noqa: B036 - re-raised below
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    if failure is None:
                        failure = exc
                    results.append(None)
            if failure is not None:
                raise failure
            return results
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def parallel(thunks, *, concurrency=None):
        """Runs zero-argument callables on threads and returns their results in order.

        At most ``concurrency`` run at once (all of them by default). Every call
        finishes before the first failure (by input position) is raised. Context
        variables are copied into each thread, so output still belongs to the cell.
        """
        calls = list(thunks)
        for call in calls:
            if not callable(call):
                raise TypeError("parallel() expects an iterable of zero-argument callables")
        return _run_all(calls, concurrency)

    def pipeline(items, *stages, concurrency=None):
        """Passes every item through each stage in turn, items in parallel per stage.

        Each stage is a one-argument callable; a stage starts once the previous one
        has finished for all items. Order is preserved and the first failure (by
        input position) is raised.
        """
        for stage in stages:
            if not callable(stage):
                raise TypeError("pipeline() stages must be callables")
        values = list(items)
        for stage in stages:
            values = _run_all([(lambda v=v, f=stage: f(v)) for v in values], concurrency)
        return values

    def host_call(name, args=None, /, **kwargs):
        """Calls a function of the host program and returns its answer.

        ``args`` is any JSON-compatible value; keyword arguments are merged into it
        as a dict. Blocks until the host replies (an interrupt stops the wait) and
        raises ``HostCallError`` when the host reports a failure.
        """
        return api.host_call(name, args, **kwargs)

    exported = {
        "display": display,
        "env": env,
        "read": read,
        "write": write,
        "log": log,
        "phase": phase,
        "parallel": parallel,
        "pipeline": pipeline,
        "host_call": host_call,
        "HostCallError": api.HostCallError,
    }
    for name, value in exported.items():
        if callable(value) and hasattr(value, "__qualname__") and not isinstance(value, type):
            value.__qualname__ = name
    return exported


globals().update(__pykernel_prelude())
del __pykernel_prelude
__pykernel__.register_prelude(  # noqa: F821
    ["display", "env", "read", "write", "log", "phase", "parallel", "pipeline", "host_call", "HostCallError"]
)

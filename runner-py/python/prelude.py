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
        must be a MIME bundle dict, sent as is. With ``display_id`` it returns a
        handle whose ``update`` replaces the outputs.
        """
        if kwargs.get("display_id") is True:
            # One fresh id for every object shown by this call.
            kwargs["display_id"] = api.new_display_id()
        handle = None if objs else api.display(raw=raw, **kwargs)
        for obj in objs:
            if not raw and isinstance(obj, (dict, list, tuple)):
                bundle = api.format(obj, kwargs.get("include"), kwargs.get("exclude"))
                bundle.setdefault("application/json", _json_safe(obj))
                handle = api.display(
                    bundle,
                    raw=True,
                    display_id=kwargs.get("display_id"),
                    update=kwargs.get("update", False),
                )
            else:
                handle = api.display(obj, raw=raw, **kwargs)
        return handle

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

    # ``scheme://rest`` names a resource rather than a file: ``local://`` lives under
    # the local root, anything else belongs to the host.
    uri_re = None

    def _split_uri(path):
        nonlocal uri_re
        if not isinstance(path, str) or "://" not in path:
            return None
        if uri_re is None:
            import re

            uri_re = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)\Z", re.S)
        match = uri_re.match(path)
        return None if match is None else (match.group(1).lower(), match.group(2))

    def _local_path(path, rest):
        # Refuse what could leave the root before touching the disk, then check the
        # resolved path too, so a symlink inside the root cannot lead out of it.
        from urllib.parse import unquote

        root = os.path.abspath(os.path.expanduser(os.environ.get("PYKERNEL_LOCAL_ROOT") or "local"))
        rel = unquote(rest).replace("\\", "/")
        parts = [part for part in rel.split("/") if part not in ("", ".")]
        if rel.startswith("/") or os.path.isabs(rel) or os.path.splitdrive(rel)[0] or ".." in parts:
            raise ValueError("unsafe local:// path (absolute or traversal): %s" % path)
        target = os.path.join(root, *parts)
        real_root = os.path.realpath(root)
        real_target = os.path.realpath(target)
        if real_target != real_root and not real_target.startswith(real_root.rstrip(os.sep) + os.sep):
            raise ValueError("local:// path escapes its root %s: %s" % (root, path))
        return target

    def _host_resource(function, path, args):
        try:
            return api.host_call(function, args)
        except api.HostCallError as exc:
            if "no host function" in str(exc).lower():
                scheme = path.split("://", 1)[0]
                raise ValueError(
                    "%s:// is not served by this host (it has no %r function): %s"
                    % (scheme, function, path)
                ) from None
            raise

    def _slice_lines(text, offset, limit):
        if offset > 1 or limit is not None:
            lines = text.splitlines(True)
            end = None if limit is None else offset - 1 + limit
            text = "".join(lines[offset - 1 : end])
        return text

    def read(path, offset=1, limit=None):
        """Returns the text of a UTF-8 file, or a slice of its lines.

        ``offset`` is the 1-based first line and ``limit`` the number of lines
        (``None`` reads to the end); line endings are kept. Both may be positional:
        ``read("log.txt", 10, 5)`` gives lines 10 to 14.

        ``local://notes/a.md`` reads under the local root: ``$PYKERNEL_LOCAL_ROOT``,
        or the ``local`` folder of the current directory; a path that leads out of it
        (``..``, absolute, a symlink) is refused with ``ValueError``. Any other
        ``scheme://`` name is read by the host (host function ``resource_read``), and
        may end in a line selector: ``read("artifact://21:3-4")`` is lines 3 and 4.
        """
        if offset is None:
            offset = 1
        if offset < 1:
            raise ValueError("read() offset is 1-based, got %r" % (offset,))
        if limit is not None and limit < 0:
            raise ValueError("read() limit must be >= 0, got %r" % (limit,))
        uri = _split_uri(path)
        if uri is not None and uri[0] != "local":
            text = _read_resource(path, offset, limit)
            shown = path
        else:
            from pathlib import Path

            target = Path(_local_path(path, uri[1]) if uri else path).expanduser()
            text = _slice_lines(target.read_text(encoding="utf-8"), offset, limit)
            shown = str(target)
        status("read", path=shown, chars=len(text), preview=text[:500])
        return text

    def _read_resource(path, offset, limit):
        import re

        selector = re.search(r":([0-9]+)-([0-9]*)\Z", path)
        if selector is not None:
            if offset != 1 or limit is not None:
                raise ValueError("read() takes a :START-END selector or offset/limit, not both")
            path = path[: selector.start()]
            offset = max(1, int(selector.group(1)))
            if selector.group(2):
                limit = max(0, int(selector.group(2)) - offset + 1)
        if limit == 0:
            return ""
        value = _host_resource("resource_read", path, {"uri": path, "offset": offset, "limit": limit})
        if isinstance(value, dict) and "text" in value:
            value = value["text"]
        if not isinstance(value, str):
            raise TypeError("the host's resource_read returned %s, not text" % type(value).__name__)
        return value

    def write(path, content, append=False):
        """Writes ``content`` (str as UTF-8, or bytes) to ``path``, creating parent
        directories, and returns the ``Path``; ``append=True`` adds to the end.

        ``local://`` names map under the local root as for ``read`` (the folder is
        created; nothing named ``local:`` ever is). Any other ``scheme://`` name is
        written by the host (host function ``resource_write``, text only), and the
        host's answer is returned.
        """
        from pathlib import Path

        uri = _split_uri(path)
        if uri is not None and uri[0] != "local":
            if isinstance(content, (bytes, bytearray)):
                raise TypeError("write() sends only text to %s:// resources" % uri[0])
            content = str(content)
            value = _host_resource(
                "resource_write", path, {"uri": path, "content": content, "append": bool(append)}
            )
            status("write", path=path, chars=len(content), append=bool(append))
            return path if value is None else value
        target = Path(_local_path(path, uri[1]) if uri else path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, (bytes, bytearray)):
            with open(target, "ab" if append else "wb") as handle:
                handle.write(bytes(content))
            size = {"bytes": len(content)}
        else:
            content = str(content)
            with open(target, "a" if append else "w", encoding="utf-8", newline="") as handle:
                handle.write(content)
            size = {"chars": len(content)}
        if append:
            size["append"] = True
        status("write", path=str(target), **size)
        return target

    def output(id, query=None, offset=0, limit=None, format="text"):
        """Reads back a saved output (an artifact) by the id a truncation notice names.

        ``query`` filters it, ``offset`` skips that many lines and ``limit`` keeps at
        most that many; ``format="json"`` returns a dict with the text and its details
        instead of the text. The host keeps the artifacts (host function ``output``):
        an unknown id raises ``FileNotFoundError``, a bad range ``ValueError``.
        """
        if format not in ("text", "json"):
            raise ValueError("output() format must be 'text' or 'json', got %r" % (format,))
        if query is not None and not isinstance(query, str):
            raise TypeError("output() query must be a str or None")
        for name, value in (("offset", offset), ("limit", limit)):
            if value is None and name == "limit":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError("output() %s must be an int >= 0, got %r" % (name, value))
        args = {"id": str(id), "query": query, "offset": offset, "limit": limit, "format": format}
        try:
            return api.host_call("output", args)
        except api.HostCallError as exc:
            message = str(exc)
            lowered = message.lower()
            if "no host function" in lowered:
                raise RuntimeError("saved outputs are unavailable: this host keeps no artifacts") from None
            if "unknown" in lowered or "not found" in lowered:
                raise OutputNotFoundError(message) from None
            if "offset" in lowered or "limit" in lowered or "query" in lowered:
                raise ValueError(message) from None
            raise

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

    class OutputNotFoundError(FileNotFoundError, KeyError):
        """The host keeps no saved output by that id."""

    class Tools:
        """Host functions as Python functions: ``tool.NAME(**args)`` calls the host
        function ``NAME`` with ``args`` (``host_call`` with a status event).

        ``dir(tool)`` lists the functions the host names in
        ``$PYKERNEL_HOST_FUNCTIONS`` (comma-separated); any other name is still tried.
        """

        __slots__ = ()

        def __getattr__(self, name):
            if name.startswith("_"):
                raise AttributeError(name)
            return ToolFunction(name)

        def __getitem__(self, name):
            if not isinstance(name, str) or not name:
                raise KeyError(name)
            return ToolFunction(name)

        def __dir__(self):
            listed = os.environ.get("PYKERNEL_HOST_FUNCTIONS", "")
            return sorted({name.strip() for name in listed.split(",") if name.strip().isidentifier()})

        def __repr__(self):
            names = self.__dir__()
            return "<tool: %s>" % ", ".join(names) if names else "<tool>"

    class ToolFunction:
        """One host function; calling it calls the host."""

        __slots__ = ("name",)

        def __init__(self, name):
            self.name = name

        def __call__(self, args=None, /, **kwargs):
            import time

            if args is not None and not isinstance(args, dict):
                raise TypeError(
                    "tool.%s(...) takes a dict of arguments, not %s" % (self.name, type(args).__name__)
                )
            merged = dict(args or {})
            merged.update(kwargs)
            start = time.perf_counter()
            try:
                value = api.host_call(self.name, merged)
            except api.HostCallError as exc:
                ms = round((time.perf_counter() - start) * 1000.0, 3)
                status("tool", name=self.name, ok=False, ms=ms, error=str(exc)[:500])
                raise
            ms = round((time.perf_counter() - start) * 1000.0, 3)
            status("tool", name=self.name, ok=True, ms=ms)
            return value

        def __repr__(self):
            return "<tool.%s>" % self.name

    tool = Tools()

    exported = {
        "display": display,
        "env": env,
        "read": read,
        "write": write,
        "output": output,
        "tool": tool,
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
    ["display", "env", "read", "write", "output", "tool", "log", "phase", "parallel", "pipeline", "host_call", "HostCallError"]
)

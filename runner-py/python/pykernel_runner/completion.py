"""Completion: names, attributes, modules, dict keys, paths and magics for ``code`` at
a cursor, found without running user code.

The reader thread hands each ``complete`` request to ``enqueue_complete``; a completer
thread of its own answers it, so neither interrupts nor the running cell ever wait for
a completion. Imported on the first ``complete`` request.
"""

import _queue
import builtins
import os
import sys
import time

from . import running
from .namespace import USER_NS
from .running import start_thread
from .wire import emit, log

_COMPLETE_LIMIT = 1000
_COMPLETE_QUEUE = _queue.SimpleQueue()
_COMPLETER = []  # holds True once the completer thread started
_MODULE_CACHE = {}  # tuple(sys.path) -> (time, names)
_MODULE_CACHE_SECONDS = 30.0


def enqueue_complete(request):
    """The ``complete`` request: answered by the completer thread, so that neither the
    reader (interrupts) nor the main thread (the running cell) ever waits for it."""
    rid = request.get("id")
    if not isinstance(rid, str):
        log("ignored a complete request without a string id")
        return
    code = request.get("code")
    cursor = request.get("cursor")
    if (
        not isinstance(code, str)
        or not isinstance(cursor, int)
        or isinstance(cursor, bool)
        or cursor < 0
    ):
        log("answered a malformed complete request with no matches")
        code, cursor = None, 0
    _COMPLETE_QUEUE.put((rid, code, cursor))
    if not _COMPLETER:
        _COMPLETER.append(True)
        start_thread(_completer_main, "pykernel-completer")


def _completer_main():
    while True:
        rid, code, cursor = _COMPLETE_QUEUE.get()
        try:
            if code is None:
                matches, start, end = [], 0, 0
            else:
                matches, start, end = _complete(code, cursor)
        except BaseException as exc:  # a completion never takes the runner down
            log("completion failed: %r" % (exc,))
            cursor = max(0, min(cursor, len(code or "")))
            matches, start, end = [], cursor, cursor
        emit(
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
        magics = _magics()
        table = magics.CELL_MAGICS if magic.group(1) == "%%" else magics.LINE_MAGICS
        prefix = magic.group(2) or ""
        names = [magic.group(1) + name for name in table if name.startswith(prefix)]
        found = (names, len(magic.group(1)) + len(prefix))
    if found is None:
        path_magic = re.match(r"\s*%(\w+)\s+(?:.*\s)?(\S*)$", line)
        if path_magic is not None and path_magic.group(1) in _magics().PATH_MAGICS:
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


def _magics():
    """The magics module, whose tables name the magics (imported on first use)."""
    return running.rare("magics")


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
    if first in USER_NS:
        obj = USER_NS[first]
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
    names = [name for name in list(USER_NS) if isinstance(name, str)]
    names += dir(builtins)
    names += keyword.kwlist
    names += getattr(keyword, "softkwlist", [])
    return [name for name in names if _visible(name, prefix)], len(prefix)

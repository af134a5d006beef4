"""The wire: the protocol's private file descriptors, frame encoding, and ``emit``.

Frames go out on a private, non-inheritable duplicate of the original stdout, written
whole under ``FRAME_LOCK``; the runner's own notices (``log``) go to a private duplicate
of the original stderr, which the host logs. Requests come in on a duplicate of the
original stdin (``REQ_FD``); fd 0 itself points at /dev/null, so child processes can
never read protocol bytes. JSON goes through the ``_json`` accelerator directly, which
spares importing ``json`` (with ``re`` and ``enum``) at startup.
"""

import _signal as signal
import _thread
import os

from .signals import after_critical, critical

POSIX = os.name == "posix"
FRAME_FD = 1
LOG_FD = 2
REQ_FD = 0
FRAME_LOCK = _thread.allocate_lock()
_ORIG_PPID = os.getppid() if POSIX else None

in_child = False  # a forked child: it never writes to the host
payloads = False  # stream text and large display entries go out as raw payloads


def _max_frame():
    """The longest frame line the host takes (its codec's line limit), newline excluded:
    ``PYKERNEL_MAX_FRAME_BYTES`` from the host (taken out of the environment, so user
    code never sees it), else the protocol's default of 64 MiB."""
    value = os.environ.pop("PYKERNEL_MAX_FRAME_BYTES", "")
    try:
        return max(int(value), 64 * 1024) if value else 64 * 1024 * 1024
    except ValueError:
        return 64 * 1024 * 1024


def _max_display():
    """The largest display payload the host takes (its codec's payload limit):
    ``PYKERNEL_MAX_DISPLAY_BYTES`` from the host (taken out of the environment), else
    256 MiB, the host's default."""
    value = os.environ.pop("PYKERNEL_MAX_DISPLAY_BYTES", "")
    try:
        return max(int(value), 64 * 1024) if value else 256 * 1024 * 1024
    except ValueError:
        return 256 * 1024 * 1024


MAX_FRAME = _max_frame()
MAX_DISPLAY = _max_display()
# Room the notice and the ``truncated`` member take in a cut-down frame.
_NOTICE_ROOM = 4096
# With payloads, a text entry this long goes as a raw part rather than a JSON string:
# nothing to escape, and no line limit.
_PART_MIN = 4096
# MIME types whose values are bytes; a bytes value of another type is UTF-8 text.
BINARY_MIMES = frozenset(("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp",
                          "application/pdf"))


def setup_fds():
    """Moves the protocol onto private fds and points fd 0 at /dev/null (fds 1 and 2
    are pointed at pipes by ``output.capture_fds``). Returns whether that worked."""
    global FRAME_FD, LOG_FD, REQ_FD
    FRAME_FD = os.dup(1)  # os.dup gives non-inheritable descriptors
    LOG_FD = os.dup(2)
    REQ_FD = os.dup(0)
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
    except (OSError, AttributeError) as exc:
        log("fd-level capture unavailable: %s" % exc)
        return False
    return True


def log(message):
    """Writes a notice line to the runner's private stderr (the host's log)."""
    log_text("pykernel-runner: %s\n" % message)


def log_text(text):
    """Writes text as it is to the runner's private stderr."""
    if in_child:
        return
    try:
        data = text.encode("utf-8", "replace")
        while data:
            written = os.write(LOG_FD, data)
            data = data[written:]
    except (OSError, ValueError):
        pass


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


_json_dumps, json_loads = _make_json_codec()


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


def stream_head(stream, rid):
    """A stream frame up to the opening quote of its ``data``, as ``_encode_frame``
    writes it (or, with payloads, up to its ``bytes`` count); None when the id cannot go
    out as UTF-8."""
    member = "bytes\":" if payloads else "data\":\""
    try:
        return ('{"type":"%s","id":%s,"%s' % (stream, _json_dumps(rid), member)).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        return None


def stream_frame(head, text):
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
    if payloads:
        # The header line, then the UTF-8 as it is: nothing to escape.
        return b"".join((head, b"%d}\n" % len(data), data, b"\n"))
    for raw, escape in _JSON_ESCAPES:
        data = data.replace(raw, escape)
    return b"".join((head, data, b'"}\n'))


@critical
def emit(frame):
    """Writes one frame to the host: one line (or a header line and its payload),
    written whole under the frame lock.

    A frame with a bundle goes through ``_bundle_data``, which sends large entries as
    raw payload parts and cuts a bundle over the host's limits down to fit; any other
    frame over the line limit would be skipped there, so it is logged and not sent."""
    if in_child:
        return
    if isinstance(frame.get("bundle"), dict) and "id" in frame:
        data = _bundle_data(frame)
    else:
        data = _encode_frame(frame)
        if len(data) - 1 > MAX_FRAME:
            log("dropped a %s frame of %d bytes: over the host's limit of %d bytes"
                % (frame.get("type"), len(data) - 1, MAX_FRAME))
            return
    if data is None:
        return
    try:
        with FRAME_LOCK:
            send_bytes(data)
    finally:
        after_critical()


def _b64(data):
    import base64

    return base64.b64encode(data).decode("ascii")


def _split_bundle(bundle):
    """(inline, parts): the entries that go in the header's ``bundle``, and
    ``(mime, raw bytes, binary)`` for those that go as payload parts.

    Bytes of a binary type (an image a repr gave as bytes) are a binary part with
    payloads, base64 in the bundle without; bytes of another type are UTF-8 text. With
    payloads, a text entry of ``_PART_MIN`` bytes or more is a text part."""
    inline = {}
    parts = []
    for mime, value in bundle.items():
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
            if mime not in BINARY_MIMES:
                value = value.decode("utf-8", "replace")
            elif payloads:
                parts.append((mime, value, True))
                continue
            else:
                value = _b64(value)
        if payloads and isinstance(value, str) and len(value) >= _PART_MIN:
            try:
                parts.append((mime, value.encode("utf-8"), False))
                continue
            except UnicodeEncodeError:
                pass  # lone surrogates: the JSON path makes them U+FFFD
        inline[mime] = value
    return inline, parts


def _bundle_data(frame):
    """The bytes to send for a frame with a bundle, cut down to the host's limits when
    over them; None when even that does not fit."""
    inline, parts = _split_bundle(frame["bundle"])
    data = _frame_bytes(frame, inline, parts)
    if data is not None:
        return data
    return _fit_bundle(frame, inline, parts)


def _frame_bytes(frame, inline, parts, **extra):
    """The header line (with ``parts`` and ``bytes`` last) and payload, or one JSON line
    without parts; None when over the line limit or the payload limit."""
    head = dict(frame, bundle=inline, **extra)
    if not parts:
        data = _encode_frame(head)
        return data if len(data) - 1 <= MAX_FRAME else None
    total = sum(len(raw) for _, raw, _ in parts)
    if total > MAX_DISPLAY:
        return None
    head["parts"] = [
        dict(mime=mime, bytes=len(raw), **({"binary": True} if binary else {}))
        for mime, raw, binary in parts
    ]
    line = _encode_frame(head)
    if len(line) - 1 > MAX_FRAME:
        return None
    # ``bytes`` must be the header's last member.
    return b"".join([line[:-2], b',"bytes":%d}\n' % total] + [raw for _, raw, _ in parts] + [b"\n"])


def _fit_bundle(frame, inline, parts):
    """The bytes for ``frame`` cut down to the host's limits, or None.

    Inline entries count against the line limit, payload parts against the display cap.
    Entries go largest first, from whichever side is over, until both fit;
    ``text/plain``, when it is the one that is too large, keeps as much of its start as
    fits. ``text/plain`` then ends with a notice naming what was cut and how large it
    was, the frame's ``truncated`` member maps each cut type to its size (its raw bytes
    for a part, its JSON text inline), and a line on the cell's stderr says the same, so
    no consumer misses it.
    """
    sizes = {mime: len(_encode_frame(value)) - 1 for mime, value in inline.items()}
    overhead = len(_encode_frame(dict(frame, bundle={}))) - 1
    budgets = {
        False: MAX_FRAME - _NOTICE_ROOM - overhead,
        True: MAX_DISPLAY - _NOTICE_ROOM,
    }
    entries = [(mime, False) for mime in inline]
    for mime, raw, _ in parts:
        sizes[mime] = len(raw)
        entries.append((mime, True))

    def used(is_part):
        return sum(sizes[mime] for mime, part in entries if part == is_part)

    cut = {}
    for mime, is_part in sorted(entries, key=lambda entry: sizes[entry[0]], reverse=True):
        if used(is_part) > budgets[is_part]:
            entries.remove((mime, is_part))
            cut[mime] = sizes[mime]
    kept_inline = {mime: inline[mime] for mime, part in entries if not part}
    kept_parts = [part for part in parts if (part[0], True) in entries]
    limits = []
    if any(mime in inline for mime in cut):
        limits.append("the %d-byte frame limit" % MAX_FRAME)
    if any(mime not in inline for mime in cut):
        limits.append("the %d-byte display limit" % MAX_DISPLAY)
    what = ["%s of %d bytes dropped" % (mime, cut[mime]) for mime in sorted(cut)]
    plain = frame["bundle"].get("text/plain")
    if "text/plain" in cut and isinstance(plain, (str, bytes, bytearray)):
        if not isinstance(plain, str):
            plain = bytes(plain).decode("utf-8", "replace")
        is_part = "text/plain" not in inline
        room = max(budgets[is_part] - used(is_part), 0)
        # Four bytes per character at worst in UTF-8, six inline (a \u00XX escape).
        prefix = plain[: room // (4 if is_part else 6)]
        if prefix and is_part:
            raw = prefix.encode("utf-8", "replace")
            kept_parts.append(("text/plain", raw, False))
            kept, whole = len(raw), cut["text/plain"]
        elif prefix:
            kept_inline["text/plain"] = prefix
            kept, whole = len(_encode_frame(prefix)) - 3, cut["text/plain"] - 2
        if prefix:
            what[sorted(cut).index("text/plain")] = (
                "text/plain cut to its first %d of %d bytes" % (kept, whole))
    notice = "output truncated: %s, over %s" % (", ".join(what), " and ".join(limits))
    text = None
    for index, (mime, raw, binary) in enumerate(kept_parts):
        if mime == "text/plain":
            kept_parts[index] = (mime, raw + ("\n[%s]" % notice).encode("utf-8"), binary)
            break
    else:
        text = kept_inline.get("text/plain")
        if not isinstance(text, str):
            text = None
        kept_inline["text/plain"] = (text + "\n" if text else "") + "[%s]" % notice
    emit({"type": "stderr", "id": frame["id"], "data": "pykernel: %s\n" % notice})
    data = _frame_bytes(frame, kept_inline, kept_parts, truncated=cut)
    if data is None:
        log("dropped a %s frame: over the host's limit even cut down" % frame.get("type"))
    return data


@critical
def send_bytes(data):
    """Writes ``data`` (whole frame lines) to the host; the caller holds FRAME_LOCK."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(FRAME_FD, view)
        except InterruptedError:
            continue
        except OSError:
            host_gone()
            return
        view = view[written:]


def emit_for(ex, frame):
    """Emits a frame about ``ex`` unless its ``done`` has already gone out."""
    if ex.finished:
        log("dropped a %s frame for finished execution %r" % (frame.get("type"), ex.id))
        return
    emit(frame)


def host_gone(*_signal_args):
    """The host is gone: take down every descendant and our process group (if we lead
    it), then exit. Also the SIGHUP handler: the host asks Linux to send SIGHUP when it
    dies."""
    kill_descendants()
    try:
        if POSIX and os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    except OSError:
        pass
    os._exit(0)


def terminated(signum, _frame):
    """The SIGTERM handler: take down every descendant (a daemon in a session of its own
    is not in our group), then die of the signal, as without a handler."""
    kill_descendants()
    try:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    except OSError:
        pass
    os._exit(128 + signum)


def install_stop_handlers():
    """Catches SIGHUP (the host died) and SIGTERM (the host's shutdown) so descendants
    the runner adopted as a child subreaper go with it."""
    if not POSIX:
        return
    for signum, handler in ((signal.SIGHUP, host_gone), (signal.SIGTERM, terminated)):
        try:
            signal.signal(signum, handler)
        except (OSError, ValueError):
            pass


def kill_descendants():
    """SIGKILLs every process whose chain of parents leads to the runner, read from
    /proc (Linux; elsewhere nothing is found). The host makes the runner a child
    subreaper, so orphans, double-forked daemons included, are re-parented to it and
    found here."""
    me = os.getpid()
    for _ in range(3):  # a child may fork while we look; look again
        try:
            names = os.listdir("/proc")
        except OSError:
            return
        children = {}
        for name in names:
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    stat = f.read()
                ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(name))
        found = []
        todo = list(children.get(me, ()))
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, ()))
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def check_parent():
    """Exits as ``host_gone`` does when the runner has been re-parented: its host died."""
    if _ORIG_PPID is not None and os.getppid() != _ORIG_PPID:
        host_gone()


def after_fork_in_child():
    """A forked child must never touch the protocol: close its fds, stay silent."""
    global in_child
    in_child = True
    # The runner's stop handlers are about the runner and its descendants.
    for signum in (signal.SIGHUP, signal.SIGTERM) if POSIX else ():
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    for fd in (FRAME_FD, LOG_FD, REQ_FD):
        try:
            os.close(fd)
        except OSError:
            pass

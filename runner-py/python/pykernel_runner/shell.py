"""Shell escapes: ``!cmd`` streams a shell command's output, ``x = !cmd`` captures its
lines as an ``SList`` while streaming them too (unless ``$PYKERNEL_SHELL_TEE`` is ``0``);
output is bounded (1 MiB, 3000 lines), and an interrupt stops the child. Also the ``$name``/``{expr}`` expansion that shell escapes and magics share.

Imported on first use (through ``__pykernel__`` or a magic).
"""

import _queue
import _signal as signal
import _thread
import codecs
import os
import re
import sys
import time

from .namespace import USER_NS
from .wire import POSIX

_NAME = re.compile(r"[A-Za-z_]\w*")


_SHELL_MAX_BYTES = 1024 * 1024
_SHELL_MAX_LINES = 3000
_SHELL_NOTICE = (
    "[output truncated: shell helper exceeded 1048576 bytes or 3000 lines; "
    "remaining output discarded]"
)


def caller_ns(depth):
    """The namespace magics expand ``$name``/``{expr}`` in: the calling frame's."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return USER_NS
    if frame.f_locals is frame.f_globals:
        return frame.f_globals
    ns = dict(frame.f_globals)
    ns.update(frame.f_locals)
    return ns


def expand(text, ns):
    """IPython-style expansion: ``$name`` and ``{expr}``; ``$$``, ``{{``, ``}}`` escape.

    Anything that does not resolve is left as written, so shell syntax such as
    ``$HOME`` or ``awk '{print $1}'`` passes through.
    """
    if "$" not in text and "{" not in text and "}" not in text:
        return text
    name_re = _NAME
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


def run_streaming(
    argv,
    shell=False,
    merge=True,
    capture=None,
    tee=False,
    observe=None,
    tty=False,
    stdin_data=None,
    captures=None,
):
    """Runs a child and streams its output, bounded.

    Its stdin is /dev/null, or ``stdin_data`` (bytes) written by a thread. Output goes
    to ``sys.stdout``/``sys.stderr`` as it arrives, or into the list ``capture`` (the
    truncation notice still goes to stdout), or with ``tee`` both; ``captures`` maps a
    stream name to a list that takes that stream alone. With ``tty`` (POSIX) stdout and
    stderr are one pseudo-terminal of 80 columns, as ipykernel runs ``!cmd`` (through
    pexpect): tools format for a terminal and lines end in ``\\r\\n``. ``observe``
    sees every byte the child writes, even past the bound. Returns the exit code. On
    KeyboardInterrupt the child gets SIGINT, then SIGKILL, and the interrupt propagates.
    """
    import subprocess

    master, slave = _open_pty() if tty and POSIX else (None, None)
    stdin = subprocess.DEVNULL if stdin_data is None else subprocess.PIPE
    try:
        if master is not None:
            proc = subprocess.Popen(
                argv, shell=shell, stdin=stdin, stdout=slave, stderr=slave, close_fds=True
            )
        else:
            proc = subprocess.Popen(
                argv,
                shell=shell,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                close_fds=True,
            )
    except BaseException:
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)
        raise
    if master is not None:
        # Only the child holds the terminal now, so reading ends when it and its
        # children are done.
        os.close(slave)
        reader = os.fdopen(master, "rb", buffering=0)
        pipes = {master: ("stdout", reader)}
    else:
        pipes = {proc.stdout.fileno(): ("stdout", proc.stdout)}
        if not merge:
            pipes[proc.stderr.fileno()] = ("stderr", proc.stderr)
    if stdin_data is not None:
        _thread.start_new_thread(_feed_stdin, (proc.stdin, stdin_data))
    limiter = _Limiter()
    decoders = {}
    at_line_start = {"stdout": True, "stderr": True}

    def sink(stream, text):
        if not text:
            return
        at_line_start[stream] = text.endswith("\n")
        if captures is not None and stream in captures:
            captures[stream].append(text)
            return
        if capture is not None:
            capture.append(text)
            if not tee:
                return
        if stream == "stdout":
            sys.stdout.write(text)
        else:
            sys.stderr.write(text)

    def feed(stream, data):
        if observe is not None:
            observe(data)
        if limiter.cut:
            return
        kept, cut = limiter.admit(data)
        decoder = decoders.get(stream)
        if decoder is None:
            decoder = decoders[stream] = codecs.getincrementaldecoder("utf-8")("replace")
        sink(stream, decoder.decode(kept, final=cut))
        if cut:
            quiet = capture is not None and not tee
            newline = "" if (quiet or at_line_start[stream]) else "\n"
            sys.stdout.write(newline + _SHELL_NOTICE + "\n")

    try:
        if POSIX:
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


def _open_pty():
    """A pseudo-terminal pair (master, slave) sized 24x80 as pexpect's, or (None, None)
    when the platform has none."""
    try:
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
    except (ImportError, OSError):
        return None, None
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    except OSError:
        pass
    return master, slave


def _feed_stdin(pipe, data):
    """Writes ``data`` to a child's stdin and closes it; a child that stops reading
    early is not an error."""
    try:
        pipe.write(data)
    except OSError:
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


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
            try:
                data = os.read(fd, 65536)
            except OSError:
                # A pseudo-terminal's master reads EIO once no one holds the slave.
                data = b""
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


def system(cmd):
    """``!cmd``: runs through the shell, streaming merged output; sets ``_exit_code``."""
    run_shell(expand(cmd, caller_ns(1)))
    return None


def run_shell(cmd):
    code = run_streaming(cmd, shell=True, tty=True)
    USER_NS["_exit_code"] = code
    return code


def getoutput(cmd, tee=None):
    """``x = !cmd``: runs through the shell and returns its output lines as an SList.

    The output streams as it comes too, so a long command shows its progress, unless
    ``tee`` is false or, by default, ``$PYKERNEL_SHELL_TEE`` is ``0`` (IPython's quiet
    capture).
    """
    cmd = expand(cmd, caller_ns(1))
    captured = []
    if tee is None:
        tee = os.environ.get("PYKERNEL_SHELL_TEE", "1").strip() != "0"
    code = run_streaming(cmd, shell=True, capture=captured, tee=tee)
    lines = SList("".join(captured).splitlines())
    lines.returncode = code
    USER_NS["_exit_code"] = code
    return lines

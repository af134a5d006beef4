"""Drives the runner package as a real subprocess over NDJSON.

Every test talks to a fresh runner through `Kernel`: `run(code, **opts)` sends one
execute request and returns the frames of that execution, `started` to `done`.
Timeouts are generous and only catch hangs.
"""

import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"
# The package directory, started as `python -u <dir>` (its __main__.py).
RUNNER = PYTHON_DIR / "pykernel_runner"
PRELUDE = (PYTHON_DIR / "prelude.py").read_text(encoding="utf-8")
TIMEOUT = 60.0


class Kernel:
    """One runner process and the frames it sends."""

    def __init__(self, cwd=None, env=None, prelude=True, payloads=True):
        child_env = dict(os.environ if env is None else env)
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env["PYTHONIOENCODING"] = "utf-8"
        # Stream text as raw payloads after a header line, as the Rust host asks for it
        # (``payloads=False``: every frame one JSON line).
        child_env.pop("PYKERNEL_STREAM_PAYLOADS", None)
        if payloads:
            child_env["PYKERNEL_STREAM_PAYLOADS"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(RUNNER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=child_env,
            start_new_session=True,
        )
        self.frames = queue.Queue()
        self.raw_lines = []
        # Cleared by pause_reading(): the reader stops taking lines off the pipe.
        self._reading = threading.Event()
        self._reading.set()
        self._stderr = []
        self._seq = 0
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.hello = self.next_frame()
        if prelude:
            frames = self.run(PRELUDE, silent=True, storeHistory=False)
            assert done(frames)["status"] == "ok", frames

    def _read_stdout(self):
        """Frames as they come; a payload's text becomes the frame's ``data`` (a
        display's parts go into its bundle), and its raw line holds the header and the
        payload."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                break
            self._reading.wait()
            frame = json.loads(line)
            if "bytes" in frame:
                payload = self.proc.stdout.read(frame.pop("bytes") + 1)
                line += payload
                if not payload.endswith(b"\n"):
                    frame = {"type": "bad payload", "line": line}
                elif "parts" in frame:
                    # A display's parts: text as strings, binary as base64, as the host.
                    offset = 0
                    for part in frame.pop("parts"):
                        raw = payload[offset : offset + part["bytes"]]
                        offset += part["bytes"]
                        value = base64.b64encode(raw).decode() if part.get("binary") else raw.decode()
                        frame["bundle"][part["mime"]] = value
                else:
                    frame["data"] = payload[:-1].decode("utf-8")
            self.raw_lines.append(line)
            self.frames.put(frame)
        self.frames.put(None)

    def _read_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line.decode("utf-8", "replace"))

    @property
    def log(self):
        """What the runner wrote to its own stderr."""
        return "".join(self._stderr)

    def wait_log(self, text, timeout=TIMEOUT):
        """Waits until the runner's own stderr contains `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.log:
            assert time.monotonic() < deadline, "%r never logged; log:\n%s" % (text, self.log)
            time.sleep(0.02)

    def next_frame(self, timeout=TIMEOUT):
        try:
            frame = self.frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no frame within %s s; log:\n%s" % (timeout, self.log)) from None
        if frame is None:
            raise AssertionError("runner closed its output; log:\n%s" % self.log)
        return frame

    def pause_reading(self):
        """Stops reading the runner's frames (a host that falls behind), after at most the
        line being read."""
        self._reading.clear()

    def resume_reading(self):
        self._reading.set()

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode("utf-8") + b"\n")

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def start(self, code, **opts):
        """Sends an execute request without waiting; returns its id."""
        self._seq += 1
        rid = opts.pop("id", "r%d" % self._seq)
        request = {"id": rid, "code": code}
        request.update(opts)
        self.send(request)
        return rid

    def collect(self, rid, timeout=TIMEOUT):
        """Frames of execution `rid` up to and including its `done`."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next_frame(max(0.1, deadline - time.monotonic()))
            assert frame.get("id") == rid, "frame for another id: %r" % (frame,)
            frames.append(frame)
            if frame["type"] == "done":
                return frames

    def wait_for(self, rid, kind, timeout=TIMEOUT):
        """Frames of `rid` up to the first one of type `kind` (which must come before done)."""
        frames = []
        while True:
            frame = self.next_frame(timeout)
            assert frame.get("id") == rid, frame
            frames.append(frame)
            if frame["type"] == kind:
                return frames
            assert frame["type"] != "done", "done before %s: %r" % (kind, frames)

    def run(self, code, timeout=TIMEOUT, **opts):
        return self.collect(self.start(code, **opts), timeout)

    def signal(self, signum=signal.SIGINT):
        self.proc.send_signal(signum)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send({"type": "exit"})
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            try:
                self.proc.stdin.close()
            except OSError:
                pass


def stdout(frames):
    return "".join(f["data"] for f in frames if f["type"] == "stdout")


def stderr(frames):
    return "".join(f["data"] for f in frames if f["type"] == "stderr")


def of_type(frames, kind):
    return [f for f in frames if f["type"] == kind]


def done(frames):
    assert frames[-1]["type"] == "done", frames
    return frames[-1]


def result(frames):
    """The `text/plain` of the execution's result, or None when there is none."""
    results = of_type(frames, "result")
    assert len(results) <= 1, frames
    return results[0]["bundle"]["text/plain"] if results else None


def error(frames):
    errors = of_type(frames, "error")
    assert len(errors) == 1, frames
    return errors[0]


def ok(frames):
    """Asserts the execution succeeded and returns its stdout."""
    assert done(frames)["status"] == "ok", frames
    return stdout(frames)


def statuses(frames):
    return [
        f["bundle"]["application/x-pykernel-status"]
        for f in of_type(frames, "display")
        if "application/x-pykernel-status" in f["bundle"]
    ]


@pytest.fixture
def kernel(tmp_path):
    k = Kernel(cwd=str(tmp_path))
    yield k
    k.close()


@pytest.fixture
def bare_kernel(tmp_path):
    """A runner without the prelude."""
    k = Kernel(cwd=str(tmp_path), prelude=False)
    yield k
    k.close()


def alive(pid):
    """Whether process ``pid`` still runs (a zombie counts as dead: it has exited)."""
    try:
        with open("/proc/%d/status" % pid) as handle:
            return "\nState:\tZ" not in handle.read()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

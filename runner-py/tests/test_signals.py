"""Interrupts: SIGINT and the in-band `interrupt` request."""

import os
import signal
import time

import pytest

from conftest import alive, done, error, ok, result, stdout

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def start_and_wait_until_ready(kernel, code):
    """Starts a cell that prints 'ready' before blocking; returns its id."""
    rid = kernel.start("print('ready', flush=True)\n" + code)
    frames = kernel.wait_for(rid, "stdout")
    assert frames[-1]["data"] == "ready\n"
    # Let the cell get from the print into the blocking call (only a margin; the
    # assertions do not depend on where the interrupt lands).
    time.sleep(0.2)
    return rid


def assert_cancelled(frames):
    assert error(frames)["ename"] == "KeyboardInterrupt"
    assert done(frames)["status"] == "error"
    assert done(frames)["cancelled"] is True


def test_sigint_while_idle_is_ignored(kernel):
    ok(kernel.run("kept = 'value'"))
    for _ in range(3):
        kernel.signal(signal.SIGINT)
    time.sleep(0.3)
    assert kernel.proc.poll() is None
    assert result(kernel.run("kept")) == "'value'"


def test_sigint_interrupts_a_sleep(kernel):
    ok(kernel.run("kept = 1"))
    rid = start_and_wait_until_ready(kernel, "import time\ntime.sleep(60)")
    kernel.signal(signal.SIGINT)
    frames = kernel.collect(rid)
    assert_cancelled(frames)
    assert 'File "<cell-2>", line' in "\n".join(error(frames)["traceback"])
    assert result(kernel.run("kept + 1")) == "2"


def test_sigint_interrupts_a_busy_loop(kernel):
    rid = start_and_wait_until_ready(kernel, "n = 0\nwhile True:\n    n += 1")
    kernel.signal(signal.SIGINT)
    assert_cancelled(kernel.collect(rid))
    assert result(kernel.run("n > 0")) == "True"


def test_sigint_cancels_a_cell_suspended_in_await(kernel):
    rid = kernel.start(
        "import asyncio\n"
        "try:\n"
        "    print('ready', flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "finally:\n"
        "    cleaned_up = True",
    )
    kernel.wait_for(rid, "stdout")
    time.sleep(0.2)
    kernel.signal(signal.SIGINT)
    frames = kernel.collect(rid)
    assert done(frames)["cancelled"] is True
    assert done(frames)["status"] == "error"
    assert kernel.proc.poll() is None
    assert result(kernel.run("cleaned_up")) == "True"
    assert result(kernel.run("await asyncio.sleep(0, result='loop still works')")) == "'loop still works'"


def test_sigint_interrupts_a_cell_blocked_in_a_thread_join(kernel):
    rid = start_and_wait_until_ready(
        kernel, "import threading, time\nt = threading.Thread(target=time.sleep, args=(60,), daemon=True)\nt.start()\nt.join()"
    )
    kernel.signal(signal.SIGINT)
    assert_cancelled(kernel.collect(rid))


def test_in_band_interrupt_cancels_a_sleep(kernel):
    rid = start_and_wait_until_ready(kernel, "import time\ntime.sleep(60)")
    kernel.send({"type": "interrupt"})
    assert_cancelled(kernel.collect(rid))
    assert ok(kernel.run("print('next')")) == "next\n"


def test_in_band_interrupt_cancels_an_await(kernel):
    rid = start_and_wait_until_ready(kernel, "import asyncio\nawait asyncio.sleep(60)")
    kernel.send({"type": "interrupt"})
    assert done(kernel.collect(rid))["cancelled"] is True
    assert ok(kernel.run("print('next')")) == "next\n"


def test_in_band_interrupt_while_idle_is_ignored(kernel):
    kernel.send({"type": "interrupt"})
    time.sleep(0.2)
    frames = kernel.run("import time\ntime.sleep(0.3)\nprint('not interrupted')")
    assert ok(frames) == "not interrupted\n"


def test_interrupting_a_shell_command_stops_the_child(kernel, tmp_path):
    pid_file = tmp_path / "child.pid"
    # `$$$$` is IPython's escape for the shell's `$$`.
    rid = kernel.start("!echo $$$$ > %s; echo started; exec sleep 60" % pid_file)
    assert kernel.wait_for(rid, "stdout")[-1]["data"] == "started\r\n"
    kernel.signal(signal.SIGINT)
    assert_cancelled(kernel.collect(rid))
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while alive(child):
        assert time.monotonic() < deadline, "the shell child survived the interrupt"
        time.sleep(0.05)


def test_output_before_the_interrupt_is_kept(kernel):
    rid = start_and_wait_until_ready(kernel, "print('partial', end='')\nimport time\ntime.sleep(60)")
    kernel.signal(signal.SIGINT)
    frames = kernel.collect(rid)
    assert stdout(frames) == "partial"
    assert_cancelled(frames)


def test_many_interrupts_never_corrupt_frames(kernel):
    # Interrupts that land while frames are being written must not cut a frame in
    # half: every line the runner sends stays valid JSON.
    for round_number in range(5):
        rid = kernel.start(
            "print('ready', flush=True)\n"
            "while True:\n"
            "    print('x' * 3000, flush=True)"
        )
        kernel.wait_for(rid, "stdout")
        for _ in range(3):
            kernel.signal(signal.SIGINT)
            time.sleep(0.01)
        frames = kernel.collect(rid)
        assert done(frames)["cancelled"] is True
        assert set(stdout(frames).replace("ready\n", "")) <= {"x", "\n"}
    assert result(kernel.run("'fine'")) == "'fine'"


@pytest.mark.parametrize("how", ["sigint", "in-band"])
def test_one_interrupt_cancels_a_tight_write_loop_and_output_still_works(kernel, how):
    # These loops spend most of their time inside the stream's write(), where an
    # interrupt is deferred to the end of the write: a single one must still land
    # (a lost one would leave the cell running into the timeout), and leave the output
    # path usable.
    loops = ["while True:\n    print('x')", "import sys\nwhile True:\n    sys.stdout.write('x')"]
    for round_number in range(10):
        rid = kernel.start("print('ready', flush=True)\n" + loops[round_number % 2])
        kernel.wait_for(rid, "stdout")
        if how == "sigint":
            kernel.signal(signal.SIGINT)
        else:
            kernel.send({"type": "interrupt"})
        frames = []
        deadline = time.monotonic() + 10
        while not frames or frames[-1]["type"] != "done":
            assert time.monotonic() < deadline, "the interrupt did not land"
            frames.append(kernel.next_frame())
            assert frames[-1]["id"] == rid, frames[-1]
        assert_cancelled(frames)
        assert set(stdout(frames).replace("ready\n", "")) <= {"x", "\n"}
        assert ok(kernel.run("print('still writing', %d)" % round_number, timeout=10)) == (
            "still writing %d\n" % round_number
        )

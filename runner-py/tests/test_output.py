"""stdout/stderr: coalescing, streaming, threads, and fd-level capture."""

import json
import os
import sys
import time

import pytest

from conftest import Kernel, done, of_type, ok, result, stderr, stdout


def test_many_prints_coalesce_into_few_frames(kernel):
    frames = kernel.run("for i in range(10000):\n    print(i)")
    assert stdout(frames) == "".join("%d\n" % i for i in range(10000))
    assert len(of_type(frames, "stdout")) <= 5


def test_large_output_goes_out_in_bounded_frames(kernel):
    frames = kernel.run("line = 'y' * 999\nfor _ in range(1000):\n    print(line)")
    chunks = of_type(frames, "stdout")
    assert stdout(frames) == ("y" * 999 + "\n") * 1000
    assert len(chunks) >= 10
    # At most the flush size plus one batch of hot-path writes (64 chunks) per frame.
    assert max(len(c["data"]) for c in chunks) <= 64 * 1024 + 64 * 1000


def test_a_host_that_stops_reading_holds_the_printing_cell_back(kernel):
    # While the host reads nothing, the cell must block on the full pipe rather than
    # keep its output in memory; all of it arrives once the host reads again.
    assert ok(kernel.run("print('warm')")) == "warm\n"
    baseline = vm_rss_kib(kernel.proc.pid)
    kernel.pause_reading()
    rid = kernel.start("line = 'p' * 1023\nfor _ in range(32 * 1024):\n    print(line)")
    time.sleep(1.0)
    held = vm_rss_kib(kernel.proc.pid)
    kernel.resume_reading()
    frames = kernel.collect(rid, timeout=120)
    assert ok(frames) == ("p" * 1023 + "\n") * (32 * 1024)
    # 32 MB printed; a runner that buffered it would have grown by about that much.
    assert held - baseline < 8 * 1024, (baseline, held)


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def test_fifty_megabytes_of_prints_need_few_frames(kernel):
    frames = kernel.run("line = 'z' * 1023\nfor _ in range(51200):\n    print(line)", timeout=120)
    chunks = of_type(frames, "stdout")
    assert sum(len(c["data"]) for c in chunks) == 50 * 1024 * 1024
    assert len(chunks) < 2000


def test_output_streams_while_the_cell_is_still_running(kernel, tmp_path):
    # The cell waits for a file only the test creates after it has seen the first
    # frame: if output were held until the end of the cell, this would hang.
    flag = tmp_path / "go"
    rid = kernel.start(
        "import os, time\n"
        "print('first')\n"
        "while not os.path.exists(%r):\n"
        "    time.sleep(0.01)\n"
        "print('second')" % str(flag)
    )
    early = kernel.wait_for(rid, "stdout")
    assert early[-1]["data"] == "first\n"
    flag.write_text("")
    rest = kernel.collect(rid)
    assert stdout(rest) == "second\n"


def test_flush_emits_a_partial_line_at_once(kernel, tmp_path):
    flag = tmp_path / "go"
    rid = kernel.start(
        "import os, sys, time\n"
        "sys.stdout.write('no newline')\n"
        "sys.stdout.flush()\n"
        "while not os.path.exists(%r):\n"
        "    time.sleep(0.01)" % str(flag)
    )
    assert kernel.wait_for(rid, "stdout")[-1]["data"] == "no newline"
    flag.write_text("")
    ok(kernel.collect(rid))


def test_stdout_and_stderr_keep_their_relative_order(kernel):
    frames = kernel.run("import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')")
    assert [(f["type"], f["data"]) for f in frames[1:-1]] == [
        ("stdout", "a\n"),
        ("stderr", "b\n"),
        ("stdout", "c\n"),
    ]


def test_the_stream_objects_look_like_text_files(kernel):
    frames = kernel.run(
        "import sys\n"
        "s = sys.stdout\n"
        "print(s.isatty(), s.fileno(), sys.stderr.fileno(), s.encoding, s.writable(), s.closed)\n"
        "s.buffer.write('caf\u00e9\\n'.encode())\n"
        "s.writelines(['x', 'y\\n'])\n"
        "s.close()\n"
        "print('after close')"
    )
    assert ok(frames) == "False 1 2 utf-8 True False\ncaf\u00e9\nxy\nafter close\n"


def test_writing_bytes_to_the_text_stream_is_a_type_error(kernel):
    frames = kernel.run("import sys\nsys.stdout.write(b'x')")
    assert of_type(frames, "error")[0]["ename"] == "TypeError"


def test_prints_from_threads_go_to_the_running_cell(kernel):
    frames = kernel.run(
        "import threading\n"
        "def work(n):\n"
        "    print('thread', n)\n"
        "threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()"
    )
    assert sorted(stdout(frames).splitlines()) == ["thread %d" % i for i in range(4)]


def test_output_while_idle_goes_out_under_the_cell_that_ended_last(kernel):
    ok(
        kernel.run(
            "import threading, time\n"
            "def later():\n"
            "    time.sleep(0.2)\n"
            "    print('idle chatter', flush=True)\n"
            "threading.Thread(target=later).start()",
            id="spawner",
        )
    )
    frame = kernel.next_frame()
    assert (frame["type"], frame["id"], frame["data"]) == ("stdout", "spawner", "idle chatter\n")
    assert "idle chatter" not in kernel.log


def test_os_system_output_is_captured(kernel):
    frames = kernel.run("import os\nos.system('echo from-shell; echo to-err >&2')")
    assert ok(frames) == "from-shell\n"
    assert stderr(frames) == "to-err\n"


def test_subprocess_output_without_capture_is_captured(kernel):
    frames = kernel.run(
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', 'import sys; print(\"child out\"); print(\"child err\", file=sys.stderr)'])"
    )
    assert "child out\n" in stdout(frames)
    assert stderr(frames) == "child err\n"


def test_raw_fd_writes_are_captured(kernel):
    frames = kernel.run("import os\nos.write(1, b'fd one\\n')\nos.write(2, b'fd two\\n')")
    assert stdout(frames) == "fd one\n"
    assert stderr(frames) == "fd two\n"


def test_c_level_stdio_is_flushed_and_captured(kernel):
    if not sys.platform.startswith("linux"):
        pytest.skip("needs glibc printf")
    frames = kernel.run("import ctypes\nlibc = ctypes.CDLL(None)\nlibc.printf(b'from printf\\n')")
    assert "from printf\n" in stdout(frames)


def test_c_output_past_the_pipe_size_with_the_gil_held_arrives_whole_and_in_order(kernel):
    # printf through PyDLL keeps the GIL: a drain thread in the runner could not run, and
    # the 64 KiB pipe would block the cell forever.
    if not sys.platform.startswith("linux"):
        pytest.skip("needs glibc printf")
    frames = kernel.run(
        "import ctypes, sys\nlibc = ctypes.PyDLL(None)\nprint('before')\n"
        "libc.printf(b'%s\\n', b'z' * 100000)\nlibc.fflush(None)\nsys.stdout.flush()\n"
        "print('after')"
    )
    assert stdout(frames) == "before\n" + "z" * 100000 + "\nafter\n"


def test_megabytes_written_by_c_with_the_gil_held_keep_their_order_with_print(kernel):
    # Past the relay's memory cap (32 MiB) what it holds spills to a file; every byte
    # still arrives, between the prints around it (a flush syncs the fds: the C call kept
    # the flusher from running), and stderr keeps its own text.
    if not sys.platform.startswith("linux"):
        pytest.skip("needs the C write()")
    frames = kernel.run(
        "import ctypes, sys\nlibc = ctypes.PyDLL(None)\n"
        "block = b''.join(b'%07d\\n' % i for i in range(5000000))\n"
        "print('start')\nlibc.write(2, b'err\\n', 4)\n"
        "assert libc.write(1, block, len(block)) == len(block)\nsys.stdout.flush()\n"
        "print('end')"
    )
    ok(frames)
    out = stdout(frames)
    want = "".join("%07d\n" % i for i in range(5000000))
    assert out[:6] == "start\n" and out[-4:] == "end\n"
    assert out[6:-4] == want
    assert stderr(frames) == "err\n"


def test_a_crash_leaves_its_python_traceback_in_the_runner_log(kernel):
    # The host keeps the log's tail for the kernel's death error.
    kernel.start("import ctypes\ndef crash():\n    ctypes.string_at(0)\ncrash()")
    assert kernel.proc.wait(timeout=30) == -11
    deadline = time.monotonic() + 30
    while "Fatal Python error: Segmentation fault" not in kernel.log:
        assert time.monotonic() < deadline, "no crash text in the log: %s" % kernel.log
        time.sleep(0.05)
    assert 'line 3 in crash' in kernel.log


def test_a_segfaults_fd_2_text_reaches_the_runner_log(kernel):
    # faulthandler writes to fd 2, a capture pipe: the relay outlives the runner and
    # logs what the runner never read, so the host's exit report carries it.
    if not sys.platform.startswith("linux"):
        pytest.skip("needs the fd relay")
    kernel.start("import ctypes, faulthandler\nfaulthandler.enable()\nctypes.string_at(0)")
    assert kernel.proc.wait(timeout=30) == -11
    deadline = time.monotonic() + 30
    while "Fatal Python error: Segmentation fault" not in kernel.log:
        assert time.monotonic() < deadline, "no crash text in the log: %s" % kernel.log
        time.sleep(0.05)
    assert "most recent call first" in kernel.log


def test_a_child_cannot_spoof_frames(kernel):
    fake_done = json.dumps({"type": "done", "id": "r2", "status": "ok", "executionCount": 99, "cancelled": False})
    fake_hello = json.dumps({"type": "hello", "protocol": 2})
    code = (
        "import os, sys\n"
        "os.system(%r)\n"
        "os.write(1, (%r + '\\n').encode())\n"
        "print('after')" % ("echo '%s'" % fake_done, fake_hello)
    )
    frames = kernel.run(code)
    # The child's and the cell's writes come as one stdout frame or, on a busy machine,
    # several; no frame but stdout may come between started and done.
    types = [f["type"] for f in frames]
    assert types[0] == "started" and types[-1] == "done" and set(types[1:-1]) == {"stdout"}, types
    assert stdout(frames) == fake_done + "\n" + fake_hello + "\n" + "after\n"
    assert done(frames)["executionCount"] == 1


def test_children_never_read_the_request_channel(kernel):
    frames = kernel.run(
        "import subprocess, sys\n"
        "print(repr(subprocess.run(['cat'], capture_output=True).stdout))\n"
        "print(repr(sys.stdin.read()))"
    )
    assert ok(frames) == "b''\n''\n"
    assert ok(kernel.run("print('requests still arrive')")) == "requests still arrive\n"


def test_private_descriptors_are_not_inherited(kernel):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc")
    frames = kernel.run(
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', 'import os; print(sorted(int(f) for f in os.listdir(\"/proc/self/fd\")))'])"
    )
    fds = json.loads(stdout(frames))
    assert fds[:3] == [0, 1, 2]
    assert len(fds) == 4  # 0, 1, 2 and the directory listing itself


def test_forked_children_write_through_the_fd_pipes(kernel):
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    frames = kernel.run(
        "import os\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    print('from the fork')\n"
        "    display('ignored in the fork')\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('parent')"
    )
    assert sorted(stdout(frames).splitlines()) == ["from the fork", "parent"]
    assert of_type(frames, "display") == []
    assert result(kernel.run("1 + 1")) == "2"


def test_invalid_utf8_from_fds_is_replaced(kernel):
    frames = kernel.run("import os\nos.write(1, b'ok \\xff\\xfe end\\n')")
    assert stdout(frames) == "ok \ufffd\ufffd end\n"


def test_a_huge_single_write_is_split_into_bounded_frames(kernel):
    frames = kernel.run("import sys\nsys.stdout.write('q' * (3 * 1024 * 1024 + 5))")
    chunks = of_type(frames, "stdout")
    assert [len(c["data"]) for c in chunks] == [1024 * 1024] * 3 + [5]


def test_concurrent_writers_never_interleave_inside_a_frame(kernel):
    # Threads write, flush and display at once; every line the runner sends must stay a
    # whole frame (the harness parses each one) and no write may be torn or lost.
    frames = kernel.run(
        "import threading, sys\n"
        "def work(n):\n"
        "    for i in range(300):\n"
        "        sys.stdout.write('%d-%d\\n' % (n, i))\n"
        "        if i % 7 == 0:\n"
        "            sys.stdout.flush()\n"
        "        if i % 50 == 0:\n"
        "            display({'n': n, 'i': i}, raw=True)\n"
        "        if i % 3 == 0:\n"
        "            sys.stderr.write('e%d\\n' % n)\n"
        "threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()"
    )
    lines = stdout(frames).splitlines()
    assert sorted(lines) == sorted("%d-%d" % (n, i) for n in range(8) for i in range(300))
    assert len(of_type(frames, "display")) == 8 * 6
    assert stderr(frames).count("\n") == 8 * 100


def test_hot_path_writes_racing_with_flushes_and_other_streams_lose_nothing(kernel):
    # A tiny switch interval makes threads swap in the middle of writes and flushes;
    # the main thread keeps switching streams, which turns the hot path on and off.
    frames = kernel.run(
        "import threading, sys\n"
        "sys.setswitchinterval(1e-6)\n"
        "def work(n):\n"
        "    for i in range(2000):\n"
        "        sys.stdout.write('%d-%d\\n' % (n, i))\n"
        "threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]\n"
        "for t in threads: t.start()\n"
        "for i in range(500):\n"
        "    print('m%d' % i, file=sys.stderr)\n"
        "    if i % 100 == 0:\n"
        "        sys.stdout.flush()\n"
        "for t in threads: t.join()\n"
        "sys.setswitchinterval(0.005)",
        timeout=60,
    )
    lines = stdout(frames).splitlines()
    for n in range(4):
        mine = [line for line in lines if line.startswith("%d-" % n)]
        assert mine == ["%d-%d" % (n, i) for i in range(2000)]
    assert len(lines) == 4 * 2000
    assert stderr(frames).splitlines() == ["m%d" % i for i in range(500)]


# Text that JSON must escape in every way, and text it need not escape at all.
TRICKY = (
    "plain ascii\n"
    "quotes \" and ' and \\ backslashes, a literal \\n and \\u0041\n"
    "tab\there\r\ncarriage\rreturn\n"
    + "".join(chr(c) for c in range(32))
    + "\x7f\n"
    "unicode \u00e9 \u2603 \U0001f600 \u2028 \u2029 \ufeff\n"
    "no newline at the end"
)


def wire_form(frame):
    """The line the runner's JSON encoder writes for a frame."""
    return (json.dumps(frame, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def test_plain_json_stream_frames_carry_every_character_exactly(tmp_path):
    # A host that does not ask for payloads gets every frame as one JSON line.
    kernel = Kernel(cwd=str(tmp_path), payloads=False)
    try:
        assert "stream_payloads" not in kernel.hello["features"]
        frames = kernel.run(
            "import sys\nsys.stdout.write(%r)\nsys.stderr.write(%r)" % (TRICKY, TRICKY[::-1])
        )
        assert stdout(frames) == TRICKY
        assert stderr(frames) == TRICKY[::-1]
        # Byte for byte what the JSON encoder writes, however the runner built the line.
        assert kernel.raw_lines[-len(frames) :] == [wire_form(f) for f in frames]
        # Large output that needs escapes, over many frames.
        line = '%d "q" \\ \t \x1b[31mred\x1b[0m \r \u00e9 \u2603 \x00\n'
        frames = kernel.run(
            "import sys\nline = %r\nfor i in range(20000):\n    sys.stdout.write(line %% i)" % line
        )
        assert len(of_type(frames, "stdout")) > 5
        assert stdout(frames) == "".join(line % i for i in range(20000))
        assert kernel.raw_lines[-len(frames) :] == [wire_form(f) for f in frames]
    finally:
        kernel.close()


def payload_form(frame):
    """The header line and raw payload the runner writes for a stream frame when the host
    asked for payloads."""
    data = frame["data"].encode("utf-8")
    header = {"type": frame["type"], "id": frame["id"], "bytes": len(data)}
    return json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n" + data + b"\n"


def test_stream_payloads_carry_every_character_exactly_and_unescaped(kernel):
    # The fixture's kernel asks for payloads, as the Rust host does.
    assert "stream_payloads" in kernel.hello["features"]
    frames = kernel.run(
        "import sys, os\n"
        "sys.stdout.write(%r)\n"
        "sys.stderr.write(%r)\n"
        "print('PYKERNEL_STREAM_PAYLOADS' in os.environ)" % (TRICKY, TRICKY[::-1])
    )
    assert stdout(frames) == TRICKY + "False\n"
    assert stderr(frames) == TRICKY[::-1]
    streams = [f for f in frames if f["type"] in ("stdout", "stderr")]
    raw = [line for line in kernel.raw_lines if b'"bytes":' in line.split(b"\n", 1)[0]]
    assert raw[-len(streams) :] == [payload_form(f) for f in streams]
    # Much output, over many frames; a lone surrogate still goes out as JSON.
    line = '%d "q" \\ \t \x1b[31mred\x1b[0m \r \u00e9 \u2603 \x00\n'
    frames = kernel.run(
        "import sys\nline = %r\nfor i in range(20000):\n    sys.stdout.write(line %% i)\n"
        "print('bad \\udcff here')" % line
    )
    assert len(of_type(frames, "stdout")) > 5
    want = "".join(line % i for i in range(20000)) + "bad \ufffd here\n"
    assert ok(frames) == want
    last = kernel.raw_lines[-2]  # the last stdout frame, before done
    assert last.startswith(b'{"type":"stdout",') and b'"data":' in last, last[:80]


def test_a_lone_surrogate_in_large_output_is_replaced_and_nothing_else_changes(kernel):
    frames = kernel.run(
        "line = 'x' * 999\n"
        "for i in range(300):\n"
        "    print(line)\n"
        "    if i == 150:\n"
        "        print('bad \\udcff here')"
    )
    want = ("x" * 999 + "\n") * 151 + "bad \ufffd here\n" + ("x" * 999 + "\n") * 149
    assert ok(frames) == want


def test_plain_text_frames_skip_the_json_encoder(kernel):
    ok(
        kernel.run(
            "import sys\n"
            "wire = sys.modules['pykernel_runner.wire']\n"
            "encoded = []\n"
            "def spy(frame, encode=wire._encode_frame):\n"
            "    encoded.append(frame.get('type'))\n"
            "    return encode(frame)\n"
            "wire._encode_frame = spy"
        )
    )
    frames = kernel.run("for i in range(5000):\n    print('line', i, 'with \"quotes\", \\\\ and \u00e9')")
    assert len(of_type(frames, "stdout")) >= 2
    assert ok(kernel.run("print(encoded.count('stdout'))")) == "0\n"
    # Lone surrogates still take the encoder's path, which replaces them.
    assert ok(kernel.run("print('a\\udcffb')")) == "a\ufffdb\n"
    assert ok(kernel.run("print(encoded.count('stdout'))")) == "1\n"


def test_interleaved_streams_keep_their_order_over_many_writes(kernel):
    frames = kernel.run(
        "import sys\n"
        "for i in range(3000):\n"
        "    print('o%d' % i)\n"
        "    if i % 3 == 0:\n"
        "        print('e%d' % i, file=sys.stderr)\n"
        "    if i % 1000 == 999:\n"
        "        sys.stdout.flush()"
    )
    # A flush can fall between two writes of one print: join runs of one stream first.
    runs = []
    for f in frames:
        if f["type"] in ("stdout", "stderr"):
            if runs and runs[-1][0] == f["type"]:
                runs[-1][1] += f["data"]
            else:
                runs.append([f["type"], f["data"]])
    merged = [(stream, line) for stream, data in runs for line in data.splitlines()]
    want = []
    for i in range(3000):
        want.append(("stdout", "o%d" % i))
        if i % 3 == 0:
            want.append(("stderr", "e%d" % i))
    assert merged == want


def test_a_capture_started_mid_cell_takes_only_its_own_output(kernel):
    frames = kernel.run(
        "for i in range(3):\n"
        "    print('before', i)\n"
        "__pykernel__.cell_magic('capture', 'inner', \"print('inside')\")\n"
        "print('after')\n"
        "print(repr(inner.stdout))"
    )
    assert ok(frames) == "before 0\nbefore 1\nbefore 2\nafter\n'inside\\n'\n"


def test_a_cell_that_closes_or_moves_the_output_breaks_no_later_cell(kernel):
    ok(kernel.run("import os\nos.close(1)\nos.dup2(os.open(os.devnull, os.O_WRONLY), 2)"))
    frames = kernel.run("import os\nos.system('echo fd-ok; echo fd-err >&2')")
    assert ok(frames) == "fd-ok\n"
    assert stderr(frames) == "fd-err\n"
    ok(kernel.run("import sys\nsys.stdout = None\nsys.stderr = open(os.devnull, 'w')"))
    frames = kernel.run("import sys\nprint('py-ok')\nprint('py-err', file=sys.stderr)")
    assert ok(frames) == "py-ok\n"
    assert stderr(frames) == "py-err\n"


def big_outputs(code):
    """The frames of ``code`` in a runner whose host takes frames of at most 1 MB and no
    payloads (so every entry is on the line), and the longest line it sent."""
    kernel = Kernel(env=dict(os.environ, PYKERNEL_MAX_FRAME_BYTES="1000000"), payloads=False)
    try:
        frames = kernel.run(code)
        return frames, max(len(line) - 1 for line in kernel.raw_lines)
    finally:
        kernel.close()


def test_a_bundle_over_the_frame_limit_is_cut_to_fit_and_says_so():
    frames, longest = big_outputs(
        "class H:\n    def _repr_html_(self):\n        return '<p>' + 'x' * 3000000 + '</p>'\n"
        "    def __repr__(self):\n        return 'H()'\nH()"
    )
    notice = "output truncated: text/html of 3000009 bytes dropped, over the 1000000-byte frame limit"
    [frame] = of_type(frames, "result")
    assert frame["bundle"] == {"text/plain": "H()\n[%s]" % notice}
    assert frame["truncated"] == {"text/html": 3000009}
    assert stderr(frames) == "pykernel: %s\n" % notice
    assert longest <= 1000000


def test_text_plain_over_the_frame_limit_keeps_its_start():
    frames, longest = big_outputs("'y' * 3000000")
    [frame] = of_type(frames, "result")
    text = frame["bundle"]["text/plain"]
    kept, notice = text.split("\n")
    assert kept == "'" + "y" * (len(kept) - 1)
    assert notice == (
        "[output truncated: text/plain cut to its first %d of 3000002 bytes, over the "
        "1000000-byte frame limit]" % len(kept)
    )
    assert frame["truncated"] == {"text/plain": 3000004}
    assert 100000 < len(kept) and longest <= 1000000


def test_a_bundle_under_the_frame_limit_goes_whole():
    frames, longest = big_outputs(
        "class H:\n    def _repr_html_(self):\n        return 'x' * 900000\nH()"
    )
    [frame] = of_type(frames, "result")
    assert frame["bundle"]["text/html"] == "x" * 900000
    assert "truncated" not in frame and stderr(frames) == ""
    assert 900000 < longest <= 1000000

"""The runner as a package: which modules load at start, which on first use, and the
functions a SIGINT must not cut short."""

from conftest import ok, result

EAGER = [
    "pykernel_runner",
    "pykernel_runner.display",
    "pykernel_runner.execution",
    "pykernel_runner.namespace",
    "pykernel_runner.output",
    "pykernel_runner.relay",
    "pykernel_runner.requests",
    "pykernel_runner.running",
    "pykernel_runner.signals",
    "pykernel_runner.wire",
]

LOADED = "import sys\nprint(sorted(m for m in sys.modules if m.startswith('pykernel_runner')))"


def loaded(kernel):
    return eval(ok(kernel.run(LOADED)))


def test_rarely_used_modules_are_imported_on_first_use(bare_kernel):
    # `!=` has a `!` but no shell escape: the transforms module looks, nothing else loads.
    assert loaded(bare_kernel) == EAGER
    assert result(bare_kernel.run("1 != 2")) == "True"
    assert loaded(bare_kernel) == sorted(EAGER + ["pykernel_runner.transforms"])
    ok(bare_kernel.run("%pwd"))
    assert loaded(bare_kernel) == sorted(
        EAGER
        + ["pykernel_runner." + name for name in ("magics", "magics_more", "shell", "transforms")]
    )
    bare_kernel.send({"type": "complete", "id": "c", "code": "LOA", "cursor": 3})
    assert bare_kernel.next_frame()["type"] == "completions"
    assert "pykernel_runner.completion" in loaded(bare_kernel)


def test_the_shell_helpers_load_with_their_first_use(bare_kernel):
    assert ok(bare_kernel.run("lines = !echo one; echo two\nprint(lines.s)")) == "one\ntwo\none two\n"
    assert "pykernel_runner.shell" in loaded(bare_kernel)
    assert result(bare_kernel.run("type(lines) is __pykernel__.SList")) == "True"
    assert result(bare_kernel.run("'SList' in dir(__pykernel__)")) == "True"


def test_the_functions_that_write_frames_are_critical(bare_kernel):
    names = bare_kernel.run(
        "import sys\n"
        "signals = sys.modules['pykernel_runner.signals']\n"
        "sorted(code.co_name for code in signals.CRITICAL_CODES)"
    )
    assert result(names) == "['_finish', '_flush_locked', '_seal_locked', 'append', 'emit', 'send_bytes']"

"""IPython in the light engine: ``IPython.display`` routed to the runner's display, and
``get_ipython()`` with the surface notebooks use."""

import re
import subprocess
import sys

import pytest

from conftest import Kernel, done, error, of_type, ok, result, stderr


def displays(frames):
    """Each display, update and clear of the cell, in order, as short tuples."""
    shown = []
    for frame in frames:
        kind = frame["type"]
        if kind in ("display", "update_display"):
            bundle = frame["bundle"]
            mimes = sorted(m for m in bundle if m != "text/plain")
            shown.append((kind, frame.get("displayId"), mimes, bundle.get("text/plain")))
        elif kind == "clear_output":
            shown.append((kind, frame["wait"]))
    return shown


def has_ipython():
    return subprocess.run([sys.executable, "-c", "import IPython"], capture_output=True).returncode == 0


needs_ipython = pytest.mark.skipif(not has_ipython(), reason="IPython is not installed")


@needs_ipython
def test_ipython_display_of_html_is_an_html_output(kernel):
    frames = kernel.run("from IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'))")
    ok(frames)
    [shown] = of_type(frames, "display")
    assert shown["bundle"]["text/html"] == "<b>hi</b>"
    assert shown["bundle"]["text/plain"] == "<IPython.core.display.HTML object>"


@needs_ipython
def test_display_ids_updates_and_clears_go_through_the_runner(kernel):
    code = (
        "from IPython.display import display, update_display, clear_output, Markdown\n"
        "h = display('one', display_id='bar')\n"
        "h.update('two')\n"
        "update_display('three', display_id='bar')\n"
        "display('four', display_id='bar', update=True)\n"
        "clear_output(wait=True)\n"
        "display(Markdown('*m*'), clear=True)\n"
        "print(type(h).__name__, h.display_id)\n"
    )
    frames = kernel.run(code)
    assert ok(frames) == "DisplayHandle bar\n"
    assert displays(frames) == [
        ("display", "bar", [], "'one'"),
        ("update_display", "bar", [], "'two'"),
        ("update_display", "bar", [], "'three'"),
        ("update_display", "bar", [], "'four'"),
        ("clear_output", True),
        ("clear_output", True),
        ("display", None, ["text/markdown"], "<IPython.core.display.Markdown object>"),
    ]


@needs_ipython
def test_a_fresh_display_id_and_publish_display_data(kernel):
    code = (
        "from IPython.display import display, publish_display_data\n"
        "from IPython.core.display_functions import DisplayHandle\n"
        "h = display(display_id=True)\n"
        "publish_display_data({'text/plain': 'raw', 'text/html': '<i>raw</i>'})\n"
        "h.update({'a': 1})\n"
        "print(isinstance(h, DisplayHandle), len(h.display_id))\n"
    )
    frames = kernel.run(code)
    assert ok(frames) == "True 32\n"
    shown = displays(frames)
    handle_id = shown[0][1]
    assert shown == [
        ("display", handle_id, [], None),
        ("display", None, ["text/html"], "raw"),
        ("update_display", handle_id, [], "{'a': 1}"),
    ]


@needs_ipython
def test_ipython_get_ipython_is_the_runners_shell(kernel):
    code = "import IPython\nprint(IPython.get_ipython() is get_ipython(), type(get_ipython()).__name__)"
    assert ok(kernel.run(code)) == "True Shell\n"


@needs_ipython
def test_ipython_display_objects_and_ipython_display(kernel):
    code = (
        "from IPython.display import display, Javascript, SVG, Latex\n"
        "class Custom:\n"
        "    def _ipython_display_(self):\n"
        "        print('shown by itself')\n"
        "display(Javascript('alert(1)'), Latex('$x$'), Custom())\n"
        "Custom()"
    )
    frames = kernel.run(code)
    assert ok(frames) == "shown by itself\nshown by itself\n"
    assert [d[2] for d in displays(frames)] == [["application/javascript"], ["text/latex"]]
    assert result(frames) is None


def test_without_ipython_the_import_fails_as_usual(kernel):
    frames = kernel.run("import sys\nsys.modules['IPython'] = None\nimport IPython.display")
    assert error(frames)["ename"] == "ModuleNotFoundError"
    assert ok(kernel.run("print(type(get_ipython()).__name__)")) == "Shell\n"


def test_ipython_is_not_imported_at_start(bare_kernel):
    frames = bare_kernel.run("import sys\nprint([m for m in sys.modules if m.startswith('IPython')])")
    assert ok(frames) == "[]\n"


def test_get_ipython_runs_magics_and_shell_commands(kernel):
    code = (
        "ip = get_ipython()\n"
        "name = 'there'\n"
        "ip.run_line_magic('env', 'GREETING=hi')\n"
        "ip.run_cell_magic('writefile', 'f.txt', 'content\\n')\n"
        "ip.magic('env GREETING')\n"
        "ip.system('echo $GREETING')\n"
        "print(ip.run_line_magic('env', 'GREETING'), ip.user_ns is globals())\n"
    )
    # system() runs on a terminal as in ipykernel, so its line ends in \r\n.
    assert ok(kernel.run(code)) == "env: GREETING=hi\nWriting f.txt\nhi\r\nhi True\n"
    frames = kernel.run("get_ipython().getoutput('echo one; echo two')")
    assert result(frames) == "['one', 'two']"


def test_get_ipython_config_and_kernel(kernel):
    code = (
        "ip = get_ipython()\n"
        "print('IPKernelApp' in ip.config, ip.config.InlineBackend)\n"
        "ip.config.InlineBackend.figure_format = 'svg'\n"
        "print(ip.config)\n"
        "print(ip.kernel.get_parent()['header']['msg_type'], ip.parent_header['header']['msg_id'] != '')\n"
    )
    assert ok(kernel.run(code)) == (
        "False {}\n{'InlineBackend': {'figure_format': 'svg'}}\nexecute_request True\n"
    )


def test_registered_formatters_shape_results_and_displays(kernel):
    code = (
        "class Money:\n"
        "    def __init__(self, n):\n"
        "        self.n = n\n"
        "f = get_ipython().display_formatter.formatters\n"
        "f['text/html'].for_type(Money, lambda m: '<b>%d</b>' % m.n)\n"
        "f['text/plain'].for_type(Money, lambda m, p, cycle: p.text('$%d' % m.n))\n"
        "f['text/latex'].for_type_by_name('builtins', 'complex', lambda c: '$%s$' % c)\n"
        "display(Money(3))\n"
        "Money(5)"
    )
    frames = kernel.run(code)
    ok(frames)
    [shown] = of_type(frames, "display")
    assert shown["bundle"] == {"text/html": "<b>3</b>", "text/plain": "$3"}
    assert of_type(frames, "result")[0]["bundle"] == {"text/html": "<b>5</b>", "text/plain": "$5"}
    assert of_type(kernel.run("[1j]"), "result")[0]["bundle"] == {"text/plain": "[1j]"}
    assert of_type(kernel.run("2j"), "result")[0]["bundle"]["text/latex"] == "$2j$"


def test_events_run_around_each_cell(kernel):
    code = (
        "seen = []\n"
        "def pre(info):\n"
        "    seen.append(('pre', info.raw_cell))\n"
        "def post(result):\n"
        "    seen.append(('post', result.success, type(result.error_in_exec).__name__))\n"
        "get_ipython().events.register('pre_run_cell', pre)\n"
        "get_ipython().events.register('post_run_cell', post)\n"
    )
    ok(kernel.run(code))
    ok(kernel.run("1"))
    assert done(kernel.run("1 / 0"))["status"] == "error"
    kernel.run("get_ipython().events.unregister('pre_run_cell', pre)")
    assert ok(kernel.run("print(seen)")) == (
        "[('pre', '1'), ('post', True, 'NoneType'), ('pre', '1 / 0'), ('post', False,"
        " 'ZeroDivisionError'), ('pre', \"get_ipython().events.unregister('pre_run_cell', pre)\"),"
        " ('post', True, 'NoneType')]\n"
    )


def test_history_and_registered_magics(kernel):
    ok(kernel.run("a = 1"))
    code = (
        "ip = get_ipython()\n"
        "def shout(line):\n"
        "    return line.upper()\n"
        "def twice(line, cell):\n"
        "    return cell * 2\n"
        "ip.register_magic_function(shout)\n"
        "ip.register_magic_function(twice, 'cell')\n"
        "print(list(ip.history_manager.get_range(0, 1, 2)), ip.execution_count)\n"
    )
    assert ok(kernel.run(code)) == "[(0, 1, 'a = 1')] 2\n"
    assert result(kernel.run("%shout hello")) == "'HELLO'"
    # The body comes as IPython passes it, with its newline.
    assert result(kernel.run("%%twice\nab")) == "'ab\\nab\\n'"


def metadata_of(frames):
    """Each display, update and result of the cell with its metadata (None if absent)."""
    kinds = ("display", "update_display", "result")
    return [(f["type"], f.get("metadata")) for f in frames if f["type"] in kinds]


# One cell of every way metadata comes with a bundle, and what each engine sends; the
# IPython engine's test runs it too.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
METADATA_CELL = (
    "import base64\n"
    "from IPython.display import Image, display, publish_display_data, update_display\n"
    "display(Image(data=base64.b64decode(%r), width=100))\n"
    "publish_display_data({'text/plain': 'x'}, {'text/plain': {'isolated': True}})\n"
    "display({'text/plain': 'y'}, raw=True, metadata={'k': 1}, display_id='d')\n"
    "update_display({'text/plain': 'z'}, raw=True, metadata={'k': 2}, display_id='d')\n"
    "class Bundle:\n"
    "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
    "        return {'text/html': '<b>b</b>'}, {'text/html': {'isolated': True}}\n"
    "display(1)\n"
    "Bundle()" % PNG
)
METADATA_EXPECTED = [
    ("display", {"image/png": {"width": 100}}),
    ("display", {"text/plain": {"isolated": True}}),
    ("display", {"k": 1}),
    ("update_display", {"k": 2}),
    ("display", None),
    ("result", {"text/html": {"isolated": True}}),
]


@needs_ipython
def test_display_metadata_travels_with_the_bundle(kernel):
    assert metadata_of(kernel.run(METADATA_CELL)) == METADATA_EXPECTED


def test_formatters_have_ipythons_class_names_and_text_plain_is_pretty(kernel):
    # Notebooks list the formatters by class name; a _repr_mimebundle_ without
    # text/plain gets the pretty printer's, as in IPython.
    frames = kernel.run(
        "f = get_ipython().display_formatter.formatters\n"
        "print(type(f['text/html']).__name__, type(f['text/latex']).__name__)\n"
        "class B:\n"
        "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'text/html': '<i>b</i>'}\n"
        "display(B())"
    )
    assert ok(frames) == "HTMLFormatter LatexFormatter\n"
    (bundle,) = [f["bundle"] for f in of_type(frames, "display")]
    assert re.fullmatch(r"<__main__\.B at 0x[0-9a-f]+>", bundle["text/plain"])


@needs_ipython
def test_a_shell_user_code_makes_does_not_take_the_display_over(kernel):
    # Notebooks that import notebooks make IPython's own shell; HTML still shows as HTML.
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance()\n"
        "from IPython.display import HTML, display\n"
        "display(HTML('<b>still html</b>'))"
    )
    frames = kernel.run(code)
    assert ok(frames) == ""
    [shown] = of_type(frames, "display")
    assert shown["bundle"]["text/html"] == "<b>still html</b>"

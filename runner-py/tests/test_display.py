"""Rich display: display(), the _repr_*_ protocol, figures, images and tables."""

import base64

import pytest

from conftest import done, error, of_type, ok, result, stdout

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def bundles(frames, kind="display"):
    return [f["bundle"] for f in of_type(frames, kind)]


def pngs(frames):
    return [
        base64.b64decode(b["image/png"])
        for f in frames
        if f["type"] in ("display", "result")
        for b in [f["bundle"]]
        if "image/png" in b
    ]


def test_display_emits_one_frame_per_object(bare_kernel):
    frames = bare_kernel.run("display(1, 'two')")
    assert bundles(frames) == [{"text/plain": "1"}, {"text/plain": "'two'"}]
    assert result(frames) is None


def test_display_raw_sends_a_bundle_as_is(bare_kernel):
    frames = bare_kernel.run("display({'text/html': '<b>x</b>', 'text/plain': 'x'}, raw=True)")
    assert bundles(frames) == [{"text/html": "<b>x</b>", "text/plain": "x"}]
    frames = bare_kernel.run("display({'text/html': '<i>only html</i>'}, raw=True)")
    assert bundles(frames) == [{"text/html": "<i>only html</i>"}]


def test_display_raw_requires_a_dict(bare_kernel):
    err = error(bare_kernel.run("display('not a bundle', raw=True)"))
    assert err["ename"] == "TypeError"


def test_display_accepts_ipython_keywords(bare_kernel):
    frames = bare_kernel.run("display(5, metadata={'a': 1}, transient={})")
    assert of_type(frames, "display") == [
        {"type": "display", "id": frames[0]["id"], "bundle": {"text/plain": "5"}, "metadata": {"a": 1}}
    ]


def test_a_display_id_travels_with_the_display_and_returns_a_handle(bare_kernel):
    frames = bare_kernel.run("h = display(5, display_id='d1')\nprint(h.display_id)")
    assert [(f["bundle"], f["displayId"]) for f in of_type(frames, "display")] == [
        ({"text/plain": "5"}, "d1")
    ]
    assert stdout(frames) == "d1\n"


def test_display_id_true_makes_a_fresh_hex_id_per_call(bare_kernel):
    frames = bare_kernel.run("a = display(1, display_id=True)\nb = display(2, display_id=True)")
    ids = [f["displayId"] for f in of_type(frames, "display")]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_a_handle_updates_and_displays_again(bare_kernel):
    frames = bare_kernel.run(
        "h = display('a', display_id='bar')\nh.update('b')\nh.display('c')"
    )
    assert [(f["type"], f["bundle"], f["displayId"]) for f in frames[1:-1]] == [
        ("display", {"text/plain": "'a'"}, "bar"),
        ("update_display", {"text/plain": "'b'"}, "bar"),
        ("display", {"text/plain": "'c'"}, "bar"),
    ]


def test_update_display_from_a_later_cell_names_the_display(bare_kernel):
    ok(bare_kernel.run("display('x', display_id='p')"))
    frames = bare_kernel.run(
        "__pykernel__.update_display({'text/plain': 'y'}, display_id='p', raw=True)"
    )
    updates = of_type(frames, "update_display")
    assert [(f["bundle"], f["displayId"]) for f in updates] == [({"text/plain": "y"}, "p")]
    assert of_type(frames, "display") == []


def test_display_with_update_true_updates(bare_kernel):
    frames = bare_kernel.run("display(7, display_id='q', update=True)")
    assert [f["type"] for f in frames[1:-1]] == ["update_display"]
    err = error(bare_kernel.run("display(7, update=True)"))
    assert err["ename"] == "TypeError"


def test_clear_output_keeps_its_place_among_the_outputs(bare_kernel):
    frames = bare_kernel.run(
        "print('one')\n__pykernel__.clear_output()\n"
        "print('two')\n__pykernel__.clear_output(wait=True)\ndisplay(3)"
    )
    kinds = [
        (f["type"], f.get("data", f.get("wait", f.get("bundle")))) for f in frames[1:-1]
    ]
    assert kinds == [
        ("stdout", "one\n"),
        ("clear_output", False),
        ("stdout", "two\n"),
        ("clear_output", True),
        ("display", {"text/plain": "3"}),
    ]


def test_clear_output_inside_capture_clears_the_capture(bare_kernel):
    frames = bare_kernel.run(
        "%%capture c\nprint('gone')\ndisplay(1)\n__pykernel__.clear_output()\nprint('kept')"
    )
    ok(frames)
    assert [f["type"] for f in frames[1:-1]] == []
    frames = bare_kernel.run("print(repr(c.stdout), len(c.outputs))")
    assert stdout(frames) == "'kept\\n' 0\n"


def test_prelude_display_returns_a_handle_for_json_objects_too(kernel):
    frames = kernel.run("h = display([1, 2], display_id=True)\nh.update({'a': 1})")
    shown, update = frames[1:-1]
    assert shown["type"] == "display" and update["type"] == "update_display"
    assert shown["displayId"] == update["displayId"]
    assert update["bundle"]["text/plain"] == "{'a': 1}"


def test_a_background_thread_writing_after_its_cell_ended_is_sent_under_its_id(bare_kernel, tmp_path):
    # The thread writes once the file "go" exists, which the test makes after the cell
    # "trigger" is done: an event set by that cell could wake it while the cell still runs.
    ok(
        bare_kernel.run(
            "import os, threading, time\n"
            "def late():\n"
            "    while not os.path.exists('go'):\n"
            "        time.sleep(0.01)\n"
            "    print('late-1')\n"
            "    display('shown', display_id='t')\n"
            "    __pykernel__.update_display('done', display_id='t')\n"
            "threading.Thread(target=late).start()",
            id="cell",
        )
    )
    ok(bare_kernel.run("pass", id="trigger"))
    (tmp_path / "go").touch()
    late = []
    while len(late) < 3:
        late.append(bare_kernel.next_frame())
    assert [(f["type"], f["id"]) for f in late] == [
        ("stdout", "trigger"),
        ("display", "trigger"),
        ("update_display", "trigger"),
    ]
    assert late[0]["data"] == "late-1\n"


REPRS = [
    ("_repr_html_", "'<p>hi</p>'", "text/html", "<p>hi</p>"),
    ("_repr_markdown_", "'# title'", "text/markdown", "# title"),
    ("_repr_svg_", "'<svg/>'", "image/svg+xml", "<svg/>"),
    ("_repr_latex_", "r'$x^2$'", "text/latex", "$x^2$"),
    ("_repr_json_", "{'k': [1, 2]}", "application/json", {"k": [1, 2]}),
    ("_repr_png_", "b'\\x89PNG-bytes'", "image/png", base64.b64encode(b"\x89PNG-bytes").decode()),
    ("_repr_jpeg_", "b'\\xff\\xd8jpeg'", "image/jpeg", base64.b64encode(b"\xff\xd8jpeg").decode()),
]


@pytest.mark.parametrize("method, value, mime, expected", REPRS)
def test_each_repr_method_gives_its_mime(bare_kernel, method, value, mime, expected):
    frames = bare_kernel.run(
        "class R:\n"
        "    def %s(self):\n"
        "        return %s\n"
        "    def __repr__(self):\n"
        "        return 'R()'\n"
        "display(R())\n"
        "R()" % (method, value)
    )
    assert bundles(frames) == [{mime: expected, "text/plain": "R()"}]
    assert bundles(frames, "result") == [{mime: expected, "text/plain": "R()"}]


def test_repr_methods_returning_none_or_metadata_tuples(bare_kernel):
    frames = bare_kernel.run(
        "class R:\n"
        "    def _repr_html_(self):\n"
        "        return None\n"
        "    def _repr_markdown_(self):\n"
        "        return ('*md*', {'meta': True})\n"
        "display(R())"
    )
    bundle = bundles(frames)[0]
    assert "text/html" not in bundle
    assert bundle["text/markdown"] == "*md*"
    # IPython's pretty printer names the class and the address.
    assert bundle["text/plain"].startswith("<__main__.R at 0x")


def test_repr_mimebundle_with_include_exclude_and_tuple(bare_kernel):
    frames = bare_kernel.run(
        "class M:\n"
        "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        print('include', include, 'exclude', exclude)\n"
        "        return ({'text/html': '<b>m</b>', 'application/vnd.custom+json': {'v': 1}}, {'meta': 1})\n"
        "    def _repr_markdown_(self):\n"
        "        return 'md too'\n"
        "    def _repr_html_(self):\n"
        "        return 'not used: the bundle has html'\n"
        "display(M())\n"
        "display(M(), include=['text/html'])"
    )
    first, second = bundles(frames)
    assert first["text/html"] == "<b>m</b>"
    assert first["application/vnd.custom+json"] == {"v": 1}
    assert first["text/markdown"] == "md too"
    assert "text/plain" in first
    assert second == {"text/html": "<b>m</b>"}
    assert "include ['text/html'] exclude None" in stdout(frames)


def test_repr_mimebundle_without_parameters_is_still_called(bare_kernel):
    frames = bare_kernel.run(
        "class Old:\n"
        "    def _repr_mimebundle_(self):\n"
        "        return {'text/markdown': 'old style'}\n"
        "display(Old())"
    )
    assert bundles(frames)[0]["text/markdown"] == "old style"


def test_a_failing_repr_mimebundle_is_skipped(bare_kernel):
    frames = bare_kernel.run(
        "class Bad:\n"
        "    def _repr_mimebundle_(self, **kw):\n"
        "        raise RuntimeError('nope')\n"
        "    def __repr__(self):\n"
        "        return 'Bad()'\n"
        "display(Bad())"
    )
    assert bundles(frames) == [{"text/plain": "Bad()"}]
    assert done(frames)["status"] == "ok"


def test_classes_and_catch_all_objects_are_not_asked_for_reprs(bare_kernel):
    frames = bare_kernel.run(
        "class Rich:\n"
        "    def _repr_html_(self):\n"
        "        return '<b>instance</b>'\n"
        "class Anything:\n"
        "    def __getattr__(self, name):\n"
        "        return lambda *a, **k: 'whatever'\n"
        "    def __repr__(self):\n"
        "        return 'Anything()'\n"
        "display(Rich)\n"
        "display(Anything())"
    )
    cls, anything = bundles(frames)
    # IPython's pretty printer names a class by its module and name.
    assert cls == {"text/plain": "__main__.Rich"}
    assert anything == {"text/plain": "Anything()"}


def test_output_before_a_display_arrives_before_it(bare_kernel):
    frames = bare_kernel.run("import sys\nsys.stdout.write('partial')\ndisplay(1)\nprint('after')")
    kinds = [(f["type"], f.get("data")) for f in frames[1:-1]]
    assert kinds == [("stdout", "partial"), ("display", None), ("stdout", "after\n")]


def test_output_before_a_result_or_error_arrives_before_it(bare_kernel):
    frames = bare_kernel.run("import sys\nsys.stdout.write('x')\n5")
    assert [f["type"] for f in frames] == ["started", "stdout", "result", "done"]
    frames = bare_kernel.run("import sys\nsys.stderr.write('y')\n1/0")
    assert [f["type"] for f in frames] == ["started", "stderr", "error", "done"]


def test_display_from_a_thread_belongs_to_the_running_cell(bare_kernel):
    frames = bare_kernel.run(
        "import threading\nt = threading.Thread(target=display, args=('from thread',))\nt.start(); t.join()"
    )
    assert bundles(frames) == [{"text/plain": "'from thread'"}]


MPL_SETUP = "import matplotlib.pyplot as plt\n"


def test_a_displayed_and_closed_figure_is_emitted_once(bare_kernel):
    pytest.importorskip("matplotlib")
    frames = bare_kernel.run(
        MPL_SETUP + "fig, ax = plt.subplots()\nax.plot([1, 2, 3])\ndisplay(fig)\nplt.close(fig)"
    )
    images = pngs(frames)
    assert len(images) == 1
    assert images[0].startswith(PNG_MAGIC)
    assert bundles(frames)[0]["text/plain"].startswith("<Figure size")


def test_a_displayed_figure_left_open_is_emitted_once(bare_kernel):
    pytest.importorskip("matplotlib")
    frames = bare_kernel.run(MPL_SETUP + "fig, ax = plt.subplots()\nax.plot([1, 2])\ndisplay(fig)")
    assert len(pngs(frames)) == 1


def test_figures_left_open_are_emitted_at_cell_end(bare_kernel):
    pytest.importorskip("matplotlib")
    frames = bare_kernel.run(
        MPL_SETUP + "plt.plot([1, 2])\nplt.figure()\nplt.plot([3, 1])\nprint('drawn')"
    )
    assert len(pngs(frames)) == 2
    assert [f["type"] for f in frames] == ["started", "stdout", "display", "display", "done"]
    # They were closed: the next cell emits nothing.
    assert pngs(bare_kernel.run("1")) == []
    assert result(bare_kernel.run("len(plt.get_fignums())")) == "0"


def test_figures_come_after_the_result(bare_kernel):
    pytest.importorskip("matplotlib")
    frames = bare_kernel.run(MPL_SETUP + "plt.plot([1, 2])[0].__class__.__name__")
    assert [f["type"] for f in frames] == ["started", "result", "display", "done"]


def test_a_figure_as_the_result_is_not_emitted_twice(bare_kernel):
    pytest.importorskip("matplotlib")
    frames = bare_kernel.run(MPL_SETUP + "fig, ax = plt.subplots()\nax.plot([1])\nfig")
    assert len(pngs(frames)) == 1
    assert "image/png" in bundles(frames, "result")[0]


def test_plt_show_displays_now_without_a_warning(bare_kernel):
    pytest.importorskip("matplotlib")
    frames = bare_kernel.run(
        MPL_SETUP + "plt.plot([1, 2])\nprint('before')\nplt.show()\nprint('after')"
    )
    assert [f["type"] for f in frames] == ["started", "stdout", "display", "stdout", "done"]
    assert len(pngs(frames)) == 1
    assert "non-interactive" not in "".join(f.get("data", "") for f in frames)


def test_figures_are_emitted_even_when_the_cell_fails(bare_kernel):
    pytest.importorskip("matplotlib")
    frames = bare_kernel.run(MPL_SETUP + "plt.plot([1, 2])\nraise ValueError('after plotting')")
    assert [f["type"] for f in frames] == ["started", "display", "error", "done"]


def test_an_empty_figure_renders_no_image(bare_kernel):
    pytest.importorskip("matplotlib")
    frames = bare_kernel.run(MPL_SETUP + "fig = plt.figure()\ndisplay(fig)")
    assert pngs(frames) == []
    assert bundles(frames)[0]["text/plain"].startswith("<Figure size")


def test_matplotlib_uses_the_agg_backend(bare_kernel):
    pytest.importorskip("matplotlib")
    frames = bare_kernel.run("import matplotlib\nmatplotlib.get_backend().lower()")
    assert result(frames) == "'agg'"


def test_pil_images_become_png(bare_kernel):
    pytest.importorskip("PIL")
    frames = bare_kernel.run("from PIL import Image\nimg = Image.new('RGB', (4, 3), 'red')\nimg")
    bundle = bundles(frames, "result")[0]
    data = base64.b64decode(bundle["image/png"])
    assert data.startswith(PNG_MAGIC)
    assert "image/jpeg" not in bundle
    assert "PIL.Image.Image" in bundle["text/plain"]
    frames = bare_kernel.run(
        "import base64, io\nImage.open(io.BytesIO(base64.b64decode(%r))).size" % bundle["image/png"]
    )
    assert result(frames) == "(4, 3)"


def test_pandas_dataframes_render_html_and_text(bare_kernel):
    pytest.importorskip("pandas")
    frames = bare_kernel.run("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})")
    bundle = bundles(frames, "result")[0]
    assert "<table" in bundle["text/html"]
    assert bundle["text/plain"].split() == ["a", "b", "0", "1", "x", "1", "2", "y"]


def test_rendering_never_imports_display_libraries_itself(bare_kernel):
    frames = bare_kernel.run(
        "import sys\ndisplay(object())\n"
        "[m for m in ('matplotlib', 'PIL', 'pandas', 'numpy') if m in sys.modules]"
    )
    assert result(frames) == "[]"


def test_display_of_containers_adds_json_with_the_prelude(kernel):
    frames = kernel.run("display({'a': [1, 2]}, (1, 'x'), [None])")
    first, second, third = bundles(frames)
    assert first == {"application/json": {"a": [1, 2]}, "text/plain": "{'a': [1, 2]}"}
    assert second == {"application/json": [1, "x"], "text/plain": "(1, 'x')"}
    assert third == {"application/json": [None], "text/plain": "[None]"}
    frames = kernel.run("display({'obj': object(), 'nan': float('nan')})")
    payload = bundles(frames)[0]["application/json"]
    assert payload["obj"].startswith("<object object at")
    assert payload["nan"] is None
    assert ok(kernel.run("display(3)")) == ""


def test_metadata_from_repr_methods_and_the_caller_goes_with_the_bundle(bare_kernel):
    frames = bare_kernel.run(
        "class Png:\n"
        "    def _repr_png_(self):\n"
        "        return b'\\x89PNG', {'width': 10}\n"
        "display(Png(), metadata={'extra': True})\n"
        "display(Png(), display_id='p').update(Png(), metadata={'width': 3})\n"
        "Png()"
    )
    assert [(f["type"], f.get("metadata")) for f in frames if "bundle" in f] == [
        ("display", {"image/png": {"width": 10}, "extra": True}),
        ("display", {"image/png": {"width": 10}}),
        ("update_display", {"image/png": {"width": 10}, "width": 3}),
        ("result", {"image/png": {"width": 10}}),
    ]

"""Completion: the ``complete`` request and its ``completions`` answer."""

import os

from conftest import done, ok, stdout


def complete(kernel, code, cursor=None, rid="c-1"):
    """Asks for completions; returns the answer and any other frames read meanwhile."""
    request = {"type": "complete", "id": rid, "code": code}
    request["cursor"] = len(code) if cursor is None else cursor
    kernel.send(request)
    others = []
    while True:
        frame = kernel.next_frame()
        if frame["type"] == "completions":
            assert frame["id"] == rid, frame
            return frame, others
        others.append(frame)


def matches(kernel, code, cursor=None):
    answer, others = complete(kernel, code, cursor)
    assert others == []
    return answer["matches"], answer["cursorStart"], answer["cursorEnd"]


def test_hello_announces_completion(kernel):
    assert "complete" in kernel.hello["features"]


def test_names_from_the_namespace_builtins_and_keywords(kernel):
    ok(kernel.run("x_long_name = 1\nx_other = 2\n_x_private = 3"))
    assert matches(kernel, "x_lo") == (["x_long_name"], 0, 4)
    assert matches(kernel, "y = x_") == (["x_long_name", "x_other"], 4, 6)
    assert matches(kernel, "impo") == (["import"], 0, 4)
    assert "print" in matches(kernel, "pri")[0]
    assert "_x_private" not in matches(kernel, "")[0]
    assert "_x_private" in matches(kernel, "_x")[0]


def test_the_answer_is_exact_on_the_wire(kernel):
    ok(kernel.run("zq_value = 1"))
    kernel.send({"type": "complete", "id": "c-7", "code": "zq_v", "cursor": 4})
    frame = kernel.next_frame()
    assert frame == {
        "type": "completions",
        "id": "c-7",
        "matches": ["zq_value"],
        "cursorStart": 0,
        "cursorEnd": 4,
    }
    assert kernel.raw_lines[-1] == (
        b'{"type":"completions","id":"c-7","matches":["zq_value"],"cursorStart":0,"cursorEnd":4}\n'
    )


def test_cursor_counts_code_points_and_text_after_it_is_ignored(kernel):
    ok(kernel.run("x_long_name = 1"))
    # "é" is one code point (two UTF-8 bytes): the cursor after "x_lo" is 6.
    assert matches(kernel, "é=x_lo + 1", 6) == (["x_long_name"], 2, 6)
    assert matches(kernel, "x_lo", 99) == (["x_long_name"], 0, 4)


def test_attributes_after_a_dot(kernel):
    ok(kernel.run("import os\nclass P:\n    attr_a = 1\n    def meth(self): pass\np = P()"))
    assert matches(kernel, "os.pa")[0][:2] == ["pardir", "path"]
    assert matches(kernel, "os.path.jo") == (["join"], 8, 10)
    assert matches(kernel, "p.")[0] == ["attr_a", "meth"]
    assert "__class__" in matches(kernel, "p.__")[0]


def test_properties_are_never_run(kernel):
    code = (
        "calls = []\n"
        "class Side:\n"
        "    @property\n"
        "    def boom(self):\n"
        "        calls.append(1)\n"
        "        return 1\n"
        "s = Side()"
    )
    ok(kernel.run(code))
    assert matches(kernel, "s.boom.") == ([], 7, 7)
    assert matches(kernel, "s.bo") == (["boom"], 2, 4)
    assert stdout(kernel.run("print(calls)")) == "[]\n"


def test_calls_and_subscripts_are_not_evaluated(kernel):
    ok(kernel.run("def f():\n    raise SystemExit('ran')\nd = {}"))
    assert matches(kernel, "f().") == ([], 4, 4)
    assert matches(kernel, "d[0].re") == ([], 5, 7)


def test_modules_after_import_and_from(kernel):
    assert "json" in matches(kernel, "import js")[0]
    assert matches(kernel, "import os, js")[0][:1] == ["json"]
    assert "collections" in matches(kernel, "from coll")[0]
    ok(kernel.run("import json"))
    found, start, end = matches(kernel, "from json import dec")
    assert "decoder" in found and start == 17 and end == 20
    assert "import" in matches(kernel, "impor")[0]


def test_importing_for_completion_never_runs_a_module(kernel, tmp_path):
    (tmp_path / "sideeffect_pkg").mkdir()
    (tmp_path / "sideeffect_pkg" / "__init__.py").write_text("print('imported!')\n")
    (tmp_path / "sideeffect_pkg" / "child.py").write_text("")
    ok(kernel.run("import sys\nsys.path.insert(0, %r)" % str(tmp_path)))
    assert "sideeffect_pkg" in matches(kernel, "import sideeff")[0]
    assert matches(kernel, "from sideeffect_pkg import ch") == ([], 27, 29)
    assert stdout(kernel.run("import sys\nprint('sideeffect_pkg' in sys.modules)")) == "False\n"


def test_dict_keys_in_a_subscript(kernel):
    ok(kernel.run("conf = {'alpha': 1, 'alps': 2, 'beta': 3, 4: 'four'}"))
    assert matches(kernel, "conf['al") == (["alpha", "alps"], 6, 8)
    assert matches(kernel, 'conf["') == (["alpha", "alps", "beta"], 6, 6)


def test_file_paths_inside_a_string(kernel, tmp_path):
    (tmp_path / "data_one.csv").write_text("")
    (tmp_path / "data_dir").mkdir()
    ok(kernel.run("import os\nos.chdir(%r)" % str(tmp_path)))
    assert matches(kernel, "open('dat") == (["data_dir/", "data_one.csv"], 6, 9)
    prefix = str(tmp_path) + os.sep + "data_o"
    code = "open(%r" % prefix
    assert matches(kernel, code[:-1]) == ([str(tmp_path) + "/data_one.csv"], 6, len(code) - 1)


def test_magics_after_a_percent(kernel):
    assert matches(kernel, "%ti") == (["%time", "%timeit"], 0, 3)
    assert matches(kernel, "%%ca") == (["%%capture"], 0, 4)


def test_results_are_bounded_and_sorted(kernel):
    ok(kernel.run("for i in range(3000):\n    globals()['v%04d' % i] = i"))
    found = matches(kernel, "v")[0]
    assert len(found) == 1000
    assert found == sorted(found)
    assert found[0] == "v0000"


def test_completion_answers_while_a_cell_runs(kernel):
    ok(kernel.run("x_long_name = 1"))
    rid = kernel.start("import time\nprint('go', flush=True)\ntime.sleep(30)")
    assert stdout(kernel.wait_for(rid, "stdout")) == "go\n"
    answer, others = complete(kernel, "x_lo")
    assert answer["matches"] == ["x_long_name"]
    assert all(frame.get("id") == rid for frame in others)
    kernel.send({"type": "interrupt"})
    frames = kernel.collect(rid)
    assert done(frames)["cancelled"] is True


def test_completion_sees_names_a_running_cell_defined(kernel):
    rid = kernel.start("import time\nbusy_name = 1\nprint('go', flush=True)\ntime.sleep(30)")
    kernel.wait_for(rid, "stdout")
    assert complete(kernel, "busy_n")[0]["matches"] == ["busy_name"]
    kernel.send({"type": "interrupt"})
    kernel.collect(rid)


def test_bad_requests_answer_empty_and_never_hurt_the_runner(kernel):
    ok(kernel.run("class Evil:\n    def __dir__(self):\n        raise RuntimeError('no')\nevil = Evil()"))
    assert matches(kernel, "evil.") == ([], 5, 5)
    kernel.send({"type": "complete", "id": "c-2", "code": 5, "cursor": "x"})
    frame = kernel.next_frame()
    assert frame["id"] == "c-2" and frame["matches"] == []
    kernel.send({"type": "complete", "code": "x"})
    kernel.wait_log("complete request without a string id")
    assert matches(kernel, "impo", -5) == ([], 0, 0)
    ok(kernel.run("1 + 1"))

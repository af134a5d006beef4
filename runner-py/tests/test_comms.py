"""The comm layer: ipywidgets' widgets as comm frames, ``Output`` capturing through the
execution id, and a host's ``comm_msg`` reaching the widget, in both engines.

The tests skip where ipywidgets is not installed (the suite's runs on other Python
versions install pytest only)."""

import base64
import os

import pytest

from conftest import Kernel, done, of_type, ok, stdout


def run_ok(kernel, code):
    """The frames of ``code``, which must succeed."""
    frames = kernel.run(code)
    ok(frames)
    return frames


@pytest.fixture(params=["light", "ipython"])
def wk(request, tmp_path):
    pytest.importorskip("ipywidgets")
    env = dict(os.environ, PYKERNEL_ENGINE=request.param)
    k = Kernel(cwd=str(tmp_path), env=env)
    yield k
    k.close()


def comm_frames(frames):
    return [f for f in frames if f["type"].startswith("comm_")]


def test_importing_the_runner_does_not_import_comm(kernel):
    code = "import sys; print('comm' in sys.modules, 'pykernel_runner.comms' in sys.modules)"
    out = ok(kernel.run(code))
    assert out == "False False\n"


def test_a_slider_opens_a_widget_comm_and_displays_its_view(wk):
    frames = run_ok(wk, "import ipywidgets\ns = ipywidgets.IntSlider(value=3)\ns")
    opens = of_type(frames, "comm_open")
    assert {f["targetName"] for f in opens} == {"jupyter.widget"}
    slider = [f for f in opens if f["data"]["state"]["_model_name"] == "IntSliderModel"]
    assert len(slider) == 1
    slider = slider[0]
    assert slider["id"] == done(frames)["id"]
    assert slider["data"]["state"]["value"] == 3
    assert slider["metadata"] == {"version": "2.1.0"}
    # Its layout and style are comms of their own, opened first and named in its state.
    others = {f["commId"] for f in opens if f is not slider}
    assert slider["data"]["state"]["layout"][len("IPY_MODEL_"):] in others
    view = of_type(frames, "result")[0]["bundle"]["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == slider["commId"]


def test_output_widget_captures_by_the_execution_id(wk):
    run_ok(wk, "import ipywidgets\nout = ipywidgets.Output()")
    frames = run_ok(wk, "with out:\n    print('inside')\nprint('after')")
    rid = done(frames)["id"]
    kinds = [
        (f["type"], f["data"]["state"]["msg_id"] if f["type"] == "comm_msg" else f["data"])
        for f in frames
        if f["type"] in ("comm_msg", "stdout")
    ]
    # msg_id set to this execution, the print inside, msg_id cleared, the print after.
    assert kinds == [
        ("comm_msg", rid),
        ("stdout", "inside\n"),
        ("comm_msg", ""),
        ("stdout", "after\n"),
    ]


def test_a_host_comm_msg_sets_widget_state_between_cells(wk):
    frames = run_ok(wk, "import ipywidgets\ns = ipywidgets.IntSlider()\nprint(s.model_id)")
    model = stdout(frames).strip()
    wk.send(
        {
            "type": "comm_msg",
            "commId": model,
            "data": {"method": "update", "state": {"value": 42}, "buffer_paths": []},
        }
    )
    # ipywidgets echoes the state it took, under the last execution's id.
    echo = wk.next_frame()
    assert (echo["type"], echo["id"]) == ("comm_msg", done(frames)["id"])
    assert echo["data"]["method"] == "echo_update"
    assert echo["data"]["state"] == {"value": 42}
    frames = run_ok(wk, "print(s.value)")
    assert stdout(frames) == "42\n"


def test_buffers_go_out_as_base64(wk):
    code = (
        "import comm\n"
        "c = comm.create_comm(target_name='t', data={'a': 1}, buffers=[b'\\x00\\x01'])\n"
        "c.send({'b': 2}, buffers=[memoryview(b'xyz')])\n"
        "c.close()"
    )
    frames = comm_frames(run_ok(wk, code))
    assert [f["type"] for f in frames] == ["comm_open", "comm_msg", "comm_close"]
    assert frames[0]["targetName"] == "t"
    assert frames[0]["data"] == {"a": 1}
    assert [base64.b64decode(b) for b in frames[0]["buffers"]] == [b"\x00\x01"]
    assert [base64.b64decode(b) for b in frames[1]["buffers"]] == [b"xyz"]
    assert frames[2]["data"] == {}
    assert len({f["commId"] for f in frames}) == 1


def test_a_comm_msg_for_an_unknown_comm_is_logged(kernel):
    kernel.send({"type": "comm_msg", "commId": "nope", "data": {}})
    ok(kernel.run("1"))
    kernel.wait_log("ignored a comm_msg for unknown comm 'nope'")

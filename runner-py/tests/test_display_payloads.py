"""Display frames with large entries as raw payload parts: text unescaped, images as
bytes, and the display cap past which a bundle is cut down and says so."""

import base64
import json
import os

from conftest import Kernel, of_type, ok, stderr

HTML_CLASS = (
    "class H:\n"
    "    def __init__(self, n):\n"
    "        self.n = n\n"
    "    def _repr_html_(self):\n"
    "        return '<p>\"' + 'x\\n' * self.n + '</p>'\n"
    "    def __repr__(self):\n"
    "        return 'H()'\n"
)

PNG_CLASS = (
    "class P:\n"
    "    def __init__(self, n):\n"
    "        self.data = bytes(range(256)) * n\n"
    "    def _repr_png_(self):\n"
    "        return self.data\n"
    "    def __repr__(self):\n"
    "        return 'P()'\n"
)


def header_of(kernel, kind):
    """The header line (as JSON) of the one ``kind`` frame the kernel sent."""
    [line] = [line for line in kernel.raw_lines if line.startswith(b'{"type":"%s"' % kind.encode())]
    return json.loads(line.split(b"\n", 1)[0]), line


def test_a_large_html_repr_travels_as_an_unescaped_text_part(kernel):
    frames = kernel.run(HTML_CLASS + "H(1000000)")
    [frame] = of_type(frames, "result")
    assert frame["bundle"] == {"text/html": '<p>"' + "x\n" * 1000000 + "</p>", "text/plain": "H()"}
    assert "truncated" not in frame and stderr(frames) == ""
    header, line = header_of(kernel, "result")
    assert header["bundle"] == {"text/plain": "H()"}
    assert header["parts"] == [{"mime": "text/html", "bytes": 2000008}]
    assert header["bytes"] == 2000008 and list(header)[-1] == "bytes"
    # The HTML as it is, newlines and quotes unescaped.
    assert line.endswith(b'\n<p>"' + b"x\n" * 1000000 + b"</p>\n")


def test_png_bytes_from_a_repr_travel_as_a_binary_part(kernel):
    frames = kernel.run(PNG_CLASS + "p = P(4096)\ndisplay(p)\np")
    data = bytes(range(256)) * 4096
    for kind in ("display", "result"):
        [frame] = of_type(frames, kind)
        assert frame["bundle"] == {"image/png": base64.b64encode(data).decode(), "text/plain": "P()"}
        header, line = header_of(kernel, kind)
        assert header["parts"] == [{"mime": "image/png", "bytes": len(data), "binary": True}]
        assert line.endswith(b"\n" + data + b"\n")


def test_small_entries_stay_in_the_header_bundle(kernel):
    frames = kernel.run(PNG_CLASS + "display({'text/html': '<b>hi</b>', 'text/plain': 'hi'}, raw=True)\nP(1)")
    header, line = header_of(kernel, "display")
    assert header == {"type": "display", "id": frames[0]["id"], "bundle": {"text/html": "<b>hi</b>", "text/plain": "hi"}}
    # An image is a part however small: it is bytes.
    header, _ = header_of(kernel, "result")
    assert header["parts"] == [{"mime": "image/png", "bytes": 256, "binary": True}]


def test_without_payloads_png_bytes_go_as_base64_on_the_line(tmp_path):
    kernel = Kernel(cwd=str(tmp_path), payloads=False)
    try:
        frames = kernel.run(PNG_CLASS + "P(2)")
        [frame] = of_type(frames, "result")
        assert frame["bundle"]["image/png"] == base64.b64encode(bytes(range(256)) * 2).decode()
        assert all(b'"parts"' not in line for line in kernel.raw_lines)
    finally:
        kernel.close()


def capped(code, limit=1000000):
    """The frames of ``code`` in a runner whose host takes displays of at most ``limit``
    bytes, and the runner's log."""
    kernel = Kernel(env=dict(os.environ, PYKERNEL_MAX_DISPLAY_BYTES=str(limit)))
    try:
        return kernel.run(code), kernel.log
    finally:
        kernel.close()


def test_a_display_over_the_cap_is_cut_with_a_visible_notice():
    frames, _ = capped(HTML_CLASS + PNG_CLASS + "H(1500000)\n")
    notice = (
        "output truncated: text/html of 3000008 bytes dropped, over the 1000000-byte display limit"
    )
    [frame] = of_type(frames, "result")
    assert frame["bundle"] == {"text/plain": "H()\n[%s]" % notice}
    assert frame["truncated"] == {"text/html": 3000008}
    assert stderr(frames) == "pykernel: %s\n" % notice


def test_only_what_does_not_fit_is_cut():
    # 600 KB of PNG fits a 1 MB cap; 700 KB of HTML with it does not, and is larger.
    code = (
        HTML_CLASS
        + PNG_CLASS
        + "class Both(H, P):\n"
        "    def __init__(self):\n"
        "        H.__init__(self, 350000)\n"
        "        P.__init__(self, 2400)\n"
        "Both()"
    )
    frames, _ = capped(code)
    [frame] = of_type(frames, "result")
    assert sorted(frame["bundle"]) == ["image/png", "text/plain"]
    assert frame["bundle"]["image/png"] == base64.b64encode(bytes(range(256)) * 2400).decode()
    assert frame["truncated"] == {"text/html": 700008}


def test_a_huge_text_plain_part_keeps_its_start():
    frames, _ = capped("'z' * 3000000")
    [frame] = of_type(frames, "result")
    kept, notice = frame["bundle"]["text/plain"].split("\n")
    assert kept == "'" + "z" * (len(kept) - 1) and 100000 < len(kept) < 1000000
    assert notice == (
        "[output truncated: text/plain cut to its first %d of 3000002 bytes, over the "
        "1000000-byte display limit]" % len(kept)
    )
    assert frame["truncated"] == {"text/plain": 3000002}


def test_user_code_does_not_see_the_cap():
    frames, _ = capped("import os\nprint('PYKERNEL_MAX_DISPLAY_BYTES' in os.environ)")
    assert ok(frames) == "False\n"

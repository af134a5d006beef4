"""Rich display: MIME bundles of objects, ``display()``, results and errors as frames,
display ids with their updates, ``clear_output``, and matplotlib figures and PIL images
as PNG.

A bundle always has ``text/plain``; ``_repr_mimebundle_`` and the ``_repr_*_`` methods
add the rest. ``publish`` sends a bundle (or an error) for the running cell after the
stream output written before it, or hands it to a ``%%capture``. A display with a
display id can be replaced later (``update_display``, ``DisplayHandle.update``), also
from another cell, as in Jupyter. Open pyplot figures are shown at the end of each cell
(``flush_figures``) or on ``plt.show()``.
"""

import io
import sys

from . import running
from .output import flush_output
from .wire import BINARY_MIMES, emit, emit_for, log


_REPR_METHODS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_json_", "application/json"),
    ("_repr_latex_", "text/latex"),
)


def _real_method(obj, name):
    """The bound ``_repr_*_`` method of ``obj``, skipping classes and catch-all objects."""
    if isinstance(obj, type):
        return None
    try:
        if getattr(obj, "_pykernel_probe_attribute_that_does_not_exist_", None) is not None:
            return None
        method = getattr(obj, name, None)
    except Exception:
        return None
    return method if callable(method) else None


def _normalize(mime, value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        if mime in BINARY_MIMES:
            # Kept as bytes, as IPython's formatters keep them: the wire sends them raw
            # (or as base64 to a host that takes no payloads).
            return bytes(value)
        return bytes(value).decode("utf-8", "replace")
    return value


def safe_repr(obj):
    try:
        return repr(obj)
    except Exception as exc:
        return "<%s object (repr failed: %s)>" % (type(obj).__name__, type(exc).__name__)


def format_bundle(obj, include=None, exclude=None):
    """Builds the MIME bundle of ``obj``; ``text/plain`` is always present."""
    return format_with_metadata(obj, include, exclude)[0]


def format_with_metadata(obj, include=None, exclude=None, plain=None):
    """``(bundle, metadata)`` of ``obj``: the bundle as ``format_bundle`` makes it, and
    the metadata ``_repr_mimebundle_`` or a ``_repr_*_`` method gave with it (a
    ``(value, metadata)`` pair, as IPython's ``Image(width=...)`` returns), keyed by MIME
    type as in Jupyter. ``plain(obj)`` makes ``text/plain`` when the object's methods
    gave none (default: its repr)."""
    data = {}
    metadata = {}
    modules = sys.modules
    figure_mod = modules.get("matplotlib.figure")
    pil_mod = modules.get("PIL.Image")
    if figure_mod is not None and isinstance(obj, getattr(figure_mod, "Figure", ())):
        figure_data, figure_metadata = _figure_data(obj)
        data.update(figure_data)
        metadata.update(figure_metadata)
    elif pil_mod is not None and isinstance(obj, getattr(pil_mod, "Image", ())):
        png = _pil_png(obj)
        if png is not None:
            data["image/png"] = png
    else:
        method = _real_method(obj, "_repr_mimebundle_")
        if method is not None:
            result = None
            try:
                result = method(include=include, exclude=exclude)
            except TypeError:
                try:
                    result = method()
                except Exception:
                    result = None
            except Exception:
                result = None
            if isinstance(result, tuple):
                if len(result) == 2 and isinstance(result[1], dict):
                    metadata.update(result[1])
                result = result[0] if result else None
            if isinstance(result, dict):
                for mime, value in result.items():
                    if isinstance(mime, str):
                        data[mime] = _normalize(mime, value)
        for name, mime in _REPR_METHODS:
            if mime in data:
                continue
            method = _real_method(obj, name)
            if method is None:
                continue
            try:
                value = method()
            except Exception:
                continue
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
                value, extra = value
                if extra and value is not None:
                    metadata[mime] = extra
            if value is None:
                continue
            data[mime] = _normalize(mime, value)
    if "text/plain" not in data:
        data["text/plain"] = (plain or safe_repr)(obj)
    if include:
        data = {k: v for k, v in data.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data, metadata


def figure_formats():
    """The formats figures are shown in: IPython's ``InlineBackend.figure_formats`` (or
    ``figure_format``) as ``%config`` or ``get_ipython().config`` set them; ``png`` by
    default, as in ipykernel."""
    compat = sys.modules.get(__package__ + ".ipython_compat")
    shell = getattr(compat, "_shell", None)
    inline = shell.config.get("InlineBackend") if shell is not None else None
    chosen = None
    if inline:
        chosen = inline.get("figure_formats") or inline.get("figure_format")
    if isinstance(chosen, str):
        chosen = [chosen]
    try:
        formats = sorted({str(name).lower() for name in chosen}) if chosen else []
    except TypeError:
        formats = []
    return formats or ["png"]


def _figure_data(fig):
    """A figure's bundle entries and metadata in the chosen formats (``retina`` is a PNG
    at twice the resolution whose metadata halves its size, as matplotlib-inline's)."""
    ex = running.current
    if ex is not None and not any(f is fig for f in ex.shown_figs):
        ex.shown_figs.append(fig)
    if not (fig.axes or getattr(fig, "lines", None) or getattr(fig, "images", None)):
        if not (getattr(fig, "texts", None) or getattr(fig, "patches", None)):
            return {}, {}
    data, metadata = {}, {}
    try:
        for name in figure_formats():
            if name == "png":
                data["image/png"] = _save_figure(fig, "png")
            elif name in ("retina", "png2x"):
                png = _save_figure(fig, "png", dpi=2 * fig.dpi)
                data["image/png"] = png
                size = _png_size(png)
                if size is not None:
                    metadata["image/png"] = {"width": size[0] // 2, "height": size[1] // 2}
            elif name == "svg":
                data["image/svg+xml"] = _save_figure(fig, "svg").decode("utf-8")
            elif name in ("jpg", "jpeg"):
                data["image/jpeg"] = _save_figure(fig, "jpg")
            elif name == "pdf":
                data["application/pdf"] = _save_figure(fig, "pdf")
            else:
                log("unknown figure format %r" % (name,))
    except Exception as exc:
        log("could not render a figure: %r" % (exc,))
    return data, metadata


def _save_figure(fig, format, **options):
    buf = io.BytesIO()
    fig.savefig(buf, format=format, bbox_inches="tight", **options)
    return buf.getvalue()


def _png_size(png):
    """(width, height) from a PNG's header, or None."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _pil_png(image):
    try:
        buf = io.BytesIO()
        try:
            image.save(buf, format="PNG")
        except (OSError, ValueError):
            buf = io.BytesIO()
            image.convert("RGBA").save(buf, format="PNG")
        return buf.getvalue()
    except Exception as exc:
        log("could not render an image: %r" % (exc,))
        return None


# The metadata of a display that is what IPython sends to its pager (help, ``%magic``):
# Jupyter shows it aside and a notebook does not keep it, so hosts can do the same.
PAGER_METADATA = {"pager": True}


def publish(kind, payload, display_id=None, metadata=None):
    """Sends a display/result bundle or an error for the running execution; a display
    may carry a ``display_id`` that later updates name, a bundle its ``metadata``
    (Jupyter's, such as ``{"image/png": {"width": 100}}``).

    Stream output written before it goes out first, so order is kept. Inside
    ``%%capture`` displays go to the capture instead. A display from a background thread
    after its cell ended goes out under the id of the cell that ended last, as its
    stream output does.
    """
    ex, late = _target()
    if ex is None:
        log("dropped a %s outside of an execution" % kind)
        return
    if late and kind != "display":
        log("dropped a late %s of execution %r" % (kind, ex.id))
        return
    if not late and kind != "error" and ex.captures and ex.captures[-1].take_display(payload):
        return
    frame = {"type": kind, "id": ex.id}
    if kind == "error":
        frame.update(payload)
    else:
        frame["bundle"] = payload
        if display_id is not None:
            frame["displayId"] = str(display_id)
        _add_metadata(frame, metadata)
    _send(ex, late, frame)


def _add_metadata(frame, metadata):
    """Puts non-empty ``metadata`` on a frame; it must be a JSON object."""
    if metadata:
        if not isinstance(metadata, dict):
            raise TypeError("display metadata must be a dict, not %s" % type(metadata).__name__)
        frame["metadata"] = {str(k): v for k, v in metadata.items()}


def publish_update(bundle, display_id, metadata=None):
    """Replaces every earlier display with ``display_id`` (in any cell) by ``bundle``
    (and its ``metadata``): an ``update_display`` frame. Inside ``%%capture`` the update
    is captured instead."""
    ex, late = _target()
    if ex is None:
        log("dropped an update of display %r outside of an execution" % (display_id,))
        return
    if not late and ex.captures and ex.captures[-1].take_display(bundle):
        return
    frame = {"type": "update_display", "id": ex.id, "bundle": bundle}
    frame["displayId"] = str(display_id)
    _add_metadata(frame, metadata)
    _send(ex, late, frame)


def clear_output(wait=False):
    """Clears the running cell's output so far (Jupyter's ``clear_output``); with
    ``wait=True`` the clear happens just before the cell's next output. Inside
    ``%%capture`` it clears what the capture holds."""
    ex, late = _target()
    if ex is None:
        log("dropped a clear_output outside of an execution")
        return
    if not late and ex.captures:
        captured = ex.captures[-1].captured
        del captured._stdout[:], captured._stderr[:], captured.outputs[:]
        return
    _send(ex, late, {"type": "clear_output", "id": ex.id, "wait": bool(wait)})


def _target():
    """The execution a display belongs to, and whether its cell already ended (a
    background thread's display after it: it goes out under the last cell's id)."""
    ex = running.current
    if ex is not None and not ex.finished:
        return ex, False
    return running.last, True


def _send(ex, late, frame):
    flush_output()
    if late:
        emit(frame)
    else:
        emit_for(ex, frame)


class DisplayHandle:
    """A display that can be shown again or replaced: what ``display(obj, display_id=...)``
    returns, as IPython's ``DisplayHandle``."""

    def __init__(self, display_id=None):
        if display_id is None:
            display_id = new_display_id()
        self.display_id = display_id

    def __repr__(self):
        return "<%s display_id=%s>" % (type(self).__name__, self.display_id)

    def display(self, obj, **kwargs):
        """Shows ``obj`` as a new output with this handle's display id."""
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        """Replaces every output shown with this display id by ``obj``."""
        update_display(obj, display_id=self.display_id, **kwargs)


def new_display_id():
    """A fresh display id: a uuid4 in hex, as IPython makes them."""
    import uuid

    return uuid.uuid4().hex


def _bundle_of(obj, raw, include, exclude, metadata):
    """``(bundle, metadata)`` of ``obj``: the metadata its formatting gave, updated by
    the caller's ``metadata`` as IPython's ``display(..., metadata=...)`` does."""
    if raw:
        if not isinstance(obj, dict):
            raise TypeError("display(..., raw=True) requires a MIME bundle dict")
        data, found = {str(k): _normalize(str(k), v) for k, v in obj.items()}, {}
    else:
        # As IPython formats it: pretty text/plain, and the formatters get_ipython() registered.
        compat = running.rare("ipython_compat")
        data, found = compat.format_with_metadata(obj, include, exclude)
    if metadata:
        found = dict(found)
        found.update(metadata)
    return data, found


def display(*objs, raw=False, include=None, exclude=None, display_id=None, metadata=None, **kwargs):
    """Shows objects as rich output (a ``display`` frame per object).

    With ``raw=True`` each object must already be a MIME bundle dict. Objects render
    through ``_repr_mimebundle_`` and the ``_repr_*_`` methods; ``text/plain`` is
    always included. With ``display_id`` (``True`` for a fresh one, or a string) the
    outputs carry that id and a ``DisplayHandle`` is returned, whose ``update`` replaces
    them. ``metadata`` goes with each bundle (over what formatting gave). Other IPython
    keywords (``transient`` ...) are accepted and ignored, apart from ``update=True``,
    which updates instead of displaying.
    """
    if display_id is True:
        display_id = new_display_id()
    if kwargs.get("update"):
        if display_id is None:
            raise TypeError("display(..., update=True) requires a display_id")
        for obj in objs:
            data, found = _bundle_of(obj, raw, include, exclude, metadata)
            publish_update(data, display_id, found)
        return None
    for obj in objs:
        data, found = _bundle_of(obj, raw, include, exclude, metadata)
        publish("display", data, display_id, found)
    if display_id is None:
        return None
    return DisplayHandle(display_id)


def update_display(
    obj, *, display_id, raw=False, include=None, exclude=None, metadata=None, **kwargs
):
    """Replaces every output shown with ``display_id`` (in any cell) by ``obj``."""
    data, found = _bundle_of(obj, raw, include, exclude, metadata)
    publish_update(data, display_id, found)


def status(op, **fields):
    """Emits a status event bundle (``application/x-pykernel-status``)."""
    event = {"op": op}
    event.update(fields)
    publish("display", {"application/x-pykernel-status": event, "text/plain": ""})


def flush_figures(ex):
    """Emits each open pyplot figure not yet shown in this cell, then closes them all."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    if pyplot is None or helpers is None:
        return
    try:
        managers = helpers.Gcf.get_all_fig_managers()
    except Exception:
        return
    if not managers:
        return
    for manager in managers:
        try:
            fig = manager.canvas.figure
        except Exception:
            continue
        if any(f is fig for f in ex.shown_figs):
            continue
        bundle, metadata = format_with_metadata(fig)
        if len(bundle) > 1:
            publish("display", bundle, metadata=metadata)
    try:
        pyplot.close("all")
    except Exception:
        pass


def flush_figures_quietly(ex):
    """``flush_figures`` on a cell's error path, where it must not raise."""
    try:
        flush_figures(ex)
    except BaseException as exc:
        log("could not flush figures: %r" % (exc,))


def backend_shows_figures():
    """Whether matplotlib's backend shows figures itself (``%matplotlib notebook`` or
    ``widget``: an interactive figure in the frontend), so that the runner must not add
    them as images, as ipykernel does not."""
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is None:
        return False
    try:
        # The raw setting: get_backend() would resolve an unset backend, importing it.
        backend = str(dict.__getitem__(matplotlib.rcParams, "backend")).lower()
    except Exception:
        return False
    return backend in ("nbagg", "notebook", "widget", "ipympl") or "ipympl" in backend


def pyplot_show(*args, **kwargs):
    """``plt.show()`` in the kernel: display every open figure now, then close them (an
    interactive backend's own ``show`` instead)."""
    ex = running.current
    if ex is None:
        return
    if backend_shows_figures():
        backend_module = getattr(sys.modules.get("matplotlib.pyplot"), "_get_backend_mod", None)
        if backend_module is not None:
            return backend_module().show(*args, **kwargs)
        return
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    if helpers is None:
        return
    for manager in helpers.Gcf.get_all_fig_managers():
        fig = manager.canvas.figure
        if not any(f is fig for f in ex.shown_figs):
            bundle, metadata = format_with_metadata(fig)
            if len(bundle) > 1:
                publish("display", bundle, metadata=metadata)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")

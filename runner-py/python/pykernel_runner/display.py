"""Rich display: MIME bundles of objects, ``display()``, results and errors as frames,
and matplotlib figures and PIL images as PNG.

A bundle always has ``text/plain``; ``_repr_mimebundle_`` and the ``_repr_*_`` methods
add the rest. ``publish`` sends a bundle (or an error) for the running cell after the
stream output written before it, or hands it to a ``%%capture``. Open pyplot figures are
shown at the end of each cell (``flush_figures``) or on ``plt.show()``.
"""

import io
import sys

from . import running
from .output import flush_output
from .wire import emit_for, log


_REPR_METHODS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_json_", "application/json"),
    ("_repr_latex_", "text/latex"),
)


_BINARY_MIMES = ("image/png", "image/jpeg", "image/gif", "application/pdf")


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


def _b64(data):
    import base64

    return base64.b64encode(bytes(data)).decode("ascii")


def _normalize(mime, value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        if mime in _BINARY_MIMES:
            return _b64(value)
        return bytes(value).decode("utf-8", "replace")
    return value


def safe_repr(obj):
    try:
        return repr(obj)
    except Exception as exc:
        return "<%s object (repr failed: %s)>" % (type(obj).__name__, type(exc).__name__)


def format_bundle(obj, include=None, exclude=None):
    """Builds the MIME bundle of ``obj``; ``text/plain`` is always present."""
    data = {}
    modules = sys.modules
    figure_mod = modules.get("matplotlib.figure")
    pil_mod = modules.get("PIL.Image")
    if figure_mod is not None and isinstance(obj, getattr(figure_mod, "Figure", ())):
        png = _figure_png(obj)
        if png is not None:
            data["image/png"] = png
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
                value = value[0]
            if value is None:
                continue
            data[mime] = _normalize(mime, value)
    if "text/plain" not in data:
        data["text/plain"] = safe_repr(obj)
    if include:
        data = {k: v for k, v in data.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data


def _figure_png(fig):
    ex = running.current
    if ex is not None and not any(f is fig for f in ex.shown_figs):
        ex.shown_figs.append(fig)
    if not (fig.axes or getattr(fig, "lines", None) or getattr(fig, "images", None)):
        if not (getattr(fig, "texts", None) or getattr(fig, "patches", None)):
            return None
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return _b64(buf.getvalue())
    except Exception as exc:
        log("could not render a figure: %r" % (exc,))
        return None


def _pil_png(image):
    try:
        buf = io.BytesIO()
        try:
            image.save(buf, format="PNG")
        except (OSError, ValueError):
            buf = io.BytesIO()
            image.convert("RGBA").save(buf, format="PNG")
        return _b64(buf.getvalue())
    except Exception as exc:
        log("could not render an image: %r" % (exc,))
        return None


def publish(kind, payload):
    """Sends a display/result bundle or an error for the running execution.

    Stream output written before it goes out first, so order is kept. Inside
    ``%%capture`` displays go to the capture instead.
    """
    ex = running.current
    if ex is None:
        log("dropped a %s outside of an execution" % kind)
        return
    if kind != "error" and ex.captures and ex.captures[-1].take_display(payload):
        return
    flush_output()
    frame = {"type": kind, "id": ex.id}
    if kind == "error":
        frame.update(payload)
    else:
        frame["bundle"] = payload
    emit_for(ex, frame)


def display(*objs, raw=False, include=None, exclude=None, **kwargs):
    """Shows objects as rich output (a ``display`` frame per object).

    With ``raw=True`` each object must already be a MIME bundle dict. Objects render
    through ``_repr_mimebundle_`` and the ``_repr_*_`` methods; ``text/plain`` is
    always included. Extra IPython keywords (``metadata``, ``display_id`` ...) are
    accepted and ignored.
    """
    for obj in objs:
        if raw:
            if not isinstance(obj, dict):
                raise TypeError("display(..., raw=True) requires a MIME bundle dict")
            bundle = {str(k): _normalize(str(k), v) for k, v in obj.items()}
        else:
            bundle = format_bundle(obj, include, exclude)
        publish("display", bundle)


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
        bundle = format_bundle(fig)
        if "image/png" in bundle:
            publish("display", bundle)
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


def pyplot_show(*args, **kwargs):
    """``plt.show()`` in the kernel: display every open figure now, then close them."""
    ex = running.current
    if ex is None:
        return
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    if helpers is None:
        return
    for manager in helpers.Gcf.get_all_fig_managers():
        fig = manager.canvas.figure
        if not any(f is fig for f in ex.shown_figs):
            bundle = format_bundle(fig)
            if "image/png" in bundle:
                publish("display", bundle)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")

"""The user's namespace and what it sees of the runner: ``__main__``, the ``In``/``Out``
history with ``_``, ``__`` and ``___``, the builtins the runner installs (``display``,
``input``, ``exit``, ``__pykernel__``), and the names the prelude defined.

``__pykernel__`` is what transformed cells and the prelude call into; its magics and
shell helpers come from modules imported on first use.
"""

import builtins
import sys

from . import running
from .display import (
    DisplayHandle,
    clear_output,
    display,
    format_bundle,
    new_display_id,
    status,
    update_display,
)
from .requests import HostCallError, StdinNotImplementedError, host_call, host_input

USER_MODULE = type(sys)("__main__")
USER_NS = USER_MODULE.__dict__

INPUTS = [""]  # In: the source of each stored cell, by number
OUT_HISTORY = {}  # Out: the result of each stored cell that had one, by number
HIDDEN = {}  # name -> value the prelude defined, which %who leaves out
prelude_source = None  # the prelude cell, which %reset runs again
rerunning_prelude = False
_last_inputs = ["", "", ""]
_last_results = [None, None, None]


# The host's secret rule (see set_secret_rule): words, fragments, exempt names.
_secret_words = frozenset()
_secret_fragments = ()
_not_secrets = frozenset()


def set_secret_rule(rule):
    """Takes the host's secret rule, ``WORDS|FRAGMENTS|EXEMPT`` with each list joined by
    ``,`` (the kernel's filter is its one home). Without one nothing looks secret."""
    global _secret_words, _secret_fragments, _not_secrets
    parts = (rule.split("|") + ["", "", ""])[:3]
    words, fragments, exempt = ([item for item in part.split(",") if item] for part in parts)
    _secret_words = frozenset(words)
    _secret_fragments = tuple(fragments)
    _not_secrets = frozenset(exempt)


def looks_secret(name):
    """Whether a variable's name says it holds a secret, by the host's rule: a word of it
    (split at ``_``, ``-`` and ``.``) or a fragment anywhere in it, case ignored."""
    if name in _not_secrets:
        return False
    upper = name.upper()
    words = upper.replace("-", "_").replace(".", "_").split("_")
    return any(word in _secret_words for word in words) or any(
        fragment in upper for fragment in _secret_fragments
    )


class UsageError(Exception):
    """A magic was used wrongly, or does not exist (reported without a traceback)."""


def record_input(code, number):
    """Stores the source of cell ``number`` as ``In``, ``_i``, ``_ii``, ``_iii`` and
    ``_iN`` show it."""
    global _last_inputs
    ns = USER_NS
    inputs = INPUTS
    while len(inputs) < number:
        inputs.append("")
    inputs.append(code)
    previous = _last_inputs
    _last_inputs = [code, previous[0], previous[1]]
    ns["_i"] = previous[0]
    ns["_ii"] = previous[1]
    ns["_iii"] = previous[2]
    ns["_i%d" % number] = code
    ns["In"] = inputs
    ns["_ih"] = inputs


def record_output(number, value):
    """Stores the result of cell ``number`` as ``Out``, ``_``, ``__``, ``___`` and
    ``_N`` show it (``_`` only while the user has not assigned it)."""
    global _last_results
    ns = USER_NS
    last = _last_results
    if ns.get("_", last[0]) is last[0]:
        ns["_"] = value
    ns["__"] = last[0]
    ns["___"] = last[1]
    _last_results = [value, last[0], last[1]]
    OUT_HISTORY[number] = value
    ns["_%d" % number] = value


def init_user_ns():
    """Puts the names every fresh namespace has into ``USER_NS``."""
    ns = USER_NS
    ns["__name__"] = "__main__"
    ns["__doc__"] = None
    ns["__package__"] = None
    ns["__loader__"] = None
    ns["__spec__"] = None
    ns["__builtins__"] = builtins
    ns["In"] = INPUTS
    ns["_ih"] = INPUTS
    ns["Out"] = OUT_HISTORY
    ns["_oh"] = OUT_HISTORY


def clear():
    """Empties the namespace and the output history (``%reset``); the caller runs the
    prelude again."""
    global _last_results
    USER_NS.clear()
    OUT_HISTORY.clear()
    _last_results = [None, None, None]
    HIDDEN.clear()
    init_user_ns()


def install_builtins(protocol_version, runner_version):
    """Installs ``display``, ``__pykernel__``, ``input``, ``exit`` and ``quit``."""
    _Api.protocol_version = protocol_version
    _Api.version = runner_version
    builtins.display = display
    builtins.__pykernel__ = _Api()
    builtins.input = host_input
    builtins.exit = _Quitter("exit")
    builtins.quit = _Quitter("quit")


class _Quitter:
    """``exit``/``quit`` in a kernel: raise SystemExit, which ends only the cell."""

    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return "Use %s() to raise SystemExit; the kernel keeps running." % self._name

    def __call__(self, code=None):
        raise SystemExit() if code is None else SystemExit(code)


# __pykernel__ attributes that live in a module imported on first use: name -> module.
_RARE = {
    "line_magic": "magics",
    "cell_magic": "magics",
    "CapturedIO": "magics",
    "system": "shell",
    "getoutput": "shell",
    "SList": "shell",
}


class _Api:
    """``__pykernel__``: what transformed cells and the prelude call into."""

    display = staticmethod(display)
    update_display = staticmethod(update_display)
    clear_output = staticmethod(clear_output)
    DisplayHandle = DisplayHandle
    new_display_id = staticmethod(new_display_id)
    format = staticmethod(format_bundle)
    status = staticmethod(status)
    host_call = staticmethod(host_call)
    HostCallError = HostCallError
    UsageError = UsageError
    StdinNotImplementedError = StdinNotImplementedError
    protocol_version = None  # set by install_builtins
    version = None

    def __getattr__(self, name):
        # The first use of a magic or shell helper imports its module; the attribute is
        # then kept on the instance, so no later call comes here (nor adds a frame).
        module = _RARE.get(name)
        if module is None:
            raise AttributeError("'__pykernel__' has no attribute %r" % name)
        value = getattr(running.rare(module), name)
        self.__dict__[name] = value
        return value

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(_RARE))

    @staticmethod
    def execution_id():
        """The id of the running execution, or None while idle."""
        ex = running.current
        return None if ex is None else ex.id

    @staticmethod
    def register_prelude(names):
        """Records the running cell as the prelude: ``%reset`` re-runs it, and
        ``%who`` hides the names it defined."""
        global prelude_source
        from .execution import SOURCES

        ex = running.current
        if not rerunning_prelude and ex is not None:
            prelude_source = SOURCES.get(ex.filename)
        for name in names:
            if name in USER_NS:
                HIDDEN[name] = USER_NS[name]

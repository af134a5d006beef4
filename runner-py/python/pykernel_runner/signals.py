"""SIGINT: ignored while idle, ``KeyboardInterrupt`` while a cell runs.

A SIGINT that lands while the main thread is writing a frame is deferred until the
write is complete, so a frame is never cut in half. The functions that write are marked
``@critical`` where they are defined; the handler looks for their code objects on the
interrupted stack, and each of them calls ``after_critical()`` as it ends.
"""

import _signal as signal
import _thread
import sys

# The code objects of every @critical function.
CRITICAL_CODES = set()
MAIN_IDENT = _thread.get_ident()  # the runner is imported on the main thread

deferred = False  # a SIGINT arrived inside a critical function
_redelivering = False
_enabled = True  # unknown at first: the first set_sigint(False) installs SIG_IGN


def critical(function):
    """Marks ``function`` as one that a SIGINT must not cut short; it must call
    ``after_critical()`` as it ends (in a ``finally``)."""
    CRITICAL_CODES.add(function.__code__)
    return function


def _sigint_handler(signum, frame):
    global deferred
    if _redelivering:
        raise KeyboardInterrupt
    f = frame
    while f is not None:
        if f.f_code in CRITICAL_CODES:
            deferred = True
            return
        f = f.f_back
    raise KeyboardInterrupt


def after_critical():
    """Called as a critical function ends: delivers a SIGINT deferred meanwhile.

    Only the outermost critical function delivers it (an enclosing one would be cut
    short otherwise). ``raise_signal`` runs the handler at once, still inside the
    critical caller, so the handler is told not to defer it again.
    """
    global deferred, _redelivering
    if not deferred or _thread.get_ident() != MAIN_IDENT:
        return
    f = sys._getframe(2)
    while f is not None:
        if f.f_code in CRITICAL_CODES:
            return
        f = f.f_back
    deferred = False
    _redelivering = True
    try:
        signal.raise_signal(signal.SIGINT)
    except (AttributeError, OSError, ValueError):
        pass
    finally:
        _redelivering = False


def set_sigint(enabled):
    """Installs the handler (always: user code may have replaced it) or ignores SIGINT
    (unless it already is, as when a cell's error path and its end both turn it off)."""
    global _enabled
    if _thread.get_ident() != MAIN_IDENT or not (enabled or _enabled):
        return
    _enabled = enabled
    try:
        signal.signal(signal.SIGINT, _sigint_handler if enabled else signal.SIG_IGN)
    except (OSError, ValueError):
        pass


def interrupt_main():
    """The in-band ``interrupt`` request: the same effect as a SIGINT."""
    if hasattr(signal, "pthread_kill"):
        try:
            signal.pthread_kill(MAIN_IDENT, signal.SIGINT)
            return
        except OSError:
            pass
    _thread.interrupt_main()

"""emit(): Signal.emit without PySide6 6.12.0's reference-count bug.

In PySide6 6.12.0, `SignalInstance.emit()` returns `True` without taking a
reference to it. On Python 3.12+ `True` is immortal and nothing happens; on
3.11 every emit from Python lowers its count by one, and after a few hundred
emits the interpreter aborts with "Fatal Python error: bool_dealloc". A
stroke emits once per mouse event, so painting would crash the app within
seconds. Signals emitted from C++ are not affected.

emit() measures once whether this PySide has the bug and, if so, gives back
the missing reference after each emit. Fixed versions pay one comparison.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal, SignalInstance


class _Probe(QObject):
    ping = Signal()


def _emit_drops_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    probe.ping.emit()
    return sys.getrefcount(True) < before


EMIT_DROPS_A_REFERENCE = _emit_drops_a_reference()


def emit(signal: SignalInstance, *args: object) -> None:
    result = signal.emit(*args)
    if EMIT_DROPS_A_REFERENCE:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))

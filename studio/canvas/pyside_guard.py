"""Keeps PySide6 6.12.0's reference-count bug from aborting the app on Python 3.11.

PySide6 6.12.0's wheels hand back `None` from every void method, and `True`
from `Signal.emit()`, without taking a reference to it, which is only right
on Python 3.12+, where those objects are immortal. On 3.11 each such call
lowers the count by one; `None` starts near 5,000 in a fresh interpreter, so
a few seconds of painting (each repaint makes several void QPainter calls)
end in "Fatal Python error: none_dealloc" — or bool_dealloc.

`None`, `True` and `False` are static objects that CPython never frees: the
count only exists to catch such bugs. Raising it far out of reach is what
3.12 does for every interpreter, so doing it here changes nothing else. It
is done only where the bug is measured, and on release builds (where the
count is the object's first field).
"""

from __future__ import annotations

import ctypes
import sys

# As high as Python 3.12's immortal objects, far from both 0 and overflow.
OUT_OF_REACH = 1 << 60


def _void_call_drops_a_reference() -> bool:
    from PySide6.QtCore import QObject, QPoint, Signal

    class Probe(QObject):
        ping = Signal()

    point, probe = QPoint(), Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    point.setX(1)  # a void method: returns None
    probe.ping.emit()  # returns True
    return sys.getrefcount(None) < none_before or sys.getrefcount(True) < true_before


def protect_singletons() -> bool:
    """Applies the guard where needed; True if it was applied."""
    if sys.version_info >= (3, 12) or hasattr(sys, "gettotalrefcount"):
        return False  # immortal already, or a debug build with another object layout
    if not _void_call_drops_a_reference():
        return False
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value = OUT_OF_REACH
    return True


PROTECTED = protect_singletons()

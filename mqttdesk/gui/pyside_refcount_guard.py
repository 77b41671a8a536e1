"""Keeps PySide6 6.12.0 from killing the interpreter on Python 3.10/3.11 (upstream PYSIDE-3474).

The 6.12.0 wheels drop one reference to `None` on every call of a Qt method that returns nothing, and one
reference to `True` on every signal `emit()`. From Python 3.12 on these objects are immortal and nothing
happens; on 3.11 their count reaches zero after a few thousand calls and CPython aborts with
"Fatal Python error: none_dealloc: deallocating None" — a GUI does that many calls within minutes.

The real fix is a PySide6 release without the bug (or Python >= 3.12, or PySide6 6.11 on 3.11). Until then
`protect_singletons()` makes `None`, `True` and `False` effectively immortal, as Python 3.12 does, by adding a
very large number to their reference counts once: those objects are static and never freed, so an inflated count
is harmless, while a count that drifts to zero is fatal. It does nothing where the bug does not exist.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_AFFECTED_PYSIDE = ((6, 12, 0),)
_MARGIN = 1 << 40  # a trillion dropped references before anything could go wrong
_protected = False


def needs_protection() -> bool:
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if hasattr(sys, "getobjects"):  # a Py_TRACE_REFS build: the count is not the first field, leave it alone
        return False
    import PySide6

    return tuple(PySide6.__version_info__[:3]) in _AFFECTED_PYSIDE


def protect_singletons() -> bool:
    """Apply the workaround once where needed; returns whether it is in effect."""
    global _protected
    if _protected:
        return True
    if not needs_protection():
        return False
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt is PyObject's first field
        refcount.value += _MARGIN
    _protected = True
    log.debug("PySide6 6.12.0 on Python < 3.12: None/True/False protected against dropped references")
    return True

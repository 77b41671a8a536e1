"""The Qt front-end: main window, one module per tab, item models over the store and the registry, widgets.

Nothing outside this package imports it; it imports everything below it (see DESIGN.md). Importing it applies
the PySide6 6.12.0 / Python 3.11 workaround in `pyside_refcount_guard` before any of our Qt calls.
"""

from mqttdesk.gui.pyside_refcount_guard import protect_singletons

protect_singletons()

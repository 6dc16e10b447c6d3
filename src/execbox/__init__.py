"""execbox: run untrusted code in fresh, isolated, limited sandboxes.

The public API is small: build a :class:`~execbox.engine.Engine` from
:class:`~execbox.settings.Settings` and call ``run``; everything else is the
service and command line built on top of it.
"""

__version__ = "0.1.0"

"""The web editor served at ``/``: a page, its stylesheet and its bundled script.

The page talks to the HTTP API like any other client; nothing here runs code.
The script is built from ``frontend/`` (``npm ci && npm run build``) and the
built files are committed under ``static/``, so serving needs no Node.js and no
network.
"""

from execbox.web.editor import mount_editor

__all__ = ["mount_editor"]

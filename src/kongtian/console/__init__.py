"""The web console: a static single-page app served by the platform at ``/``.

The page (built from ``console/`` at the repository root with npm, committed built under
``static/`` so a Python-only install needs no npm) talks only to the platform API on
its own origin and the ``/v1/stream/ws`` WebSocket; it loads nothing from the network.
:func:`mount` adds it to a FastAPI app; ``kongtian serve`` and ``kongtian demo`` call it
from :func:`kongtian.platform.api.app.create_app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["STATIC_DIR", "mount"]

#: The built console (index.html, app.js, vendor/, data/).
STATIC_DIR = Path(__file__).parent / "static"

_ROUTE_NAME = "console"


def mount(app: Starlette, path: str = "/") -> bool:
    """Serve the built console at ``path`` (default ``/``) on ``app``.

    Call it after every API route is added: a mount at ``/`` matches whatever the routes
    before it did not. Idempotent (a second call does nothing). Returns False, and mounts
    nothing, when the built assets are missing (a source checkout where ``static/`` was
    removed): the API keeps working without the console.
    """
    if any(getattr(r, "name", None) == _ROUTE_NAME for r in app.routes):
        return True
    if not (STATIC_DIR / "index.html").is_file():
        return False
    app.mount(path, _console_files(), name=_ROUTE_NAME)
    return True


def _console_files() -> Any:
    """StaticFiles for the console that leave the API's error shape alone: a path under
    ``/v1/`` or a method other than GET/HEAD is a plain 404 (JSON through the app's
    handler), not the page and not StaticFiles' 405."""
    from starlette.exceptions import HTTPException
    from starlette.staticfiles import StaticFiles
    from starlette.types import Scope

    class ConsoleFiles(StaticFiles):
        async def get_response(self, path: str, scope: Scope) -> Any:
            if scope["method"] not in ("GET", "HEAD") or path == "v1" or path.startswith("v1/"):
                raise HTTPException(status_code=404)
            return await super().get_response(path, scope)

    return ConsoleFiles(directory=STATIC_DIR, html=True)

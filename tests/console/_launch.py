"""Run a ``kongtian`` CLI command with the web console mounted on the API app.

Until :func:`kongtian.platform.api.app.create_app` calls :func:`kongtian.console.mount`
itself, the console tests start the server through this wrapper, which wraps
``create_app`` (both ``kongtian serve`` and ``kongtian demo`` import it inside their
command bodies, so the wrapper is picked up). Once create_app mounts the console, the
wrapper changes nothing: :func:`~kongtian.console.mount` is idempotent.

    python tests/console/_launch.py demo --port 8765 --duration 120
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    import kongtian.platform.api.app as app_module
    from kongtian.cli import main as cli_main
    from kongtian.console import mount

    create_app = app_module.create_app

    def create_app_with_console(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)
        mount(app)
        return app

    app_module.create_app = create_app_with_console  # type: ignore[assignment]
    sys.argv = ["kongtian", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()

"""python -m console: serve the console (``make run`` starts it with the services)."""

from __future__ import annotations

import uvicorn

from console.app import create_app
from console.settings import ConsoleSettings
from services import logging as service_logging
from services.serve import QuietServer


def main() -> None:
    settings = ConsoleSettings()
    service_logging.configure("console-svc", settings.log_level)
    config = uvicorn.Config(
        create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False
    )
    QuietServer(config).run()


if __name__ == "__main__":
    main()

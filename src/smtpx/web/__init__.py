"""smtpx.web: the inbox, a web UI and JSON API over the store.

    from smtpx.web import Hub, HttpServer, create_app

    hub = Hub()                                      # StoringHandler(store, stored=hub.publish)
    app = create_app(store, hub=hub)
    http = HttpServer(app, "127.0.0.1", 8025)
    await http.start()

The routes read the store only (never SMTP); new messages reach open pages and
long polls through the hub the SMTP handler publishes to.
"""

from __future__ import annotations

from ._app import create_app
from ._config import InboxConfig, ReleaseTarget
from ._http import HttpServer
from ._live import Hub

__all__ = ["HttpServer", "Hub", "InboxConfig", "ReleaseTarget", "create_app"]

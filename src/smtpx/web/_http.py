"""The inbox's HTTP listener: uvicorn, embedded in the SMTP server's event loop.

uvicorn normally owns the process (signals, the loop); here it is a guest.
``smtpx serve`` keeps its own SIGTERM/SIGINT handling and stops uvicorn with
the rest, so :class:`HttpServer` turns uvicorn's signal capture off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger("smtpx.web")


class _Guest(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the host process handles signals


class HttpServer:
    """One HTTP(S) listener serving ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            # Event streams stay open: a stop must not wait for them for long.
            timeout_graceful_shutdown=1,
        )
        self._server = _Guest(config)
        self._host, self._port = host, port
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> tuple[str, int]:
        """Listen; the address bound (port 0 picks one). OSError if it cannot."""
        # Our socket, not uvicorn's: a port in use is an OSError here, where
        # uvicorn would exit the process.
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._port), family=family)
        self._task = asyncio.get_running_loop().create_task(self._server.serve([sock]))
        while not self._server.started:
            if self._task.done():
                sock.close()
                self._task.result()  # uvicorn's own error (a certificate it cannot load)
                raise OSError("the HTTP server did not start")
            await asyncio.sleep(0.01)
        host, port = sock.getsockname()[:2]
        return str(host), int(port)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

"""The inbox's HTTP side: Starlette routes over the store (the URL scheme is _pages.py's).

Theory of operation. Every route reads the store through its async API (never
SMTP, never the files) and hands plain data to the renderers (_pages, _json,
_render). New messages come from the :class:`~._live.Hub` the SMTP handler
publishes to: the event stream forwards them, and a long poll listens before it
looks at the store, so a message that lands in between is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.resources import files
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..server import FaultError, FaultRule, Faults, Server
from ..store import QueryError, Store, StoredMessage
from ._access import BasicAuth
from ._config import InboxConfig
from ._json import message_json, summary_json
from ._live import Hub
from ._metrics import metrics_text
from ._openapi import OPENAPI
from ._pages import Urls, list_inbox, page_headers, render_list, render_message
from ._release import release
from ._render import html_for_iframe, parse_message, part_bytes
from ._sandbox import iframe_headers, part_headers

PAGE = 50
MAX_PAGE = 500
MAX_WAIT = 300.0
# A comment line now and then keeps proxies and browsers from closing a quiet stream.
KEEPALIVE = 15.0
# Seconds an event stream waits for the rest of a burst of new messages.
BURST = 0.05

Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(
    store: Store,
    *,
    hub: Hub,
    config: InboxConfig | None = None,
    faults: Faults | None = None,
    server: Server | None = None,
) -> Starlette:
    """The inbox for ``store``; ``server`` and ``faults`` add metrics and fault rules."""
    inbox = _Inbox(store, hub, config or InboxConfig(), faults, server)
    routes = [
        Route("/", inbox.list_page),
        Route("/messages/{id}", inbox.message_page),
        Route("/messages/{id}/html", inbox.message_html),
        Mount("/static", StaticFiles(directory=str(files("smtpx.web") / "static"))),
        Route("/api/v1/messages", inbox.api_list, methods=["GET"]),
        Route("/api/v1/messages", inbox.api_delete_matching, methods=["DELETE"]),
        Route("/api/v1/messages/wait", inbox.api_wait),
        Route("/api/v1/messages/seen", inbox.api_seen, methods=["POST"]),
        Route("/api/v1/messages/{id}", inbox.api_message, methods=["GET"]),
        Route("/api/v1/messages/{id}", inbox.api_delete, methods=["DELETE"]),
        Route("/api/v1/messages/{id}/raw", inbox.api_raw),
        Route("/api/v1/messages/{id}/parts/{n:int}", inbox.api_part),
        Route("/api/v1/messages/{id}/release", inbox.api_release, methods=["POST"]),
        Route("/api/v1/events", inbox.api_events),
        Route("/api/v1/faults", inbox.api_faults, methods=["GET", "PUT"]),
        Route("/api/v1/openapi.json", inbox.openapi),
        Route("/api/openapi.json", inbox.openapi),
        Route("/metrics", inbox.metrics),
    ]
    middleware = []
    if inbox.config.users is not None:
        middleware.append(Middleware(BasicAuth, users=inbox.config.users))
    return Starlette(routes=routes, middleware=middleware)


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status)


def _scoped(query: str, inbox: str | None) -> str:
    """The query, limited to one inbox (None: every inbox)."""
    if inbox is None:
        return query
    name = inbox.replace("\\", "\\\\").replace('"', '\\"')
    return f'inbox:"{name}" {query}'.strip()


class _Inbox:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        config: InboxConfig,
        faults: Faults | None,
        server: Server | None,
    ) -> None:
        self.store = store
        self.hub = hub
        self.config = config
        self.faults = faults
        self.server = server
        self.urls = Urls()

    # --- pages -------------------------------------------------------------------------

    async def list_page(self, request: Request) -> Response:
        params = request.query_params
        query = params.get("query", "")
        inbox = list_inbox(params.get("inbox"))
        cursor = params.get("cursor") or None
        problem = None
        try:
            page, following = await self._page(_scoped(query, inbox), PAGE, cursor)
            total: int | None = await self.store.count(_scoped(query, inbox))
        except QueryError as error:
            page, following, total, problem = [], None, None, str(error)
        document = render_list(
            page,
            query=query,
            inbox=inbox,
            inboxes=self.config.inboxes,
            before=cursor,
            cursor=following,
            total=total,
            error=problem,
            urls=self.urls,
        )
        status = 400 if problem else 200
        return HTMLResponse(document, status, headers=page_headers())

    async def message_page(self, request: Request) -> Response:
        found = await self._stored(request)
        if isinstance(found, Response):
            return found
        stored, raw = found
        document = render_message(
            stored,
            parse_message(raw),
            raw,
            allow_remote=request.query_params.get("remote") == "1",
            can_release=self.config.release is not None,
            inbox=list_inbox(request.query_params.get("inbox")),
            inboxes=self.config.inboxes,
            urls=self.urls,
        )
        return HTMLResponse(document, headers=page_headers())

    async def message_html(self, request: Request) -> Response:
        found = await self._stored(request)
        if isinstance(found, Response):
            return found
        stored, raw = found
        remote = request.query_params.get("remote") == "1"
        document = html_for_iframe(
            parse_message(raw),
            allow_remote=remote,
            part_url=lambda n: self.urls.api_part(stored.id, n),
        )
        return HTMLResponse(document, headers=iframe_headers(allow_remote=remote))

    # --- the JSON API ----------------------------------------------------------------

    async def api_list(self, request: Request) -> Response:
        params = request.query_params
        query = _scoped(params.get("query", ""), list_inbox(params.get("inbox")))
        try:
            limit = min(int(params.get("limit", PAGE)), MAX_PAGE)
            page, following = await self._page(query, max(limit, 1), params.get("cursor"))
            total = await self.store.count(query)
        except (QueryError, ValueError) as error:
            return _error(400, str(error))
        return JSONResponse(
            {"messages": [summary_json(m) for m in page], "cursor": following, "total": total}
        )

    async def api_delete_matching(self, request: Request) -> Response:
        params = request.query_params
        query = _scoped(params.get("query", ""), list_inbox(params.get("inbox")))
        try:
            deleted = await self.store.delete_matching(query)
        except QueryError as error:
            return _error(400, str(error))
        return JSONResponse({"deleted": deleted})

    async def api_wait(self, request: Request) -> Response:
        """The next message matching the query after the cursor: at once, or when it
        comes, or 408 after the timeout. Without a cursor, the newest match will do."""
        params = request.query_params
        query = _scoped(params.get("query", ""), list_inbox(params.get("inbox")))
        after = params.get("after") or None
        try:
            timeout = min(max(float(params.get("timeout", 30)), 0.0), MAX_WAIT)
        except ValueError:
            return _error(400, "timeout is a number of seconds")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self.hub.listen() as listener:
            while True:
                try:
                    if after is None:
                        found = await self.store.search(query, 1)
                    else:
                        found = await self.store.since(query, after, 1)
                except QueryError as error:
                    return _error(400, str(error))
                if found:
                    raw = await self.store.raw(found[0].id)
                    view = parse_message(raw) if raw is not None else None
                    return JSONResponse(message_json(found[0], view))
                left = deadline - loop.time()
                if left <= 0:
                    return _error(408, f"no message matched within {timeout:g} s")
                with contextlib.suppress(TimeoutError):
                    await listener.get(left)

    async def api_seen(self, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        ids, seen = body.get("ids"), body.get("seen", True)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _error(400, 'give "ids": a list of message ids')
        if not isinstance(seen, bool):
            return _error(400, '"seen" is true or false')
        await self.store.mark_seen(ids, seen)
        return Response(status_code=204)

    async def api_message(self, request: Request) -> Response:
        found = await self._stored(request)
        if isinstance(found, Response):
            return found
        stored, raw = found
        return JSONResponse(message_json(stored, parse_message(raw)))

    async def api_delete(self, request: Request) -> Response:
        if not await self.store.delete(request.path_params["id"]):
            return _error(404, "no such message")
        return Response(status_code=204)

    async def api_raw(self, request: Request) -> Response:
        source = await self.store.open_raw(request.path_params["id"])
        if source is None:
            return _error(404, "no such message")

        async def chunks() -> AsyncIterator[bytes]:
            with source:
                while chunk := await asyncio.to_thread(source.read, 65536):
                    yield chunk

        headers = {"Content-Type": "message/rfc822", "X-Content-Type-Options": "nosniff"}
        return StreamingResponse(chunks(), headers=headers)

    async def api_part(self, request: Request) -> Response:
        raw = await self.store.raw(request.path_params["id"])
        part = part_bytes(raw, request.path_params["n"]) if raw is not None else None
        if part is None:
            return _error(404, "no such message or part")
        content_type, filename, data = part
        download = request.query_params.get("download") == "1"
        return Response(data, headers=part_headers(content_type, filename, download=download))

    async def api_release(self, request: Request) -> Response:
        if self.config.release is None:
            return _error(404, "releasing is not configured (smtpx serve --release-to)")
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        to = body.get("to")
        if not isinstance(to, list) or not to or not all(isinstance(a, str) for a in to):
            return _error(400, 'give "to": a list of addresses')
        found = await self._stored(request)
        if isinstance(found, Response):
            return found
        stored, raw = found
        status, result = await release(self.config.release, stored, raw, to)
        return JSONResponse(result, status)

    async def api_events(self, request: Request) -> Response:
        inbox = list_inbox(request.query_params.get("inbox"))

        query = _scoped("", inbox)

        async def stream() -> AsyncIterator[str]:
            async with self.hub.listen() as listener:
                newest = await self.store.search(query, 1)
                last = newest[0].id if newest else None
                yield ": connected\n\n"
                while True:
                    try:
                        message_id = await listener.get(KEEPALIVE)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    if message_id is None:  # fell behind: the page reloads its list
                        yield "event: reset\ndata: {}\n\n"
                        continue
                    # A burst is read in one query and written in one chunk: under
                    # load a stream costs a query per batch, not one per message.
                    await asyncio.sleep(BURST)
                    listener.drain()
                    arrived = await self.store.since(query, last, MAX_PAGE)
                    if arrived:
                        last = arrived[-1].id
                        yield "".join(
                            f"event: message\ndata: {json.dumps(summary_json(stored))}\n\n"
                            for stored in arrived
                        )

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def api_faults(self, request: Request) -> Response:
        if self.faults is None:
            return _error(404, "fault injection needs the SMTP server in this process")
        if request.method == "PUT":
            body = await _json_body(request)
            if isinstance(body, Response):
                return body
            try:
                self.faults.replace(_fault_rules(body))
            except FaultError as error:
                return _error(400, str(error))
        return JSONResponse({"rules": [rule.describe() for rule in self.faults.rules]})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def metrics(self, request: Request) -> Response:
        stats = await self.store.stats()
        text = metrics_text(stats, self.server, self.hub)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    # --- helpers ---------------------------------------------------------------------

    async def _page(
        self, query: str, limit: int, cursor: str | None
    ) -> tuple[list[StoredMessage], str | None]:
        """A page newest first, and the cursor of the next one (None: the last)."""
        found = await self.store.search(query, limit + 1, cursor)
        page = found[:limit]
        return page, page[-1].id if len(found) > limit else None

    async def _stored(self, request: Request) -> tuple[StoredMessage, bytes] | Response:
        message_id = request.path_params["id"]
        stored = await self.store.get(message_id)
        raw = await self.store.raw(message_id) if stored is not None else None
        if stored is None or raw is None:
            return _error(404, "no such message")
        return stored, raw


async def _json_body(request: Request) -> dict[str, Any] | Response:
    """A JSON object body; a form post from another site cannot send this type."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error(415, "send Content-Type: application/json")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "the body is a JSON object")
    return body


def _fault_rules(body: dict[str, Any]) -> list[FaultRule]:
    rules = body.get("rules")
    if not isinstance(rules, list):
        raise FaultError('give "rules": a list')
    return [FaultRule.from_description(rule) for rule in rules]

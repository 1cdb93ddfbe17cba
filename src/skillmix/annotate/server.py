"""The local annotation server: Starlette + uvicorn on loopback (docs/annotation.md, "Security").

Three routes, all behind a random token that must be in the query string (a
request without it gets 403): ``/`` the page, ``api/state`` the drawn texts and
saved labels, ``api/label`` one submission. Submissions name a text by its
index in the drawn sample, so no request reaches the file system by path. Each
submission is appended and fsynced before the reply, so killing the server
loses nothing that the page reported as saved.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
from typing import Any

from skillmix.annotate.page import content_security_policy, render_page
from skillmix.annotate.session import Session
from skillmix.errors import SkillmixError

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def build_app(session: Session, token: str):
    """The Starlette app serving ``session``; every route checks ``token``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import (
        HTMLResponse,
        JSONResponse,
        PlainTextResponse,
        Response,
    )
    from starlette.routing import Route

    page = render_page({"mode": "server"})
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": content_security_policy("server") +
               "; frame-ancestors 'none'"}

    def authorised(request: Request) -> bool:
        return secrets.compare_digest(request.query_params.get("token", ""), token)

    def forbidden() -> Response:
        return PlainTextResponse("forbidden: open the URL printed by skillmix annotate", 403, headers=headers)

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers=headers) if authorised(request) else forbidden()

    async def state(request: Request) -> Response:
        return JSONResponse(session.state(), headers=headers) if authorised(request) else forbidden()

    async def label(request: Request) -> Response:
        if not authorised(request):
            return forbidden()
        try:
            body: Any = await request.json()
            if not isinstance(body, dict):
                raise SkillmixError("the body must be a JSON object with index and points")
            result = session.submit(body.get("index"), body.get("points"))
        except ValueError as e:  # SkillmixError and JSON errors: the page shows the message
            return JSONResponse({"error": str(e).splitlines()[0][:300]}, 400, headers=headers)
        return JSONResponse(result, headers=headers)

    async def other(request: Request) -> Response:
        return forbidden() if not authorised(request) else PlainTextResponse("not found", 404, headers=headers)

    routes = [Route("/", index), Route("/api/state", state), Route("/api/label", label, methods=["POST"]),
              Route("/{rest:path}", other, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])]
    return Starlette(routes=routes)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free port), so the URL is known before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise SkillmixError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --host/--port") from None
    sock.listen(64)
    return sock


def url_of(sock: socket.socket, token: str) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def serve(session: Session, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until Ctrl-C; prints the URL (with its token) first and opens nothing."""
    import uvicorn

    token = new_token()
    sock = bind(host, port)
    if not is_loopback(host):
        print(f"warning: serving on {host}, not loopback: anyone who can reach it and has the URL can annotate",
              file=sys.stderr)
    state = session.state()
    print(f"annotating {len(state['items'])} texts as {session.annotator} ({len(state['labels'])} already saved)")
    print(f"open: {url_of(sock, token)}", flush=True)
    # No access log: the token is in every URL.
    config = uvicorn.Config(build_app(session, token), log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])

"""The ceiling for bench/workflows.py: a bare ASGI app that answers 202 ``{}`` to any POST
(and 200 ``{}`` to anything else, for the readiness check), served by uvicorn with the same
settings ``patchbay serve`` uses (httptools/uvloop as uvicorn picks them, no access log).

It reads the request body in full, as a webhook must, and does nothing else: what the
server stack costs on its own.

Usage: python bench/ceiling_app.py PORT
"""

from __future__ import annotations

import sys

import uvicorn

BODY = b"{}"
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    status = 202 if scope["method"] == "POST" else 200
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)

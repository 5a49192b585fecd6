"""The wire's floor: a bare Starlette app that answers `GET /<n>` with the bytes of
`<n>.body` in `$NABLA_WIRE_DIR`, held in memory from the start, under the headers of
`<n>.json`. bench.clients serves each client's answer from here, exactly as Nabla sent it
(the same bytes, media type and coding), to measure what the transfer and the client's
decoding cost when the server does no work.

    NABLA_WIRE_DIR=dir python -m uvicorn bench.wire:app --http httptools --loop asyncio
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ANSWERS = {
    path.stem: (path.read_bytes(), json.loads(path.with_suffix(".json").read_text()))
    for path in Path(os.environ.get("NABLA_WIRE_DIR", ".")).glob("*.body")
}


async def answer(request: Request) -> Response:
    body, headers = ANSWERS[request.path_params["name"]]
    return Response(body, headers=headers)


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/health", health), Route("/{name}", answer)])

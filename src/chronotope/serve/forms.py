"""Reading request bodies: a byte limit on every body, and one `Fields` view of a form.

The `openai` SDK sends every Videos request as multipart (even without a file), with nested
values flattened as `video[id]`; other clients send JSON. Both become the same flat
`{name: str | UploadFile}` mapping, and a field a route does not know is an error.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronotope.serve.errors import APIError, bad_request, error_body

Fields = dict[str, "str | UploadFile"]


def _too_large(limit: int) -> APIError:
    return APIError(
        413, f"request body exceeds {limit} bytes", param=None, code="request_too_large"
    )


class BodyLimitMiddleware:
    """Refuse bodies over `limit` bytes: by Content-Length up front, else while streaming."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            e = _too_large(self.limit)
            body = json.dumps(error_body(e.message, e.type, e.param, e.code)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            return await send({"type": "http.response.body", "body": body})
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # chunked bodies have no Content-Length to check
                raise _too_large(self.limit)
            return message

        await self.app(scope, limited, send)


def _flatten(prefix: str, value: Any, out: Fields) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}[{k}]" if prefix else str(k), v, out)
    elif isinstance(value, bool):  # JSON's true/false as a form sends them
        out[prefix] = "true" if value else "false"
    elif isinstance(value, (str, int, float)):
        out[prefix] = str(value)
    elif value is not None:
        raise bad_request(f"'{prefix}' has an unsupported type", param=prefix)


async def read_fields(request: Request, allowed: set[str]) -> Fields:
    """The body as flat fields; unknown names are refused, never silently ignored."""
    ctype = request.headers.get("content-type", "")
    fields: Fields = {}
    if ctype.startswith("multipart/form-data") or ctype.startswith(
        "application/x-www-form-urlencoded"
    ):
        form = await request.form(max_files=2, max_fields=32)
        for key, value in form.multi_items():
            if key in fields:
                raise bad_request(f"'{key}' was given more than once", param=key)
            fields[key] = value
    elif ctype.startswith("application/json"):
        try:
            data = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as e:
            raise bad_request(f"the body is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise bad_request("the JSON body must be an object")
        _flatten("", data, fields)
    elif await request.body():
        raise bad_request("send the body as multipart/form-data or application/json")
    for key in fields:
        if key not in allowed:
            raise bad_request(f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
    return fields


def text(fields: Fields, name: str, *, default: str | None = None) -> str | None:
    value = fields.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a text field, not a file", param=name)
    return value


def upload(fields: Fields, name: str) -> UploadFile | None:
    value = fields.get(name)
    if value is None or isinstance(value, UploadFile):
        return value
    raise bad_request(f"'{name}' must be a file upload", param=name)

"""Errors in the OpenAI shape: `{"error": {"message", "type", "param", "code"}}`.

Every failure the server answers, from a bad field to an unexpected bug, leaves through one of
the handlers installed by `install_error_handlers`, so a client (the `openai` SDK included)
always gets this shape and never a stack trace.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chronotope.errors import MemoryBudgetError, UsageError

log = logging.getLogger("chronotope.serve")


class APIError(Exception):
    """An error answered to the client as-is (status, message, type, param, code, headers)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}


def bad_request(message: str, *, param: str | None = None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def not_found(video_id: str) -> APIError:
    return APIError(
        404, f"Video with id '{video_id}' not found.", param="video_id", code="not_found"
    )


def error_body(message: str, type: str, param: str | None, code: str | None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(e: APIError) -> JSONResponse:
    return JSONResponse(
        error_body(e.message, e.type, e.param, e.code), status_code=e.status, headers=e.headers
    )


def from_usage_error(e: UsageError) -> APIError:
    code = "memory_budget_exceeded" if isinstance(e, MemoryBudgetError) else "invalid_value"
    return APIError(400, str(e), param=e.param, code=code)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api(_: Request, e: APIError) -> JSONResponse:
        return error_response(e)

    @app.exception_handler(UsageError)
    async def _usage(_: Request, e: UsageError) -> JSONResponse:
        return error_response(from_usage_error(e))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        # FastAPI's default is a 422 with a list of pydantic errors; the SDK expects one message
        errors = e.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        param = ".".join(loc) or None
        msg = f"Invalid value for '{param}': {first.get('msg', 'invalid request')}"
        return error_response(APIError(400, msg, param=param, code="invalid_value"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code)
        message = str(e.detail)
        if e.status_code == 404:  # no route (or no static file) for the path as it arrived
            message = f"Invalid URL ({request.method} {request.url.path})"  # OpenAI's wording
        return error_response(
            APIError(e.status_code, message, code=code, headers=dict(e.headers or {}))
        )

    @app.exception_handler(Exception)
    async def _bug(_: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error")  # the trace goes to the log, never to the client
        return error_response(
            APIError(500, "The server had an error processing your request.", type="server_error")
        )

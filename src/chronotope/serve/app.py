"""`create_app`: the OpenAI-compatible Videos API (`/v1/videos...`) and the web page (`/`).

Routes only parse, call the store/runner, and shape responses; see `submit.py` for how a
request becomes a job and `worker.py` for how a job runs.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from chronotope.serve import submit
from chronotope.serve.config import ServeConfig
from chronotope.serve.engine import Engine
from chronotope.serve.errors import APIError, bad_request, install_error_handlers, not_found
from chronotope.serve.files import OUTPUTS, JobFiles, is_video_id
from chronotope.serve.forms import BodyLimitMiddleware, read_fields
from chronotope.serve.page import page_config
from chronotope.serve.store import Job, JobStore
from chronotope.serve.worker import JobRunner

STATIC = Path(__file__).parent / "static"
POLL_AFTER_MS = "500"  # the SDK's poll() honours this header instead of its 1 s default


def create_app(config: ServeConfig, engine: Engine) -> FastAPI:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(config.data_dir / "jobs.sqlite3")
    files = JobFiles(config.data_dir)
    jobs = _Jobs(config, engine, store, files, JobRunner(store, engine, files, config))

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        jobs.runner.start()
        yield
        await run_in_threadpool(jobs.runner.stop)
        store.close()

    app = FastAPI(title="chronotope", docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.store, app.state.runner, app.state.config = store, jobs.runner, config
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=config.max_upload_bytes)
    api = APIRouter(prefix="/v1", dependencies=[Depends(_authorizer(config))])
    _add_create_routes(api, jobs)
    _add_video_routes(api, jobs)
    _add_model_routes(api, config)
    app.include_router(api)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    settings = page_config(config, engine)  # once: the suggestions draw world scenes

    @app.get("/page/config", include_in_schema=False)
    def page_settings() -> JSONResponse:
        return JSONResponse(settings)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


@dataclass(frozen=True)
class _Jobs:
    """What the routes share: the settings, the engine, the job store, its files, the runner."""

    config: ServeConfig
    engine: Engine
    store: JobStore
    files: JobFiles
    runner: JobRunner

    def get(self, video_id: str) -> Job:
        job = self.store.get(video_id) if is_video_id(video_id) else None
        if job is None:
            raise not_found(video_id)
        return job

    def enqueue(self, draft: submit.Draft) -> JSONResponse:
        submit.write_inputs(draft, self.files)
        max_queue = self.config.max_queue
        if not self.store.insert(draft.job, max_queued=max_queue):
            self.files.remove(draft.job.id)
            wait = self.runner.retry_after()
            raise APIError(
                429,
                f"The queue is full ({max_queue} jobs waiting); retry in about {wait} s.",
                type="rate_limit_error",
                code="queue_full",
                headers={"Retry-After": str(wait)},
            )
        self.runner.notify()
        return JSONResponse(draft.job.to_video())

    async def submit_from_video(
        self, request: Request, allowed: set[str], task: str, video_id: str | None = None
    ) -> JSONResponse:
        """Queue a job made from a stored video (remix, extend, edit)."""
        fields = await read_fields(request, allowed)
        draft = await submit.build_from_video(
            fields, task=task, video_id=video_id, config=self.config, engine=self.engine,
            store=self.store, files=self.files,
        )  # fmt: skip
        return await run_in_threadpool(self.enqueue, draft)


def _authorizer(config: ServeConfig) -> Callable[[Request], None]:
    def authorize(request: Request) -> None:
        if config.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), config.api_key.encode()
        )
        if not ok:
            raise APIError(
                401,
                "Incorrect or missing API key. Send 'Authorization: Bearer <key>'.",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return authorize


def _known_query(request: Request, allowed: set[str]) -> None:
    for key in request.query_params:  # like body fields: never silently ignored
        if key not in allowed:
            raise bad_request(f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")


def _add_create_routes(api: APIRouter, jobs: _Jobs) -> None:
    """POST: a new video from text (and an image), or from a stored one (remix, extend, edit)."""

    @api.post("/videos")
    async def create_video(request: Request) -> JSONResponse:
        fields = await read_fields(request, submit.CREATE_FIELDS)
        draft = await submit.build_create(fields, config=jobs.config, engine=jobs.engine)
        return await run_in_threadpool(jobs.enqueue, draft)

    @api.post("/videos/{video_id}/remix")
    async def remix_video(video_id: str, request: Request) -> JSONResponse:
        return await jobs.submit_from_video(request, submit.REMIX_FIELDS, "remix", video_id)

    @api.post("/videos/extensions")
    async def extend_video(request: Request) -> JSONResponse:
        return await jobs.submit_from_video(request, submit.EXTEND_FIELDS, "extend")

    @api.post("/videos/edits")
    async def edit_video(request: Request) -> JSONResponse:
        return await jobs.submit_from_video(request, submit.EDIT_FIELDS, "edit")


def _add_model_routes(api: APIRouter, config: ServeConfig) -> None:
    """GET /v1/models (OpenAI's list shape): the base model, then each LoRA adapter served as
    a model of its own (`owned_by: "lora"`); a video's `model` field picks one."""
    created = int(time.time())

    def model(name: str) -> dict:
        owner = "lora" if name in config.lora else "chronotope"
        return {"id": name, "object": "model", "created": created, "owned_by": owner}

    @api.get("/models")
    def list_models() -> JSONResponse:
        return JSONResponse({"object": "list", "data": [model(n) for n in config.models]})

    @api.get("/models/{model_id}")
    def retrieve_model(model_id: str) -> JSONResponse:
        if model_id not in config.models:
            raise APIError(
                404, f"Model '{model_id}' not found; served here: {', '.join(config.models)}.",
                param="model", code="model_not_found",
            )  # fmt: skip
        return JSONResponse(model(model_id))


def _add_video_routes(api: APIRouter, jobs: _Jobs) -> None:
    """GET and DELETE: a job's status, the list, deletion, and the finished files."""

    @api.get("/videos/{video_id}")
    def retrieve_video(video_id: str) -> JSONResponse:
        job = jobs.get(video_id)
        headers = (
            {"openai-poll-after-ms": POLL_AFTER_MS}
            if job.status in ("queued", "in_progress")
            else {}
        )
        return JSONResponse(job.to_video(), headers=headers)

    @api.get("/videos")
    def list_videos(
        request: Request, after: str | None = None, limit: int = 20, order: str = "desc"
    ) -> JSONResponse:
        _known_query(request, {"after", "limit", "order"})
        if not 1 <= limit <= 100:
            raise bad_request("limit must be between 1 and 100", param="limit")
        if order not in ("asc", "desc"):
            raise bad_request("order must be 'asc' or 'desc'", param="order")
        try:
            page, has_more = jobs.store.list(after=after, limit=limit, order=order)
        except KeyError:
            raise bad_request(f"no video with id {after!r} to page after", param="after") from None
        data = [j.to_video() for j in page]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": has_more,
            }
        )

    @api.delete("/videos/{video_id}")
    def delete_video(video_id: str) -> JSONResponse:
        job = jobs.get(video_id)
        jobs.runner.cancel(job.id)  # a running job stops before its next transformer block
        jobs.store.delete(job.id)
        jobs.files.remove(job.id)
        return JSONResponse({"id": job.id, "object": "video.deleted", "deleted": True})

    @api.get("/videos/{video_id}/content")
    def download_content(request: Request, video_id: str, variant: str = "video") -> FileResponse:
        _known_query(request, {"variant"})
        if variant not in OUTPUTS:
            raise bad_request(
                f"variant must be one of {', '.join(OUTPUTS)}, got {variant!r}", param="variant"
            )
        job = jobs.get(video_id)
        if job.status != "completed":
            raise APIError(
                400, f"Video '{video_id}' is {job.status}; its content is not available.",
                param="video_id", code="video_not_ready",
            )  # fmt: skip
        path = jobs.files.output(job.id, variant)
        if not path.exists():
            raise APIError(404, "The video's files have expired.", code="expired")
        return FileResponse(
            path, media_type=OUTPUTS[variant][1], filename=f"{job.id}{path.suffix}",
            content_disposition_type="inline",
        )  # fmt: skip

"""Turning a create / remix / extend / edit request into a validated, stored `Job`.

Each builder parses its fields, decodes and checks uploads, builds the `GenerationRequest`
(the HTTP edge is the one place where the API's names meet the task vocabulary: create is
text-to-video or image-to-video, remix and edit are a restyle, extend is extend_forward), asks
the engine to validate it (so sizes and lengths beyond OpenAI's fixed list work where the model
supports them), and returns a `Draft`: the job plus the input files to write once it has an id.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from chronotope.data.video_io import fit_frames
from chronotope.serve import media
from chronotope.serve.config import ServeConfig
from chronotope.serve.engine import Engine
from chronotope.serve.errors import APIError, bad_request, not_found
from chronotope.serve.files import JobFiles, is_video_id
from chronotope.serve.forms import Fields, text, upload
from chronotope.serve.store import Job, JobStore, new_video_id
from chronotope.tasks.request import GenerationRequest
from chronotope.tasks.sizes import parse_size

CREATE_FIELDS = {
    "prompt", "model", "seconds", "size", "seed", "loop", "input_reference",
    "input_reference[image_url]", "input_reference[file_id]",
}  # fmt: skip
REMIX_FIELDS = {"prompt", "seed"}
EDIT_FIELDS = {"prompt", "video", "video[id]", "seed"}
EXTEND_FIELDS = EDIT_FIELDS | {"seconds"}


@dataclass
class Draft:
    """A job that passed validation; `image`/`video_from` are written into its folder."""

    job: Job
    request: GenerationRequest
    image: np.ndarray | None = None
    video_from: Path | None = None  # a file to copy (a source job's mp4 or an upload)
    cleanup: list[Path] = field(default_factory=list)


def parse_seconds(value: str, param: str = "seconds") -> float:
    try:
        s = float(value)
    except ValueError:
        s = math.nan
    if not math.isfinite(s) or s <= 0:
        raise bad_request(f"seconds must be a positive number, got {value!r}", param=param)
    return s


def fmt_seconds(s: float) -> str:
    return f"{s:g}" if s == round(s, 3) else f"{s:.3f}"


def parse_seed(fields: Fields) -> int | None:
    value = text(fields, "seed")
    if value is None:
        return None
    if not re.fullmatch(r"\d{1,18}", value.strip()):
        raise bad_request("seed must be a non-negative integer", param="seed")
    return int(value)


def parse_loop(fields: Fields) -> bool:
    """`loop` (an extension of the API): the video's last frame flows into its first."""
    value = (text(fields, "loop") or "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise bad_request(f"loop must be true or false, got {value!r}", param="loop")
    return value in ("true", "1")


def require_prompt(fields: Fields, config: ServeConfig) -> str:
    prompt = (text(fields, "prompt") or "").strip()
    if not prompt:
        raise bad_request("prompt is required", param="prompt", code="missing_required_parameter")
    if len(prompt) > config.max_prompt_chars:
        raise bad_request(
            f"prompt is longer than {config.max_prompt_chars} characters", param="prompt"
        )
    return prompt


def source_job(store: JobStore, video_id: str) -> Job:
    """A completed job referenced by id (remix/extend/edit)."""
    job = store.get(video_id) if is_video_id(video_id) else None
    if job is None:
        raise not_found(video_id)
    if job.status != "completed":
        raise APIError(
            400, f"Video '{video_id}' is {job.status}; only a completed video can be used.",
            param="video", code="video_not_ready",
        )  # fmt: skip
    return job


async def _reference_image(fields: Fields, config: ServeConfig) -> np.ndarray | None:
    if "input_reference[file_id]" in fields:
        raise bad_request(
            "file ids are not supported: upload the image as input_reference",
            param="input_reference",
        )
    url = text(fields, "input_reference[image_url]")
    if url is not None:
        if not url.startswith("data:") or ";base64," not in url:
            raise bad_request(
                "image_url must be a base64 data: URL (this server fetches nothing)",
                param="input_reference",
            )
        try:
            data = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("image_url is not valid base64", param="input_reference") from None
    else:
        file = upload(fields, "input_reference")
        if file is None:
            return None
        data = await file.read()
    return await run_in_threadpool(media.decode_image, data, max_pixels=config.max_upload_pixels)


def _validate(
    engine: Engine, request: GenerationRequest, config: ServeConfig, *, seconds: float, total: float
) -> None:
    """`seconds`: what the engine generates; `total`: the output's length (with a source)."""
    if total > config.max_seconds:
        raise bad_request(
            f"the video would be {fmt_seconds(total)} s long; at most "
            f"{config.max_seconds:g} s are served here",
            param="seconds",
        )
    request.check()  # UsageError -> 400 through the installed handler
    engine.validate(request, seconds)
    _check_time(engine, request, config, seconds)


def _check_time(
    engine: Engine, request: GenerationRequest, config: ServeConfig, seconds: float
) -> None:
    """Refuse a request whose estimated time here is over the server's limit (an engine that
    cannot estimate is not limited)."""
    from chronotope.pipeline.timing import duration

    limit, estimate = config.time_limit_minutes, getattr(engine, "estimate_seconds", None)
    if limit is None or estimate is None:
        return
    expected = estimate(request, seconds)
    if expected > limit * 60:
        raise APIError(
            400,
            f"the video would take an estimated {duration(expected)} to make on this server, "
            f"over its limit of {limit:g} min; ask for a smaller size or fewer seconds",
            param="size", code="time_limit_exceeded",
        )  # fmt: skip


def _warnings(engine: Engine, prompt: str, *notes: str | None) -> list[str]:
    """What the video object tells (`warnings`): a size chosen for its input, and the words
    of its prompt the model never learned (an engine without a vocabulary names none)."""
    unknown = getattr(engine, "prompt_warnings", None)
    return [n for n in notes if n] + (unknown(prompt) if unknown is not None else [])


def _input_size(engine: Engine, width: int, height: int, name: str):
    """(w, h, note) of the output for an input of `width` x `height` when no size is given:
    the engine's rule (its model's scale), else the input's own size on its grid."""
    choose = getattr(engine, "choose_size", None)
    if choose is not None:
        return choose(width, height, name)
    m = getattr(engine, "size_multiple", 1)
    return max(m, width - width % m), max(m, height - height % m), None


async def build_create(fields: Fields, *, config: ServeConfig, engine: Engine) -> Draft:
    prompt = require_prompt(fields, config)
    model = text(fields, "model", default=config.model_name)
    if not config.accepts_model(model):
        raise bad_request(
            f"model {model!r} is not served here; use one of {', '.join(config.models)}",
            param="model",
        )
    default_size = getattr(engine, "default_size", None) or config.default_size
    size = text(fields, "size")
    width, height = parse_size(size or default_size)
    seconds = parse_seconds(text(fields, "seconds", default=config.default_seconds))
    image = await _reference_image(fields, config)
    note = None
    if image is not None and size is None:  # the image's size, or the model's scale at its aspect
        width, height, note = _input_size(engine, image.shape[1], image.shape[0], "image")
    if image is not None:
        image = await run_in_threadpool(fit_frames, image, width, height)
    request = GenerationRequest(
        prompt=prompt, width=width, height=height, seconds=seconds, image=image,
        seed=parse_seed(fields), loop=parse_loop(fields),
    )  # fmt: skip
    await run_in_threadpool(_validate, engine, request, config, seconds=seconds, total=seconds)
    job = Job(
        id=new_video_id(), model=model, prompt=prompt, seconds=fmt_seconds(seconds),
        size=f"{width}x{height}", spec=_spec(request), warnings=_warnings(engine, prompt, note),
    )  # fmt: skip
    return Draft(job, request, image=image)


async def _video_source(
    fields: Fields, *, store: JobStore, files: JobFiles, config: ServeConfig, engine: Engine
) -> tuple[Path, int, int, float, str, list[Path], str | None]:
    """(file, width, height, seconds, model, temp files, the note of a size chosen for it) of
    the `video` given by id (its size) or upload (its size, or the model's scale)."""
    ref = text(fields, "video[id]")
    file = upload(fields, "video")
    if (ref is None) == (file is None):
        raise bad_request("give exactly one of video (a file) or video[id]", param="video")
    if ref is not None:
        src = source_job(store, ref)
        w, h = parse_size(src.size)
        return files.output(src.id, "video"), w, h, float(src.seconds), src.model, [], None
    assert isinstance(file, UploadFile)
    fd, tmp_name = tempfile.mkstemp(suffix=".upload", dir=files.root)  # generated name
    tmp = Path(tmp_name)
    with os.fdopen(fd, "wb") as f:
        await run_in_threadpool(shutil.copyfileobj, file.file, f)
    try:
        frames, fps = await run_in_threadpool(
            media.read_video, tmp,
            max_pixels=config.max_upload_pixels, max_frames=config.max_upload_frames,
        )  # fmt: skip
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    t, h, w, _ = frames.shape
    # an upload of any size (175x143 footage) is generated at its size rounded down to the
    # engine's grid, or far from the model's scale (1280x720) at that scale; the engine resizes
    # the frames (a client cannot pick a size here)
    w, h, note = _input_size(engine, w, h, "video")
    return tmp, w, h, t / fps, config.model_name, [tmp], note


async def build_from_video(
    fields: Fields, *, task: str, config: ServeConfig, engine: Engine, store: JobStore,
    files: JobFiles, video_id: str | None = None,
) -> Draft:  # fmt: skip
    """remix (source by path id), edit and extend (source by `video[id]` or upload): a
    restyle at the server's strength, or an extension forward by `seconds`."""
    prompt = require_prompt(fields, config)
    note = None
    if video_id is not None:
        src = source_job(store, video_id)
        w, h = parse_size(src.size)
        path, src_seconds, model, cleanup = (
            files.output(src.id, "video"),
            float(src.seconds),
            src.model,
            [],
        )
    else:
        path, w, h, src_seconds, model, cleanup, note = await _video_source(
            fields, store=store, files=files, config=config, engine=engine
        )
    extend = task == "extend"
    new_seconds = parse_seconds(text(fields, "seconds") or "") if extend else src_seconds
    total = src_seconds + new_seconds if extend else src_seconds
    request = GenerationRequest(
        prompt=prompt, width=w, height=h, seconds=new_seconds if extend else None,
        video=path, seed=parse_seed(fields), extend="forward" if extend else None,
        strength=None if extend else config.remix_strength,
    )  # the video is read when the job runs (`worker.build_request`)  # fmt: skip
    try:
        await run_in_threadpool(
            _validate, engine, request, config, seconds=new_seconds, total=total
        )
    except Exception:
        for p in cleanup:
            p.unlink(missing_ok=True)
        raise
    job = Job(
        id=new_video_id(), model=model, prompt=prompt, seconds=fmt_seconds(total),
        size=f"{w}x{h}", spec=_spec(request), remixed_from_video_id=video_id,
        warnings=_warnings(engine, prompt, note),
    )  # fmt: skip
    return Draft(job, request, video_from=path, cleanup=cleanup)


def _spec(r: GenerationRequest) -> dict:
    return {
        "task": r.task, "width": r.width, "height": r.height, "seconds": r.seconds,
        "strength": r.strength, "extend": r.extend, "seed": r.seed,
        "has_image": r.image is not None, "has_video": r.video is not None, "loop": r.loop,
    }  # fmt: skip


def write_inputs(draft: Draft, files: JobFiles) -> None:
    """Put the job's inputs in its own folder, so it survives its source being deleted."""
    files.make(draft.job.id)
    if draft.image is not None:
        media.write_image(files.input(draft.job.id, "image"), draft.image)
    if draft.video_from is not None:
        dst = files.input(draft.job.id, "video")
        if draft.video_from in draft.cleanup:
            os.replace(draft.video_from, dst)  # an upload: move it
        else:
            try:
                os.link(draft.video_from, dst)  # a source job's output: share, don't copy
            except OSError:
                shutil.copyfile(draft.video_from, dst)

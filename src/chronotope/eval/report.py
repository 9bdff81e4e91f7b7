"""The evaluation report: results.json (every number and the data of every plot), report.md and
report.html (tables, plots, contact sheets), all in one folder."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from chronotope.eval.suite import EvalResult, jsonable

# (metric, label) shown in the summary table and printed by the CLI
HEADLINE: tuple[tuple[str, str], ...] = (
    ("parse_floor.center_error", "parse floor: center error (frame sizes)"),
    ("parse_floor.shape_accuracy", "parse floor: shape accuracy"),
    *(
        (f"adherence.{s}.{a}", f"{s.replace('_', '-')}: {a}")
        for s in ("in_distribution", "paraphrase", "heldout")
        for a in ("color", "shape", "motion", "count")
    ),
    ("crosscheck.disagreement", "second opinion: motion read differently"),
    ("physics.velocity_error.model", "velocity error: model, one sample (frame sizes/frame)"),
    ("physics.velocity_error.found", "velocity error: frames where the object was found"),
    ("physics.velocity_error.parse_floor", "velocity error: parse floor"),
    ("physics.velocity_error.linear", "velocity error: linear extrapolation"),
    ("physics.velocity_error.direction_median_speed", "velocity error: prompted way, median speed"),
    ("physics.velocity_error.copy_last", "velocity error: copy last frame"),
    ("physics.falls", "falls near gravity and bounces"),
    ("physics.size_permanence", "size permanence"),
    ("physics.count_permanence", "count permanence"),
    ("world.game.action", "game: the player does the prompted action"),
    ("world.pan.direction", "camera pan: the landscape shifts the prompted way"),
    ("world.collision.bounce", "collision: both objects change course at contact"),
    ("world.occlusion.reappears", "occlusion: reappears on its path"),
    ("tasks.pass_rate", "task checks passed (one sample)"),
    ("tasks_default.pass_rate", "task checks passed (the pipeline's best-of-K)"),
    ("video.flicker", "flicker (static-region step, [0,1])"),
    ("video.motion", "motion amount (mean step, [0,1])"),
    ("vae.psnr", "VAE PSNR (dB)"),
    ("vae.ssim", "VAE SSIM"),
    ("vae.ceiling.shape", "shape through the VAE alone"),
)
_TRAINED_BEFORE = (
    "Sets: in-distribution (training phrasings and pairs), paraphrase (reserved phrasings no "
    "training caption uses), held-out (six color-shape pairs training never shows). A model "
    "trained before 2026-12 saw four of the six held-out pairs (only green triangle and orange "
    "square were held out then): its held-out figures are reported as they are."
)
SHEET_FRAMES = 8
ZOOM = 2


def fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def summary_rows(result: EvalResult) -> list[tuple[str, str, str]]:
    """(metric, label, value) for the headline metrics that were measured."""
    return [(k, label, fmt(result.metrics[k])) for k, label in HEADLINE if k in result.metrics]


def summary_text(result: EvalResult) -> str:
    rows = summary_rows(result)
    width = max(len(label) for _, label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for _, label, value in rows)


def contact_sheet(path: Path, samples: list[tuple[str, np.ndarray]]) -> Path:
    """One row per video: its label, then up to SHEET_FRAMES evenly spaced frames (zoomed)."""
    rows = []
    for label, frames in samples:
        idx = np.unique(
            np.linspace(0, len(frames) - 1, min(SHEET_FRAMES, len(frames))).round().astype(int)
        )
        strip = np.concatenate(list(frames[idx]), axis=1)  # (H, n*W, 3)
        strip = strip.repeat(ZOOM, axis=0).repeat(ZOOM, axis=1)
        head = Image.new("RGB", (strip.shape[1], 14), (32, 32, 32))
        ImageDraw.Draw(head).text((3, 1), label[:120], fill=(235, 235, 235))
        rows.append(np.concatenate([np.asarray(head), strip], axis=0))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    return path


def _plots(result: EvalResult, folder: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out = {}
    if "adherence" in result.figures:
        f = result.figures["adherence"]
        fig, ax = plt.subplots(figsize=(6, 3))
        attrs = [a for a in f if a != "sets"]
        x = np.arange(len(attrs))
        for i, kind in enumerate(f["sets"]):
            vals = [np.nan_to_num(f[a][i]) for a in attrs]
            ax.bar(x + (i - 1) * 0.27, vals, 0.27, label=kind)
        ax.set_xticks(x, attrs)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8)
        ax.set_title("prompt adherence per attribute")
        out["adherence"] = _save(fig, folder / "adherence.png")
    if "velocity_error" in result.figures:
        f = result.figures["velocity_error"]
        fig, axes = plt.subplots(1, 2, figsize=(8, 3))
        for ax, key, unit in zip(
            axes, ("velocity", "position"), ("frame sizes/frame", "frame sizes")
        ):
            vals = np.asarray(f[key], dtype=np.float64)
            colors = ["C3", "C7", "C0", "C2", "C1"][: len(vals)]
            bars = ax.bar(f["predictor"], np.nan_to_num(vals), color=colors)
            labels = ["n/a" if np.isnan(v) else f"{v:.3g}" for v in vals]  # lost: not zero
            ax.bar_label(bars, labels, fontsize=7)
            ax.set_title(f"{key} error ({unit})", fontsize=9)
            ax.tick_params(axis="x", labelsize=7, rotation=20)
        fig.suptitle("uniform-motion continuation vs references (Kang et al. 2024)", fontsize=9)
        out["velocity_error"] = _save(fig, folder / "velocity_error.png")
    plt.close("all")
    return out


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def write_report(
    result: EvalResult, out: str | Path, *, checks: list[str] | None = None
) -> dict[str, Path]:
    """Write results.json, report.md, report.html, figures/ and sheets/ under `out`."""
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    plots = _plots(result, out / "figures")
    sheets = {
        k: contact_sheet(out / "sheets" / f"{k}.png", v) for k, v in result.samples.items() if v
    }
    figures = {
        k: {"file": str(p.relative_to(out)), "data": result.figures[k]} for k, p in plots.items()
    }
    doc = {
        "config": result.config,
        "model": result.model,
        "metrics": result.metrics,
        "rows": result.rows,
        "figures": figures,
        "sheets": {k: str(p.relative_to(out)) for k, p in sheets.items()},
        "timings": result.timings,
        "checks": checks,
    }
    paths = {"json": out / "results.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(jsonable(doc), indent=1, allow_nan=False))
    sections = _sections(result, plots, sheets, out, checks)
    paths["md"].write_text(_markdown(sections))
    paths["html"].write_text(_html(sections))
    return paths


Section = tuple[str, list, list[str], list[str]]


def _sections(result, plots, sheets, out: Path, checks) -> list[Section]:
    """(title, tables as (header, rows), image paths relative to `out`, notes) per section."""
    rel = {
        k: str(p.relative_to(out))
        for k, p in {**plots, **{f"sheet:{k}": p for k, p in sheets.items()}}.items()
    }
    model = ", ".join(f"{k} {fmt(v)}" for k, v in result.model.items())
    summary = [(label, value) for _, label, value in summary_rows(result)]
    every = [(k, fmt(v)) for k, v in sorted(result.metrics.items())]
    notes = [f"Model: {model}.", _TRAINED_BEFORE]
    secs = [("Summary", [(("metric", "value"), summary)], [], notes)]
    if checks is not None:
        secs.append(("Checks", [], [], checks or ["every threshold met"]))
    adherence_sheets = [
        f"sheet:adherence_{s}" for s in ("in_distribution", "paraphrase", "heldout")
    ]
    for name, images in (
        ("adherence", ["adherence", *adherence_sheets]),
        ("crosscheck", []),
        ("physics", ["velocity_error", "sheet:physics"]),
        ("world", ["sheet:world"]),
        ("tasks", ["sheet:tasks"]),
        ("tasks_default", []),
    ):
        rows = result.rows.get(name, [])
        tables = (
            [(tuple(rows[0]), [tuple(fmt(v) for v in r.values()) for r in rows])] if rows else []
        )
        secs.append((name.capitalize(), tables, [rel[i] for i in images if i in rel], []))
    secs.append(("All metrics", [(("metric", "value"), every)], [], []))
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    secs.append(("Timings", [], [], [timing]))
    return secs


def _markdown(sections) -> str:
    lines = ["# chronotope evaluation", ""]
    for title, tables, images, notes in sections:
        lines += [f"## {title}", ""] + [f"- {n}" if len(notes) > 1 else n for n in notes]
        for header, rows in tables:
            lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
        lines += [f"\n![{Path(i).stem}]({i})" for i in images] + [""]
    return "\n".join(lines)


def _html(sections) -> str:
    e = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'><title>chronotope evaluation</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        "img{max-width:100%;image-rendering:pixelated}</style>",
        "<h1>chronotope evaluation</h1>",
    ]
    for title, tables, images, notes in sections:
        parts.append(f"<h2>{e(title)}</h2>")
        parts += [f"<p>{e(n)}</p>" for n in notes]
        for header, rows in tables:
            parts.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows]
            parts.append("</table>")
        parts += [f"<p><img src='{e(i)}' alt='{e(Path(i).stem)}'></p>" for i in images]
    return "\n".join(parts) + "\n"

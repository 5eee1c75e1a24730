"""The run's report: ``index.html`` beside the artifacts, with relative links only (the folder can move).

It shows the sample grids over steps (step 0, then about ten evenly spaced save points, and the
last step; every grid is linked below the table), the loss curves, every figure of ``metrics.json``
(its ``quality`` block first), the run's settings and the files of the run. Each capstone run
writes it at the end; rebuild it for any run folder with::

    python -m vaegan.train.report runs/gan
"""
from __future__ import annotations

import argparse
import html
import json
import math
import re
import sys
from pathlib import Path
from urllib.parse import quote

REPORT = "index.html"
MAX_ROWS = 12  # grids shown in the table (step 0 and the last step included)
GRID = re.compile(r"(?P<prefix>[A-Za-z]+)_(?P<step>\d{5,})\.png")
SERIES_TITLES = {
    "vae_gen_imgs": "samples (fixed z)",
    "vae_recon_imgs": "reconstructions (originals on top)",
    "gan_gen_imgs": "generator (fixed noise)",
    "gan_ema_imgs": "moving-average generator (fixed noise)",
}
SECTIONS_ELSEWHERE = ("quality", "quality_ema", "settings", "artifacts", "kind")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; vertical-align: top; text-align: left; }
th { background: #f5f5f5; }
table.grids td { text-align: center; }
img.grid { image-rendering: pixelated; max-width: 100%; }
.num { font-family: ui-monospace, monospace; }
.note { color: #666; }
"""


# ---------------------------------------------------------------- what the run folder holds
def grid_series(out: Path) -> dict[str, dict[int, str]]:
    """``{folder: {step: relative path}}`` for every ``*_imgs`` folder of saved grids."""
    series = {}
    for folder in sorted(p for p in out.glob("*_imgs") if p.is_dir()):
        found = {}
        for path in folder.glob("*.png"):
            match = GRID.fullmatch(path.name)
            if match:
                found[int(match["step"])] = f"{folder.name}/{path.name}"
        if found:
            series[folder.name] = dict(sorted(found.items()))
    return series


def pick_steps(steps, max_rows: int = MAX_ROWS) -> list[int]:
    """Step 0 (the first saved), the last, and between them the first saved step at or after each
    multiple of a round interval (1, 2, 5, 10, 20, 50, ...) chosen so at most ``max_rows`` remain."""
    steps = sorted(set(int(s) for s in steps))
    if len(steps) <= max_rows:
        return steps
    first, last = steps[0], steps[-1]
    for interval in _round_numbers():
        targets = range(first, last, interval)
        if len(targets) + 1 > max_rows:
            continue
        chosen = {first, last}
        for target in targets:
            chosen.add(next(s for s in steps if s >= target))
        if len(chosen) <= max_rows:
            return sorted(chosen)
    return [first, last]


def _round_numbers():
    for exponent in range(0, 12):
        for mantissa in (1, 2, 5):
            yield mantissa * 10 ** exponent


def read_metrics(out: Path) -> dict | None:
    path = out / "metrics.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- HTML pieces
def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _href(relative: str) -> str:
    return _e(quote(relative))


def _number(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _value_html(value) -> str:
    """A JSON value as HTML: scalars as text, dicts as nested tables, lists inline (long ones shortened)."""
    if isinstance(value, dict):
        return _table(value)
    if isinstance(value, (list, tuple)):
        items = [_number(v) if not isinstance(v, (dict, list)) else json.dumps(v) for v in value]
        shown = ", ".join(items[:20]) + (f", ... ({len(items)} values)" if len(items) > 20 else "")
        return f"<span class='num'>[{_e(shown)}]</span>"
    return f"<span class='num'>{_e(_number(value))}</span>"


def _table(data: dict) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_value_html(v)}</td></tr>" for k, v in data.items())
    return f"<table>{rows}</table>"


def _summary(metrics: dict) -> list[str]:
    """One line of headline figures."""
    parts = []
    if "steps" in metrics:
        parts.append(f"{metrics['steps']} steps")
    if "batch_size" in metrics:
        world = int(metrics.get("world_size") or 1)
        parts.append(f"batch {metrics['batch_size']}" + (f" per process x {world} processes" if world > 1 else ""))
    if "device_name" in metrics:
        parts.append(str(metrics["device_name"]))
    if "wall_time_s" in metrics:
        parts.append(f"{_number(metrics['wall_time_s'])} s wall time")
    if "neg_elbo" in metrics:
        parts.append(f"test negative ELBO {_number(metrics['neg_elbo'])} nats/image")
    final = metrics.get("final_losses") or {}
    if "d_loss" in final and "g_loss" in final:
        parts.append(f"final D loss {_number(final['d_loss'])}, G loss {_number(final['g_loss'])}")
    speed = metrics.get("speed") or {}
    if speed.get("images_per_second"):
        parts.append(f"{_number(speed['images_per_second'])} images/s")
    return parts


def _grids_section(out: Path, series: dict) -> str:
    if not series:
        return "<p class='note'>No sample grids saved yet.</p>"
    all_steps = sorted({s for found in series.values() for s in found})
    shown = pick_steps(all_steps)
    head = "".join(f"<th>{_e(SERIES_TITLES.get(name, name))}</th>" for name in series)
    rows = []
    for step in shown:
        cells = []
        for found in series.values():
            path = found.get(step)
            cells.append(f"<td><img class='grid' src='{_href(path)}' alt='{_e(path)}'></td>" if path
                         else "<td class='note'>not saved</td>")
        rows.append(f"<tr><th>step {step}</th>{''.join(cells)}</tr>")
    every = []
    for name, found in series.items():
        links = " ".join(f"<a href='{_href(p)}'>{s}</a>" for s, p in found.items())
        every.append(f"<p><b>{_e(SERIES_TITLES.get(name, name))}</b> ({len(found)} grids): {links}</p>")
    note = (f"<p class='note'>{len(shown)} of {len(all_steps)} saved steps shown; every grid is linked below.</p>"
            if len(shown) < len(all_steps) else "")
    return (f"{note}<table class='grids'><tr><th>step</th>{head}</tr>{''.join(rows)}</table>"
            f"<details><summary>All saved grids</summary>{''.join(every)}</details>")


def _files_section(out: Path) -> str:
    files = sorted(p for p in out.iterdir() if p.is_file() and p.name != REPORT and not p.name.endswith(".tmp"))
    if not files:
        return "<p class='note'>No files.</p>"
    rows = "".join(f"<tr><td><a href='{_href(p.name)}'>{_e(p.name)}</a></td>"
                   f"<td class='num'>{p.stat().st_size / 1024:.1f} KiB</td></tr>" for p in files)
    return f"<table><tr><th>file</th><th>size</th></tr>{rows}</table>"


def render(out: Path) -> str:
    """The HTML of ``out``'s report."""
    out = Path(out)
    metrics = read_metrics(out)
    kind = (metrics or {}).get("kind") or next((k for k in ("vae", "gan") if (out / f"{k}_gen_imgs").is_dir()), "")
    title = f"{kind.upper() + ' ' if kind else ''}run: {out.resolve().name}"
    body = [f"<h1>{_e(title)}</h1>"]
    if metrics is None:
        body.append("<p class='note'>No metrics.json: the run has not finished (or was stopped); "
                    "continue it with --resume.</p>")
    else:
        body.append(f"<p>{_e('; '.join(_summary(metrics)))}</p>")
    body.append("<h2>Sample grids over training</h2>")
    body.append(_grids_section(out, grid_series(out)))
    curves = sorted(p.name for p in out.glob("*_output.png"))
    body.append("<h2>Loss curves</h2>")
    body.extend(f"<p><img src='{_href(name)}' alt='{_e(name)}' style='max-width:100%'></p>" for name in curves)
    if not curves:
        body.append("<p class='note'>No loss curves yet.</p>")
    if metrics is not None:
        quality = metrics.get("quality")
        body.append("<h2>Sample quality</h2>")
        body.append(_table(quality) if isinstance(quality, dict) else
                    "<p class='note'>Not computed for this run (metrics.json holds no quality figures).</p>")
        quality_ema = metrics.get("quality_ema")
        if isinstance(quality_ema, dict):  # GAN runs with --ema: the moving-average generator, same noise
            body.append("<h2>Sample quality of the moving-average generator</h2>")
            body.append(_table(quality_ema))
        body.append("<h2>Metrics</h2>")
        body.append(_table({k: v for k, v in metrics.items() if k not in SECTIONS_ELSEWHERE}))
        body.append("<h2>Run settings</h2>")
        settings = metrics.get("settings")
        body.append(_table(settings) if isinstance(settings, dict) else "<p class='note'>Not recorded.</p>")
    body.append("<h2>Files</h2>")
    body.append(_files_section(out))
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(title)}</title><style>{STYLE}</style></head>\n<body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def write_report(out) -> Path:
    """Write ``out/index.html`` (atomically) and return its path."""
    out = Path(out)
    path = out / REPORT
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(out), encoding="utf-8")
    tmp.replace(path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaegan.train.report", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders (e.g. runs/vae runs/gan)")
    args = parser.parse_args(argv)
    status = 0
    for run in map(Path, args.runs):
        if not run.is_dir():
            print(f"error: {run} is not a folder", file=sys.stderr)
            status = 2
            continue
        print(write_report(run))
    return status


if __name__ == "__main__":
    sys.exit(main())

"""``groundcap report``: one self-contained HTML page for looking through a batch run.

Reads the shards of a ``groundcap run`` folder (:mod:`groundcap.data.run_shards`)
and writes a static page: for each image a thumbnail with the detection boxes
drawn over it, the facts, every candidate caption with its score breakdown and
grounding verdicts, or the failure and its error; above them a summary (counts
by status, seconds per stage, models and versions from ``config.json``) and
status filters. The page fetches nothing, so it can be mailed or opened offline.

Captions and file names are untrusted. Every piece of text goes through
:func:`esc`, and the page's Content-Security-Policy admits only its own script
and style (by hash) and ``data:`` images, so markup that got past the escaping
still could not run.

>>> esc('<img src=x onerror="alert(1)">')
'&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> _ = add_report_parser(parser.add_subparsers())
>>> args = parser.parse_args(["report", "runs/a", "--limit", "20"])
>>> args.limit, args.out, args.func is run_report
(20, None, True)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import io
import json
import os
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from groundcap.data.atomic import atomic_file
from groundcap.describe import describe_facts

__all__ = ["esc", "render_report", "write_report", "add_report_parser", "run_report"]

#: How a claim's verdict is marked in front of it.
VERDICT_MARKS = {"supported": "+", "contradicted": "x", "unverifiable": "?"}
# Box colours by label, light enough for black text (crc32, so a label keeps its colour from one report to the next).
_BOX_COLOURS = ("#ff6b6b", "#51cf66", "#ffd43b", "#74c0fc", "#ffa94d", "#da77f2", "#3bc9db", "#f783ac")

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1240px;padding:1em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:.8em 0 .3em}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #ddd}
.num{text-align:right;font-variant-numeric:tabular-nums}.num,th{white-space:nowrap;overflow-wrap:normal}
.note{color:#a15c00}.muted{color:#777}
#filters{position:sticky;top:0;background:#fafafa;padding:.5em 0;border-bottom:1px solid #ccc;z-index:2}
#filters label{margin-right:1em}
[hidden]{display:none!important}
article.row{display:grid;grid-template-columns:auto 1fr;gap:1em;background:#fff;border:1px solid #ddd;
 border-radius:6px;padding:.8em;margin:.8em 0}
article.failed{border-left:5px solid #c0392b}
article.row>div{min-width:0;overflow-wrap:anywhere}td:first-child{white-space:nowrap}
.frame{position:relative;display:inline-block;line-height:0}
.frame svg{position:absolute;left:0;top:0;width:100%;height:100%;overflow:visible}
.noimg{display:flex;align-items:center;justify-content:center;background:#eee;color:#777;border:1px dashed #aaa;
 width:200px;height:150px;text-align:center;padding:4px;box-sizing:border-box}
.caption{font-size:1.25em;font-weight:600;margin:0 0 .3em}
.status{display:inline-block;padding:0 6px;border-radius:3px;background:#ddd;font-size:.85em}
.status.ok{background:#cdeccd}.status.fallback{background:#fde9b8}.failed .status{background:#f5c6c0}
.error{color:#c0392b;white-space:pre-wrap}
pre{white-space:pre-wrap;margin:.2em 0;background:#f4f4f4;padding:4px 6px}
tr.chosen{background:#eef7ee;font-weight:600}
ul.claims{margin:.2em 0;padding-left:1.2em;font-weight:normal;list-style:none}
.claim .v{display:inline-block;width:1.2em;font-weight:700}
.supported .v{color:#2e7d32}.contradicted .v{color:#c0392b}.unverifiable .v{color:#888}
.evidence{color:#666;font-size:.9em}
"""
_JS = """
(function () {
  var form = document.getElementById('filters');
  function apply() {
    var on = {};
    form.querySelectorAll('input').forEach(function (i) { on[i.value] = i.checked; });
    document.querySelectorAll('article.row').forEach(function (a) { a.hidden = !on[a.dataset.status]; });
  }
  form.hidden = false;
  form.addEventListener('change', apply);
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img.thumb'));
  function count() {
    document.body.dataset.imagesLoaded = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  }
  imgs.forEach(function (i) { i.addEventListener('load', count); i.addEventListener('error', count); });
  window.addEventListener('load', count);
  count();
})();
"""


def esc(value: Any) -> str:
    """``value`` as text that HTML shows and never parses (quotes escaped too, for attributes)."""
    return html.escape(str(value), quote=True)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


@dataclass
class _Summary:
    """What the page says about the whole run, read from every shard (not just the rows shown)."""

    images: int = 0
    statuses: Counter = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, table: Any) -> None:
        import pyarrow.compute as pc

        self.images += table.num_rows
        if "status" in table.column_names:
            self.statuses.update(str(s or "unknown") for s in table.column("status").to_pylist())
        else:
            self.statuses["unknown"] += table.num_rows
        for name in table.column_names:
            if name.startswith("time_"):
                total = pc.sum(table.column(name)).as_py()
                self.seconds[name[5:]] = self.seconds.get(name[5:], 0.0) + float(total or 0.0)


def _read_run(shards: Sequence[Path], limit: int) -> tuple[_Summary, list[dict[str, Any]]]:
    """The summary of every shard and the first ``limit`` rows; later shards are read for summary columns only."""
    import pyarrow.parquet as pq

    summary, rows = _Summary(), []
    for shard in shards:
        columns = None
        if len(rows) >= limit:
            columns = [n for n in pq.read_schema(shard).names if n == "status" or n.startswith("time_")]
        table = pq.read_table(shard, columns=columns)
        summary.add(table)
        if len(rows) < limit:
            rows.extend(table.slice(0, limit - len(rows)).to_pylist())
    return summary, rows


def _read_config(run_dir: Path) -> tuple[Mapping[str, Any] | None, str]:
    """``config.json`` of the run and, when it is missing or broken, why."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None, "no config.json in this run folder"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return None, f"config.json is unreadable: {e}"
    if not isinstance(config, dict):
        return None, "config.json does not hold an object"
    return config, ""


def _thumbnail(path: Path, size: int) -> tuple[str, int, int]:
    """A JPEG data URI of the upright image, longest side at most ``size``, and its pixel size."""
    from PIL import Image

    from groundcap.data import load_image

    rgb, _ = load_image(path)
    img = Image.fromarray(rgb)
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), img.width, img.height


def _image_html(row: Mapping[str, Any], run_dir: Path, facts: Any, size: int) -> str:
    """The thumbnail with its box overlay, or a placeholder saying why there is none."""
    raw = str(row.get("path") or "")
    if not raw:
        return '<div class="noimg">no image file</div>'
    path = Path(raw) if os.path.isabs(raw) else run_dir / raw
    try:
        uri, w, h = _thumbnail(path, size)
    except Exception as e:  # noqa: BLE001 - any image that cannot be shown becomes a placeholder
        reason = getattr(e, "reason", None) or type(e).__name__
        return f'<div class="noimg">no image: {esc(str(reason).replace("_", " "))}</div>'
    name = Path(raw).name
    img = f'<img class="thumb" src="{esc(uri)}" width="{w}" height="{h}" alt="{esc(name)}">'
    return f'<div class="frame">{img}{_overlay(facts)}</div>'


def _overlay(facts: Any) -> str:
    """The detections as SVG boxes in the image's own pixel coordinates, so they scale with the thumbnail."""
    if facts is None or not facts.detections:
        return ""
    w, h = facts.image.width, facts.image.height
    font = max(w, h) / 22
    parts = [f'<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none" aria-hidden="true">']
    for d in facts.detections:
        x1, y1, x2, y2 = d.box
        colour = _BOX_COLOURS[zlib.crc32(d.label.encode("utf-8")) % len(_BOX_COLOURS)]
        # The label sits on a tab above the box (inside it at the top edge), kept inside the image on the right.
        tab_w, tab_h = 0.6 * font * len(d.instance_id) + font * 0.4, font * 1.2
        tx = max(0.0, min(x1, w - tab_w))
        ty = y1 - tab_h if y1 >= tab_h else y1
        parts.append(
            f'<rect x="{x1:.1f}" y="{y1:.1f}" width="{x2 - x1:.1f}" height="{y2 - y1:.1f}" fill="none" '
            f'stroke="{colour}" stroke-width="2" vector-effect="non-scaling-stroke"><title>{esc(d.instance_id)} '
            f'{d.score:.2f}</title></rect>'
            f'<rect x="{tx:.1f}" y="{ty:.1f}" width="{tab_w:.1f}" height="{tab_h:.1f}" fill="{colour}" '
            f'fill-opacity="0.85"/><text x="{tx + font * 0.2:.1f}" y="{ty + font * 0.95:.1f}" font-size="{font:.1f}" '
            f'font-family="sans-serif" fill="#000">{esc(d.instance_id)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _facts(row: Mapping[str, Any]) -> tuple[Any, str]:
    """The row's Facts and their description; (None, why) when there are none or they do not parse."""
    from groundcap.records import Facts

    if not row.get("facts"):
        return None, ""
    try:
        facts = Facts.from_dict(json.loads(row["facts"]))
        return facts, describe_facts(facts)
    except Exception as e:  # noqa: BLE001 - a bad facts column is shown, not fatal
        return None, f"facts unreadable: {type(e).__name__}: {e}"


def _number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else esc(value)


def _candidates_html(row: Mapping[str, Any]) -> str:
    """Every candidate, best first, with each scorer, the total and the claims; the chosen one marked."""
    try:
        cands = json.loads(row.get("candidates") or "[]")
    except ValueError as e:
        return f'<p class="error">candidates unreadable: {esc(e)}</p>'
    cands = [c for c in cands if isinstance(c, dict)] if isinstance(cands, list) else []
    if not cands:
        return ""
    scorers = list(dict.fromkeys(k for c in cands for k in (c.get("scores") or {})))
    head = "".join(f'<th class="num">{esc(s)}</th>' for s in scorers)
    out = [f'<table class="cands"><thead><tr><th>#</th><th>candidate</th>{head}<th class="num">total</th>'
           '</tr></thead><tbody>']
    chosen = row.get("chosen")
    for i, c in enumerate(cands):
        mark = ' <span class="badge">★ chosen</span>' if i == chosen else ""
        note = c.get("status") or ""
        if c.get("detail"):
            note += f": {c['detail']}"
        claims = "".join(
            f'<li class="claim {esc(cl.get("verdict", ""))}" title="{esc(cl.get("verdict", ""))}">'
            f'<span class="v">{esc(VERDICT_MARKS.get(cl.get("verdict"), "?"))}</span>{esc(cl.get("text", ""))}'
            + (f' <span class="evidence">— {esc(cl["evidence"])}</span>' if cl.get("evidence") else "") + "</li>"
            for cl in c.get("claims") or () if isinstance(cl, dict))
        scores = c.get("scores") or {}
        cells = "".join(f'<td class="num">{_number(scores.get(s))}</td>' for s in scorers)
        out.append(
            f'<tr class="{"chosen" if i == chosen else ""}"><td>{i + 1}{mark}</td><td>{esc(c.get("text", ""))} '
            f'<span class="muted">({esc(note)})</span>' + (f'<ul class="claims">{claims}</ul>' if claims else "")
            + f'</td>{cells}<td class="num">{_number(c.get("total"))}</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _row_html(row: Mapping[str, Any], run_dir: Path, thumb: int) -> str:
    from groundcap.data.run_shards import OK_STATUSES

    status = str(row.get("status") or "unknown")
    facts, described = _facts(row)
    name = row.get("source") or Path(str(row.get("path") or "")).name or row.get("key") or "?"
    caption = row.get("caption") or ""
    parts = [f'<article class="row{"" if status in OK_STATUSES else " failed"}" data-status="{esc(status)}">',
             f'<div>{_image_html(row, run_dir, facts, thumb)}</div><div>',
             f'<p class="caption">{esc(caption)}</p>' if caption else '<p class="caption muted">(no caption)</p>',
             f'<p><span class="status {esc(status)}">{esc(status)}</span> <b>{esc(name)}</b> '
             f'<span class="muted">{esc(row.get("key") or "")}'
             + (f' · {row["width"]}×{row["height"]}' if row.get("width") else "") + "</span></p>"]
    if row.get("error"):
        parts.append(f'<p class="error">{esc(row["error"])}</p>')
    if row.get("prior"):
        parts.append(f'<p>given caption: <i>{esc(row["prior"])}</i></p>')
    if described:
        parts.append(f'<pre class="facts">{esc(described)}</pre>')
    parts.append(_candidates_html(row))
    if row.get("prompt"):
        parts.append(f'<details><summary>prompt</summary><pre>{esc(row["prompt"])}</pre></details>')
    parts.append("</div></article>")
    return "\n".join(parts)


def _table(mapping: Mapping[str, Any]) -> str:
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v if isinstance(v, str) else json.dumps(v))}</td></tr>"
                    for k, v in mapping.items())
    return f"<table>{cells}</table>"


def _summary_html(summary: _Summary, shown: int, config: Mapping[str, Any] | None, config_note: str) -> str:
    out = [f'<p><b>{summary.images}</b> images: ' + ", ".join(
        f"{esc(s)} {n}" for s, n in summary.statuses.most_common()) + "</p>"]
    if shown < summary.images:
        out.append(f'<p class="note">Showing the first {shown} of {summary.images} images (--limit).</p>')
    if summary.seconds and summary.images:
        rows = "".join(f'<tr><th>{esc(stage)}</th><td class="num">{total / summary.images:.3f}</td>'
                       f'<td class="num">{total:.1f}</td></tr>' for stage, total in summary.seconds.items())
        out.append('<h2>Seconds per stage</h2><table><tr><th>stage</th><th class="num">mean s / image</th>'
                   f'<th class="num">total s</th></tr>{rows}</table>')
    if config is None:
        out.append(f'<p class="muted">{esc(config_note)}</p>')
    else:
        for key in ("models", "versions"):
            if isinstance(config.get(key), dict) and config[key]:
                out.append(f"<h2>{key.capitalize()}</h2>{_table(config[key])}")
        out.append("<details><summary>config.json</summary>"
                   f"<pre>{esc(json.dumps(config, indent=2, sort_keys=True, default=str))}</pre></details>")
    out.append('<p class="muted">Claims: <b>+</b> supported, <b>x</b> contradicted, <b>?</b> unverifiable.</p>')
    return "\n".join(out)


def _filters_html(summary: _Summary) -> str:
    boxes = "".join(f'<label><input type="checkbox" value="{esc(s)}" checked> {esc(s)} ({n})</label>'
                    for s, n in summary.statuses.most_common())
    return f'<form id="filters" hidden><b>Show:</b> {boxes}</form>'


def render_report(run_dir: str | os.PathLike[str], *, limit: int = 500, thumb: int = 320) -> str:
    """The report page of ``run_dir`` as one HTML string (see :func:`write_report`)."""
    from groundcap.data.run_shards import run_shards

    if limit < 0 or thumb < 16:
        raise ValueError(f"limit must be >= 0 and thumb >= 16, got limit={limit}, thumb={thumb}")
    run_dir = Path(run_dir)
    shards = run_shards(run_dir / "shards")
    if not shards:
        raise ValueError(f"no run shards in {run_dir / 'shards'}; is {run_dir} a 'groundcap run' output folder?")
    summary, rows = _read_run(shards, limit)
    config, config_note = _read_config(run_dir)
    csp = f"default-src 'none'; img-src data:; style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_JS)}"
    title = f"groundcap report: {run_dir.resolve().name}"
    cards = "\n".join(_row_html(r, run_dir, thumb) for r in rows)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body>\n<h1>{esc(title)}</h1>\n"
            f'<p class="muted">{esc(run_dir.resolve())}</p>\n{_summary_html(summary, len(rows), config, config_note)}\n'
            f"{_filters_html(summary)}\n<main>\n{cards}\n</main>\n<script>{_JS}</script>\n</body></html>\n")


def write_report(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *,
                 limit: int = 500, thumb: int = 320) -> Path:
    """Writes the static HTML report of a run folder, atomically, and returns its path.

    Args:
        run_dir: A ``groundcap run`` output folder (with ``shards/*.parquet``).
        out: The HTML file to write; default ``run_dir/report.html``.
        limit: Show at most this many images (the first, in shard order); the
            summary still counts every row.
        thumb: Longest side of the embedded thumbnails, in pixels.

    Raises:
        ValueError: ``run_dir`` has no shards, or ``limit``/``thumb`` are out of range.
    """
    page = render_report(run_dir, limit=limit, thumb=thumb)
    out = Path(out) if out is not None else Path(run_dir) / "report.html"
    with atomic_file(out, "w", encoding="utf-8") as fh:
        fh.write(page)
    return out


def add_report_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds the ``report`` subcommand; it runs :func:`run_report`."""
    p = subparsers.add_parser(
        "report", help="Write a static HTML report of a batch run (thumbnails, boxes, candidates, scores).",
        description="Reads RUN_DIR/shards/*.parquet and RUN_DIR/config.json and writes one self-contained HTML "
                    "file (default RUN_DIR/report.html) that opens offline.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="A 'groundcap run' output folder.")
    p.add_argument("--out", default=None, metavar="FILE", help="HTML file to write (default: RUN_DIR/report.html).")
    p.add_argument("--limit", type=int, default=500, metavar="N", help="Show the first N images (default 500).")
    p.add_argument("--thumb", type=int, default=320, metavar="PX", help="Thumbnail size, longest side (default 320).")
    p.set_defaults(func=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    """Runs ``report``; prints the written path, or the problem on stderr with exit code 2."""
    try:
        path = write_report(args.run_dir, args.out, limit=args.limit, thumb=args.thumb)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0

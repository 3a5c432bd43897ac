"""A self-contained HTML report: text, tables and figures in one file, nothing fetched."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import ArgumentTypeError, ParameterError

DPI = 110
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #555; margin-top: 0; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
nav ol { columns: 2; color: #555; } nav a { color: #235; text-decoration: none; }
table.data { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
table.data th, table.data td { border: 1px solid #ddd; padding: 0.25em 0.6em; }
table.data td { text-align: right; font-variant-numeric: tabular-nums; }
table.data th { background: #f3f3f3; text-align: left; }
table.data tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; height: auto; display: block; margin: 1em 0; }
pre { background: #f6f6f6; border: 1px solid #e3e3e3; padding: 0.8em; overflow-x: auto;
      font-size: 0.85em; }
footer { color: #888; font-size: 0.8em; margin-top: 3em; border-top: 1px solid #eee; }
"""


@dataclass(frozen=True)
class Pre:
    """A preformatted text block (a control stream, a log, an estimates table as text)."""

    text: str


@dataclass
class Section:
    """A heading and its items, in order: ``str`` (paragraphs, split at blank lines),
    ``pandas.DataFrame``, matplotlib ``Figure``, ``Path`` to a PNG file, or ``Pre``."""

    heading: str
    items: list = field(default_factory=list)


def save_figure(fig, path, *, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, PNG usually) atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return path


def write_report(path, *, title: str, subtitle: str = "", sections) -> Path:
    """Write one self-contained HTML file: no external CSS, scripts or images (figures are
    embedded PNG data URIs). Every item is rendered before anything is written, and the
    file is replaced in one rename, so a failure leaves any previous report intact."""
    sections = [s if isinstance(s, Section) else Section(*s) for s in sections]
    body = [f"<header><h1>{_esc(title)}</h1>"]
    if subtitle:
        body.append(f'<p class="subtitle">{_esc(subtitle)}</p>')
    body.append("</header>")
    if len(sections) > 1:
        links = "".join(f'<li><a href="#s{k}">{_esc(s.heading)}</a></li>'
                        for k, s in enumerate(sections, 1))
        body.append(f"<nav><ol>{links}</ol></nav>")
    for k, section in enumerate(sections, 1):
        body.append(f'<section id="s{k}"><h2>{_esc(section.heading)}</h2>')
        body.extend(_item(item, section.heading) for item in section.items)
        body.append("</section>")
    from .. import __version__

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body.append(f"<footer>cellpkpd {_esc(__version__)}, {stamp}</footer>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _item(item, heading) -> str:
    from matplotlib.figure import Figure

    if isinstance(item, Pre):
        return f"<pre>{_esc(item.text)}</pre>"
    if isinstance(item, str):
        paragraphs = [p.strip() for p in item.split("\n\n") if p.strip()]
        return "".join(f"<p>{_esc(p)}</p>" for p in paragraphs)
    if isinstance(item, pd.DataFrame):
        return _table(item)
    if isinstance(item, Figure):
        buffer = io.BytesIO()
        item.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        alt = item.get_suptitle() or heading
        return _img(buffer.getvalue(), alt)
    if isinstance(item, Path):
        data = item.read_bytes()
        if not data.startswith(PNG_MAGIC):
            raise ParameterError(f"section {heading!r}: {item} is not a PNG file; save the "
                                 "figure as PNG, or pass the matplotlib Figure itself")
        return _img(data, item.stem)
    raise ArgumentTypeError(f"section {heading!r}: cannot render a {type(item).__name__}; "
                            "items are str, pandas.DataFrame, matplotlib Figure, Path to a "
                            "PNG, or Pre")


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


def _table(frame: pd.DataFrame) -> str:
    # A meaningful index (parameter names, IDs) is shown; a plain 0..n-1 one is not.
    plain = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    return frame.to_html(index=not plain, classes="data", border=0, na_rep="–",
                         float_format=_number, escape=True)


def _number(value) -> str:
    """4 significant digits; exponent notation only for very large or small values."""
    if not np.isfinite(value):
        return "–" if np.isnan(value) else str(value)
    if value == 0:
        return "0"
    exponent = int(np.floor(np.log10(abs(value))))
    if -4 <= exponent <= 3:
        return f"{value:.4g}"
    if 4 <= exponent <= 5:  # 12345.6 -> 12350 rather than 1.235e+04
        return f"{round(value, 3 - exponent):.0f}"
    return f"{value:.3e}"

"""`describe(model)`: a model's documentation as readable text tables."""

from __future__ import annotations

import math
import textwrap

from .model import Model


def _table(headers: list[str], rows: list[list[str]], wrap: int = 60) -> str:
    """A plain-text table; the last column wraps at ``wrap`` characters."""
    if not rows:
        return "  (none)"
    wrapped = []
    for row in rows:
        last = textwrap.wrap(row[-1], wrap) or [""]
        wrapped.append([row[:-1] + [last[0]]] + [[""] * (len(row) - 1) + [x] for x in last[1:]])
    widths = [max(len(h), *(len(r[i]) for rr in wrapped for r in rr)) for i, h in
              enumerate(headers)]
    def line(cells):
        return "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    for rr in wrapped:
        out.extend(line(r) for r in rr)
    return "\n".join(out)


def _number(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "(absent)"
    return f"{x:.6g}"


def describe(model: Model, *, file=None, show: bool = True) -> str:
    """Print (and return) a model's states, parameters with value, unit, provenance tag and
    source, covariates, outputs with LLOQ and default residual error, switches, references and
    assumptions. Tags: [lit] from the cited publication, [der] derived from published figures,
    [asm] a modelling assumption (give it a wide prior)."""
    parts = [f"{model.name}  (time unit: {model.time_unit}; default solver: "
             f"{'closed form' if model.linear else model.default_solver})"]
    if model.description:
        parts.append(textwrap.fill(model.description, 96))
    parts.append("\nStates (CMT numbers count from 1 in this order)")
    parts.append(_table(["cmt", "name", "unit", "description"],
                        [[str(i + 1), s.name, s.unit, s.description]
                         for i, s in enumerate(model.states)]))
    parts.append("\nParameters")
    parts.append(_table(
        ["name", "value", "unit", "tag", "description; source"],
        [[p.name, _number(p.value), p.unit, f"[{p.tag}]" if p.tag else "",
          p.description + (f"; {p.source}" if p.source else "")] for p in model.params]))
    parts.append("\nCovariates (dataset columns)")
    parts.append(_table(
        ["name", "default", "unit", "description"],
        [[c.name, "derived" if c.derive else _number(float(c.default)), c.unit, c.description]
         for c in model.covariates]))
    parts.append("\nOutputs")
    parts.append(_table(
        ["name", "unit", "LLOQ", "residual error", "description"],
        [[o.name, o.unit, "" if o.lloq is None else f"{o.lloq:g}",
          "" if o.error is None else str(o.error), o.description] for o in model.outputs]))
    if model.switches:
        parts.append("\nSwitches (set by doses, read as c.NAME)")
        parts.append(_table(["name", "compartments", "description"],
                            [[s.name, ", ".join(s.compartments), s.description]
                             for s in model.switches]))
    if model.references:
        parts.append("\nReferences")
        parts.extend(f"  - {r}" for r in model.references)
    if model.assumptions:
        parts.append("\nAssumptions")
        parts.extend(textwrap.fill(a, 94, initial_indent="  - ", subsequent_indent="    ")
                     for a in model.assumptions)
    text = "\n".join(parts)
    if show:
        print(text, file=file)
    return text

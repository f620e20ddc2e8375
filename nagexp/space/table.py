"""A search space's params as a text table (for `nagexp spaces show`)."""

from __future__ import annotations

from nagexp.config.space import CategoricalParam, FixedParam, FloatParam, IntParam, SearchSpace

__all__ = ["params_table"]


def _domain(param: object) -> str:
    if isinstance(param, FloatParam | IntParam):
        step = f" step {param.step}" if param.step not in (None, 1) else ""
        return f"[{param.low:g}, {param.high:g}]{' log' if param.log else ''}{step}"
    if isinstance(param, CategoricalParam):
        return "{" + ", ".join(map(str, param.choices)) + "}"
    assert isinstance(param, FixedParam)
    return f"= {param.value}"


def params_table(space: SearchSpace) -> str:
    rows = [("param", "type", "domain", "when")]
    for name, p in space.ordered_params():
        when = ", ".join(f"{k} in {v}" for k, v in p.conditions().items()) or "always"
        rows.append((name, p.type, _domain(p), when))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)

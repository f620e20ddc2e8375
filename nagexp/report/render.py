"""ReportData + figures -> one self-contained HTML page and a Markdown file."""

from __future__ import annotations

import html
import json
import shlex

from nagexp.core.wording import counted
from nagexp.report.data import ReportData, TrialRow
from nagexp.report.figures import FIGURES
from nagexp.results.cells import short_value

__all__ = ["render_html", "render_markdown"]

CSS = """body{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}th{background:#f4f4f4}
pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:12px}figure{margin:1.2em 0}
figcaption{font-weight:600;margin-bottom:.3em}svg{max-width:100%;height:auto}code{background:#f4f4f4}"""


def _summary_rows(d: ReportData) -> list[tuple[str, str]]:
    best, counts, o = d.best, d.counts(), d.plan.options
    versions = d.plan.versions
    res = d.plan.ray_resources or {}
    ranking = d.plan.ranking
    objective = ", ".join(f"{mode} {m}" for m, mode in zip(ranking.metrics, ranking.modes, strict=True))
    several = [("Pareto front", f"trials {', '.join(str(t.number) for t in d.front()) or '-'}; the best of it by "
                f"--pick {ranking.pick}")] if ranking.several else []  # fmt: skip
    return [
        ("objective" + ("s (the first is ASHA's)" if ranking.several else ""), objective),
        *several,
        ("best value", f"{short_value(best.final)} (trial {best.number})" if best else "-"),
        ("best config's test accuracy", short_value(best.test_acc) if best else "-"),
        ("best config", ", ".join(f"{k}={short_value(v)}" for k, v in sorted(best.params.items())) if best else "-"),
        ("trials", ", ".join(f"{v} {k}" for k, v in counts.items()) + f" (of {o.trials} planned)"),
        ("wall time", f"{d.summary['seconds']:.1f} s" if isinstance(d.summary.get("seconds"), int | float) else "-"),
        ("sampler / scheduler", f"{o.sampler} / {o.scheduler}"),
        (
            "hardware",
            f"Ray: {_amount(res.get('CPU'), 'CPU')}, {_amount(res.get('GPU'), 'GPU')}; "
            f"{o.cpus_per_trial:g} CPU, {o.gpus_per_trial:g} GPU per trial",
        ),
        ("versions", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))),
        *_start_rows(d),
    ]


def _amount(value: object, unit: str) -> str:
    """A Ray resource's amount: "1 CPU", "2 GPUs", "- GPUs" when not recorded."""
    return counted(value, unit) if isinstance(value, int | float) else f"- {unit}s"


def _start_rows(d: ReportData) -> list[tuple[str, str]]:
    """A warm start's prior knowledge and the configs enqueued first (search/warm_start.py)."""
    start = d.plan.warm_start or {}
    rows = []
    if start.get("told") or start.get("sources"):
        names = ", ".join(s.rsplit("/", 1)[-1] for s in start.get("sources", []))
        rows.append(("prior knowledge", f"{start.get('told', 0)} finished trials of {names} told to the sampler "
                     "before trial 0 (not retrained; not among the trials here)"))  # fmt: skip
    if start.get("enqueued"):
        rows.append(("run first", f"{start['enqueued']} configs of {start.get('enqueue_file')}"))
    return rows


def _reproduce_rows(d: ReportData) -> list[tuple[str, str]]:
    plan = d.plan
    return [
        ("command", plan.command or "-"),
        ("master seed", short_value(plan.seeds.master)),
        ("trial seeds", plan.seeds.trial_seed_rule),
        ("git SHA", plan.git_sha or "not in a git checkout"),
        ("data fingerprint", plan.data.fingerprint if plan.data else "-"),
        ("rerun the best trial", _rerun_command(d)),
    ]


def _rerun_command(d: ReportData) -> str:
    """As the sweep printed it: the folder's path, wherever the report is read (`nagexp train`
    runs the built-in trainer; a function of the user's reruns through `nagexp reproduce`)."""
    folder = d.sweep_dir or f"results/{d.name}"
    return shlex.join(["nagexp", *(["reproduce", str(folder)] if d.own_trainer else ["train", f"{folder}/best.yaml"])])


def _trial_table(d: ReportData, trials: list[TrialRow]) -> tuple[list[str], list[list[str]]]:
    """Several objectives: a column for each other objective, and `pareto` (on the front)."""
    others = list(d.plan.ranking.metrics[1:])
    front = {t.number for t in d.front()}
    signal = any(t.ranked is not None for t in d.trials)  # a pruned trial's rung signal beside its metric
    header = ["trial", "state", d.metric, *(["ranked on"] if signal else []), *others,
              *(["pareto"] if others else []), "test acc", "epochs", *d.param_names, "reason"]  # fmt: skip
    rows = [[str(t.number), t.state, short_value(t.final), *([short_value(t.ranked)] if signal else []),
             *(short_value(t.finals.get(m)) for m in others),
             *(["yes" if t.number in front else "-"] if others else []), short_value(t.test_acc),
             str(t.epochs_run), *(short_value(t.params.get(p)) for p in d.param_names), t.reason]
            for t in trials]  # fmt: skip
    return header, rows


# ---- HTML -------------------------------------------------------------------------------


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html_kv(rows: list[tuple[str, str]]) -> str:
    return (
        "<table>"
        + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _inline_svg(svg: str) -> str:
    return svg[svg.index("<svg") :]  # drop the XML prolog and doctype inside HTML


def render_html(d: ReportData, figures: dict[str, str]) -> str:
    top_header, top_rows = _trial_table(d, d.ranked()[:10])
    all_header, all_rows = _trial_table(d, d.trials)
    figs = "".join(
        f"<figure><figcaption>{html.escape(title)}</figcaption>{_inline_svg(figures[stem])}</figure>"
        for stem, (title, _) in FIGURES.items() if stem in figures
    )
    front = ""
    if d.front():
        front_header, front_rows = _trial_table(d, [t for t in d.ranked() if t in d.front()])
        front = f"<h2>Pareto front</h2>{_html_table(front_header, front_rows)}\n"
    space = html.escape(d.plan.space_text)
    fixed = html.escape(json.dumps(d.fixed, sort_keys=True))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>nagexp sweep {html.escape(d.name)}'
        f"</title><style>{CSS}</style></head><body>\n"
        f"<h1>Sweep {html.escape(d.name)}</h1>\n<h2>Summary</h2>{_html_kv(_summary_rows(d))}\n"
        f"<h2>How to reproduce</h2>{_html_kv(_reproduce_rows(d))}<p>Fixed values: <code>{fixed}</code></p>"
        f"<p>Search space file:</p><pre>{space}</pre>\n"
        f"{front}<h2>Top trials</h2>{_html_table(top_header, top_rows)}\n"
        f"<details><summary>All {len(d.trials)} trials</summary>{_html_table(all_header, all_rows)}</details>\n"
        f"<h2>Figures</h2>{figs}\n</body></html>\n"
    )


# ---- Markdown ---------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(map(_md_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(d: ReportData, figure_dir: str = "figures", figures: dict[str, str] | None = None) -> str:
    """`figures`: the ones drawn (only those are linked; None: every figure)."""
    top_header, top_rows = _trial_table(d, d.ranked()[:10])
    all_header, all_rows = _trial_table(d, d.trials)
    parts = [
        f"# Sweep {d.name}",
        "## Summary",
        _md_table(["", ""], [[k, v] for k, v in _summary_rows(d)]),
        "## How to reproduce",
        _md_table(["", ""], [[k, v] for k, v in _reproduce_rows(d)]),
        f"Fixed values: `{json.dumps(d.fixed, sort_keys=True)}`",
        "Search space file:",
        "```yaml\n" + d.plan.space_text.rstrip() + "\n```",
        *(["## Pareto front", _md_table(*_trial_table(d, [t for t in d.ranked() if t in d.front()]))]
          if d.front() else []),
        "## Top trials",
        _md_table(top_header, top_rows),
        f"## All {len(d.trials)} trials",
        _md_table(all_header, all_rows),
        "## Figures",
        *(f"### {title}\n\n![{title}]({figure_dir}/{stem}.svg)" for stem, (title, _) in FIGURES.items()
          if figures is None or stem in figures),
    ]
    return "\n\n".join(parts) + "\n"

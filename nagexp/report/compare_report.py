"""The comparison report: arms side by side (tables first, then figures, then HTML/Markdown)."""

from __future__ import annotations

import html
from pathlib import Path

from nagexp.core.io import atomic_write_text
from nagexp.report.data import collect
from nagexp.report.figures import drawing, new_figure, population, profile_figure, svg_of
from nagexp.report.render import CSS, _html_table, _inline_svg, _md_table
from nagexp.results.comparison import Comparison

__all__ = ["build_compare_report"]


def _arm_rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    header = [c.axis, "sweep", "epochs searched", "sweep best", f"retrained mean {c.metric}", "95 % CI", "seeds"]
    rows = []
    for a in c.arms:
        mean, low, high = a.ci or (float("nan"),) * 3
        rows.append([a.arm, a.sweep, str(a.epochs_trained), f"{a.best_value:.4f}" if a.best_value is not None else "-",
                     f"{mean:.4f}", f"[{low:.4f}, {high:.4f}]", str(len(a.seed_values))])  # fmt: skip
    return header, rows


def _paired_rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    header = ["pair", "mean difference", "95 % CI", "p (paired t-test)"]
    rows = [[f"{p['a']} - {p['b']}", f"{p['mean_diff']:+.4f}", f"[{p['ci95'][0]:+.4f}, {p['ci95'][1]:+.4f}]",
             f"{p['p_value']:.3g}"] for p in c.paired]  # fmt: skip
    return header, rows


def _seeds_figure(c: Comparison) -> str:
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(5, 3))
    for i, a in enumerate(c.arms):
        ax.scatter([i] * len(a.seed_values), a.seed_values, s=18, alpha=0.8)
        if a.ci:
            ax.errorbar(
                [i + 0.15], [a.ci[0]], yerr=[[a.ci[0] - a.ci[1]], [a.ci[2] - a.ci[0]]], fmt="o", color="k", ms=4
            )
    for k in range(len(c.seeds)):  # the pairing: one line per seed across arms
        ax.plot(range(len(c.arms)), [a.seed_values[k] for a in c.arms], color="0.8", lw=0.8, zorder=0)
    ax.set_xticks(range(len(c.arms)), [a.arm for a in c.arms])
    ax.set_ylabel(f"{c.metric}, best config retrained")
    return svg_of(fig)


def _profile_rows(ttt: dict) -> tuple[list[str], list[list[str]]]:
    header = ["arm", "epochs to target, per seed", *(f"share within {t:g}x" for t in ttt["taus"])]
    rows = [[arm, ", ".join("-" if h is None else str(h) for h in hits), *(f"{v:.2f}" for v in ttt["profile"][arm])]
            for arm, hits in ttt["epochs_to_target"].items()]  # fmt: skip
    return header, rows


def _curves_figure(c: Comparison, results_dir: Path) -> str:
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(6, 3))
    for a in c.arms:
        points = collect(results_dir / a.sweep).best_so_far()
        ax.step([p[0] for p in points], [p[1] for p in points], where="post", label=a.arm)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"best {c.metric} so far")
    ax.legend(loc="best", frameon=False)
    return svg_of(fig)


def _schedules_figure(c: Comparison) -> str:
    """The lr and momentum every step of each arm's retrained config: a population's exported
    schedule beside the best fixed one."""
    plt = new_figure()
    fig, (ax_lr, ax_mu) = plt.subplots(2, 1, figsize=(6, 4), sharex=True)
    for a in c.arms:
        if not a.schedule:
            continue
        end = a.schedule["steps"]
        for ax, key in ((ax_lr, "lr"), (ax_mu, "momentum")):
            knots = a.schedule[key]
            ax.step([k[0] for k in knots] + [end], [k[1] for k in knots] + [knots[-1][1]], where="post", label=a.arm)
    ax_lr.set_ylabel("lr (as scheduled)")
    ax_mu.set_ylabel("momentum")
    ax_mu.set_xlabel("optimizer step")
    ax_lr.legend(loc="best", frameon=False, fontsize=7)
    return svg_of(fig)


def build_compare_report(c: Comparison, results_dir: Path) -> list[Path]:
    root = results_dir / c.name / "report"
    with drawing():
        figures = {"seeds": ("Each arm's best config on the paired seeds", _seeds_figure(c)),
                   "search": ("Search progress of each arm", _curves_figure(c, results_dir)),
                   "schedules": ("The schedule each arm's best config was retrained under", _schedules_figure(c))}
        ttt = c.time_to_target()
        if ttt is not None:
            figures["profile"] = (f"Time-to-target profile: {c.metric} {ttt['target']:.4f} (the worst arm's mean)",
                                  profile_figure(ttt["taus"], ttt["profile"]))  # fmt: skip
        for a in c.arms:  # population-based arms: how the population moved
            data = collect(results_dir / a.sweep)
            if data.population:
                figures[f"population-{a.arm}"] = (f"Arm {a.arm}: each member's lr and momentum "
                                                  "(x: copied another's weights)", population(data))  # fmt: skip
    arm_h, arm_r = _arm_rows(c)
    pair_h, pair_r = _paired_rows(c)
    prof_h, prof_r = _profile_rows(ttt) if ttt is not None else ([], [])
    target = (f"Epochs each retrained run took to reach {c.metric} {ttt['target']:.4f}, the value every arm "
              "reaches on average at its end (the worst arm's mean), and the share of seeds on which each arm "
              "got there within tau x the epochs of the fastest arm on that seed (AlgoPerf's profile)."
              if ttt is not None else "")  # fmt: skip
    verdicts = "".join(f"<li>{html.escape(v)}</li>" for v in c.verdicts)
    figs = "".join(f"<figure><figcaption>{html.escape(t)}</figcaption>{_inline_svg(svg)}</figure>"
                   for t, svg in figures.values())  # fmt: skip
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>nagexp compare {html.escape(c.name)}'
        f"</title><style>{CSS}</style></head><body>\n<h1>Comparison {html.escape(c.name)}</h1>\n"
        f"<h2>Verdict</h2><ul>{verdicts}</ul>\n<h2>Arms</h2>{_html_table(arm_h, arm_r)}\n"
        f"<h2>Paired differences</h2>{_html_table(pair_h, pair_r)}<p>Seeds: {', '.join(map(str, c.seeds))}</p>\n"
        + (f"<h2>Time to target</h2><p>{html.escape(target)}</p>{_html_table(prof_h, prof_r)}\n" if prof_r else "")
        + f"<h2>Figures</h2>{figs}\n</body></html>\n"
    )
    md = "\n\n".join([
        f"# Comparison {c.name}", "## Verdict", "\n".join(f"- {v}" for v in c.verdicts),
        "## Arms", _md_table(arm_h, arm_r), "## Paired differences", _md_table(pair_h, pair_r),
        f"Seeds: {', '.join(map(str, c.seeds))}",
        *(["## Time to target", target, _md_table(prof_h, prof_r)] if prof_r else []), "## Figures",
        *(f"### {t}\n\n![{t}](figures/{stem}.svg)" for stem, (t, _) in figures.items()),
    ]) + "\n"  # fmt: skip
    written = [atomic_write_text(root / "index.html", page), atomic_write_text(root / "report.md", md)]
    written += [atomic_write_text(root / "figures" / f"{stem}.svg", svg) for stem, (_, svg) in figures.items()]
    return written

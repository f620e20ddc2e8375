"""Report figures drawn from ReportData, as SVG text with fixed metadata (byte-stable).

Figures are matplotlib `Figure` objects drawn without pyplot, under `drawing()`'s settings:
neither the process's backend nor its rcParams change (a notebook keeps its own)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

from nagexp.report.data import ReportData
from nagexp.results.ranking import can_rank
from nagexp.results.records import TrialState

__all__ = ["FIGURES", "drawing", "new_figure", "profile_figure", "render_figures", "svg_of"]

_STYLE = {"svg.hashsalt": "nagexp", "svg.fonttype": "path", "figure.dpi": 100, "axes.spines.top": False,
          "axes.spines.right": False, "font.size": 9}  # fmt: skip


@contextlib.contextmanager
def drawing() -> Iterator[None]:
    """The report's style while its figures are drawn and saved."""
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


class _Canvas:
    """What the figure functions ask for: `subplots` as pyplot's, on a Figure of its own."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None,
                 **kwargs: Any) -> tuple[Any, Any]:  # fmt: skip
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.subplots(nrows, ncols, **kwargs)


def new_figure() -> type[_Canvas]:
    return _Canvas


def svg_of(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "nagexp"}, bbox_inches="tight")
    return buf.getvalue()


def _empty(title: str, why: str) -> str:
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{title}: {why}", ha="center", va="center")
    return svg_of(fig)


def best_so_far(d: ReportData) -> str:
    points = d.best_so_far()
    if not points:
        return _empty("best so far", "no finished trial")
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(6, 3))
    xs = [t.number for t in d.finished]
    ax.scatter(xs, [t.final for t in d.finished], s=12, color="0.6", label="each finished trial")
    ax.step([p[0] for p in points], [p[1] for p in points], where="post", color="tab:blue", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(d.metric)
    ax.legend(loc="best", frameon=False)
    return svg_of(fig)


def lr_momentum_plane(d: ReportData) -> str:
    have = d.trials
    if not have:
        return _empty("lr x momentum", "no trials")
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(6, 4))

    def lr_mu(t: Any) -> tuple[float, float]:
        cfg = {**d.fixed, **t.params}
        return float(cfg.get("lr", 0.05)), float(cfg.get("momentum", 0.9))

    finished = [t for t in have if can_rank(t)]
    if finished:
        xy = [lr_mu(t) for t in finished]
        sizes = [36 if t.state == TrialState.COMPLETED else 16 for t in finished]
        sc = ax.scatter([p[0] for p in xy], [p[1] for p in xy], c=[t.final for t in finished], cmap="viridis",
                        s=sizes, edgecolors="k", linewidths=0.3)  # fmt: skip
        fig.colorbar(sc, ax=ax, label=d.metric)
    for state, marker, color in ((TrialState.DIVERGED, "x", "tab:red"), (TrialState.ERRORED, "s", "0.5")):
        pts = [lr_mu(t) for t in have if t.state == state]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, s=30, label=state)
    ax.set_xscale("log")
    ax.set_xlabel("peak lr (log)")
    ax.set_ylabel("peak momentum")
    ax.set_title("large dots: ran all epochs; small: stopped early by ASHA", fontsize=8)
    if any(t.state in (TrialState.DIVERGED, TrialState.ERRORED) for t in have):
        ax.legend(loc="best", frameon=False)
    return svg_of(fig)


def learning_curves(d: ReportData, top: int = 5) -> str:
    ranked = [t for t in d.ranked() if t.curve][:top]
    if not ranked:
        return _empty("learning curves", "no per-epoch values")
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for t in ranked:
        ax.plot(range(1, len(t.curve) + 1), t.curve, marker="o", ms=3, label=f"trial {t.number}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(d.metric)
    ax.legend(loc="best", frameon=False)
    return svg_of(fig)


def schedule_curves(d: ReportData, top: int = 3) -> list[tuple[str, list[float], list[float]]] | str:
    """(label, torch lr per step, momentum per step) of the top trials; a sentence when there
    is nothing to draw. A schedule of the user's is run from its code, which publish_report put
    on the import path."""
    from nagexp.core.errors import ConfigError
    from nagexp.training.schedules import momentum_values, steps_in_run, torch_lr_values

    ranked = d.ranked()[:top]
    train_n = int(d.plan.data.report.get("train", 0)) if d.plan.data else 0
    if not ranked or not train_n:
        return "no finished trial"
    curves = []
    for t in ranked:
        cfg = d.config_of(t)
        steps = steps_in_run(cfg, train_n)
        try:
            curves.append((f"trial {t.number}: {cfg.lr_schedule} / {cfg.momentum_schedule}",
                           torch_lr_values(cfg, steps), momentum_values(cfg, steps)))  # fmt: skip
        except ConfigError as exc:  # the user's schedule does not import here
            return str(exc)
    return curves


def schedules(d: ReportData, top: int = 3) -> str:
    curves = schedule_curves(d, top)
    if isinstance(curves, str):
        return _empty("schedules", curves[:90])
    plt = new_figure()
    fig, (ax_lr, ax_mu) = plt.subplots(2, 1, figsize=(6, 4), sharex=True)
    for label, lrs, mus in curves:
        ax_lr.plot(lrs, label=label)
        ax_mu.plot(mus)
    ax_lr.set_ylabel("torch lr")
    ax_mu.set_ylabel("momentum")
    ax_mu.set_xlabel("optimizer step")
    ax_lr.legend(loc="best", frameon=False, fontsize=7)
    return svg_of(fig)


def importance(d: ReportData) -> str:
    if not d.importance:
        return _empty("parameter importance", d.importance_note or "not available")
    plt = new_figure()
    items = sorted(d.importance.items(), key=lambda kv: (kv[1], kv[0]))
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items], color="tab:blue")
    ax.set_xlabel(f"importance for {d.metric}")
    ax.set_title(d.importance_note, fontsize=8)
    return svg_of(fig)


def by_family(d: ReportData) -> str:
    families = [p for p in ("lr_schedule", "momentum_schedule") if p in d.param_names or p in d.fixed]
    if not d.finished or not families:
        return _empty("objective by schedule", "no finished trial")
    plt = new_figure()
    fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families), 3), squeeze=False)
    for ax, family in zip(axes[0], families, strict=True):
        groups = d.by_family(family)
        for i, (_, values) in enumerate(groups):
            ax.scatter([i] * len(values), values, s=14, alpha=0.7)
        ax.set_xticks(range(len(groups)), [g for g, _ in groups], rotation=20)
        ax.set_title(family)
        ax.set_ylabel(d.metric)
    return svg_of(fig)


def rungs(d: ReportData) -> str:
    if not d.rungs:
        return _empty("ASHA rungs", "the sweep did not use ASHA")
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.bar([str(e) for e, _ in d.rungs], [n for _, n in d.rungs], color="tab:green")
    ax.set_xlabel("epoch (rung)")
    ax.set_ylabel("trials reaching it")
    return svg_of(fig)


def population(d: ReportData) -> str | None:
    """Each member's lr and momentum over epochs; a dotted line from the member it copied to itself
    marks an exploit (it went on with the other's weights and perturbed values)."""
    if d.population is None:  # not a population-based sweep: no figure
        return None
    if not d.population:  # no epoch yet, or a training function of the user's that reports no lr
        return _empty("population", "no lr reported (your own trainer);\ntrials.csv's exploits and lineage say "
                      "who copied whom" if d.own_trainer else "no epoch reported yet")  # fmt: skip
    plt = new_figure()
    fig, (ax_lr, ax_mu) = plt.subplots(2, 1, figsize=(6, 4.5), sharex=True)
    colors = {n: f"C{i % 10}" for i, n in enumerate(d.population)}
    for number, points in d.population.items():
        epochs = [e for e, _, _ in points]
        ax_lr.plot(epochs, [lr for _, lr, _ in points], color=colors[number], marker=".", label=f"trial {number}")
        ax_mu.plot(epochs, [mu for _, _, mu in points], color=colors[number], marker=".")
    for t in d.trials:
        own = {e: (lr, mu) for e, lr, mu in d.population.get(t.number, [])}
        for event in t.exploits:
            donor = {e: (lr, mu) for e, lr, mu in d.population.get(event["from"], [])}
            before, after = donor.get(event["epoch"]), own.get(event["epoch"] + 1)
            if before is None or after is None:
                continue
            for ax, k in ((ax_lr, 0), (ax_mu, 1)):
                ax.plot([event["epoch"], event["epoch"] + 1], [before[k], after[k]], color=colors[t.number],
                        linestyle=":", linewidth=1.2)  # fmt: skip
                ax.scatter([event["epoch"] + 1], [after[k]], color=colors[t.number], marker="x", s=30, zorder=3)
    ax_lr.set_yscale("log")
    ax_lr.set_ylabel("lr")
    ax_mu.set_ylabel("momentum")
    ax_mu.set_xlabel("epoch")
    ax_lr.legend(loc="best", frameon=False, fontsize=7, ncol=2)
    return svg_of(fig)


def pareto(d: ReportData) -> str | None:
    """Several objectives: every completed trial by the primary objective and the second, the
    Pareto front joined and the picked best ringed (None for one objective: no figure)."""
    ranking = d.plan.ranking
    if not ranking.several:
        return None
    x_metric = ranking.metrics[1]
    done = [t for t in d.trials if t.state == TrialState.COMPLETED and ranking.values(t) is not None]
    if not done:
        return _empty("Pareto front", "no completed trial")
    front = d.front()
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.scatter([t.finals[x_metric] for t in done], [t.final for t in done], color="0.7", s=18,
               label=TrialState.COMPLETED)  # fmt: skip
    line = sorted(front, key=lambda t: t.finals[x_metric])
    ax.plot([t.finals[x_metric] for t in line], [t.final for t in line], color="tab:blue", marker="o", ms=5,
            label="Pareto front")  # fmt: skip
    for t in front:
        ax.annotate(str(t.number), (t.finals[x_metric], t.final), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")  # fmt: skip
    best = d.best
    if best is not None and best in front:
        ax.scatter([best.finals[x_metric]], [best.final], s=120, facecolors="none", edgecolors="tab:red",
                   label=f"best ({ranking.pick})")  # fmt: skip
    ax.set_xlabel(f"{x_metric} ({ranking.modes[1]})")
    ax.set_ylabel(f"{d.metric} ({d.mode})")
    ax.legend(loc="best", frameon=False, fontsize=7)
    return svg_of(fig)


FIGURES = {  # file stem -> (title, drawing function; None: the figure does not apply to this sweep)
    "pareto": ("Pareto front: the primary objective against the second", pareto),
    "best_so_far": ("Best value so far, over trials", best_so_far),
    "lr_momentum": ("Learning rate x momentum (where training breaks down)", lr_momentum_plane),
    "learning_curves": ("Learning curves of the top trials", learning_curves),
    "schedules": ("LR and momentum schedules of the top trials", schedules),
    "importance": ("Parameter importance", importance),
    "by_family": ("Objective by schedule family", by_family),
    "rungs": ("Trials surviving each ASHA rung", rungs),
    "population": ("Population-based training: each member's lr and momentum (x: copied another's weights)",
                   population),
}


def render_figures(d: ReportData) -> dict[str, str]:
    """The figures that apply to this sweep, by file stem."""
    with drawing():
        drawn = {stem: draw(d) for stem, (_, draw) in FIGURES.items()}
    return {stem: svg for stem, svg in drawn.items() if svg is not None}


def profile_figure(taus: list[float] | tuple[float, ...], profile: dict[str, list[float]]) -> str:
    """A time-to-target profile (AlgoPerf's): per arm, the share of seeds at the target within
    tau x the fastest arm's epochs on that seed."""
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for arm, shares in profile.items():
        ax.step(taus, shares, where="post", label=arm)
    ax.set_xlabel("tau: epochs / the fastest arm's epochs on that seed")
    ax.set_ylabel("share of seeds at target")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="lower right", frameon=False, fontsize=7)
    return svg_of(fig)

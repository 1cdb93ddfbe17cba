"""PNG plots of ``skillmix analyze`` (matplotlib, Agg backend; docs/analysis.md "Reading the plots")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillmix.formats.files import write_figure

N_BARS = 40  # the per-skill plot shows the hardest and easiest 20 when there are more skills


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(ax, text: str) -> None:
    # y given: matplotlib then skips laying out every tick label again at each draw to find
    # top-side labels the title must clear (these plots have none; the pixels are the same).
    ax.set_title(text, y=1.0)


def _unplaced_empty_labels(fig) -> None:
    """Fixed coordinates for empty axis labels: placing a label beside the tick labels lays out
    every tick label again at each draw; an empty label draws nothing wherever it is."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.label.get_text():
                axis.set_label_coords(0.5, 0.5)


def _save(fig, path: Path) -> Path:
    _unplaced_empty_labels(fig)
    fig.tight_layout()
    write_figure(fig, path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)  # a report draws many: keep pyplot's figure registry empty
    return path


def plot_per_skill(per_skill: dict[str, dict[str, Any]], path: Path) -> Path | None:
    rows = sorted(((s, e) for s, e in per_skill.items() if e["n"]), key=lambda r: r[1]["rate"])
    if not rows:
        return None
    if len(rows) > N_BARS:
        rows = rows[: N_BARS // 2] + rows[-N_BARS // 2 :]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(rows) + 1.2))
    rates = [e["rate"] for _, e in rows]
    err = [[r - e["ci"][0] for r, (_, e) in zip(rates, rows)], [e["ci"][1] - r for r, (_, e) in zip(rates, rows)]]
    ax.barh(range(len(rows)), rates, xerr=err, color="tab:blue", ecolor="gray")
    ax.set_yticks(range(len(rows)), [f"{s} (n={e['n']})" for s, e in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of scored generations with the skill's point (95% CI, combinations as units)")
    _title(ax, "Per-skill success, hardest at the bottom")
    return _save(fig, path)


def plot_gap(gap: dict[str, dict[str, Any]], path: Path) -> Path | None:
    if not gap:
        return None
    plt = _pyplot()
    ks = sorted(int(k) for k in gap)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, style in (("observed", "o-"), ("predicted", "s--")):
        ys = [gap[str(k)][key] for k in ks]
        cis = [gap[str(k)].get(f"{key}_ci") or [y, y] for k, y in zip(ks, ys)]
        line = ax.plot(ks, ys, style, label=key + (" (independence)" if key == "predicted" else ""))[0]
        # Drawn as segments, not error bars: a bootstrap percentile interval need not contain its point.
        ax.vlines(ks, [c[0] for c in cis], [c[1] for c in cis], color=line.get_color())
    ax.set_xticks(ks)
    ax.set_xlabel("k")
    ax.set_ylabel("share of generations with all k skill points")
    ax.set_ylim(0, 1)
    ax.legend()
    _title(ax, "Composition gap = observed − predicted")
    return _save(fig, path)


SIGNIFICANT = 0.05  # a heatmap cell is coloured only when its Holm-adjusted p is below this


def _cell_grids(inter: dict[str, Any]) -> tuple[Any, list[tuple[int, int, str]]]:
    """The coloured log-odds (NaN where the cell does not reject independence after Holm)
    and the grey cells' labels (their number of pairs)."""
    import numpy as np

    cats = inter["categories"]
    grid = np.full((len(cats), len(cats)), np.nan)
    grey = []
    for i, a in enumerate(cats):
        for j, b in enumerate(cats):
            cell = inter["matrix"].get(a, {}).get(b)
            if cell is None:
                continue
            p_holm = cell.get("p_holm")
            if p_holm is not None and p_holm < SIGNIFICANT:
                grid[i, j] = cell["log_odds"]
            else:
                grey.append((i, j, f"n={cell['n_pairs']}"))
    return grid, grey


def plot_interactions(inter: dict[str, Any] | None, path: Path) -> Path | None:
    if not inter or not inter["categories"]:
        return None
    import numpy as np

    plt = _pyplot()
    cats = inter["categories"]
    grid, grey = _cell_grids(inter)
    bound = max(float(np.nanmax(np.abs(grid))), 0.1) if not np.all(np.isnan(grid)) else 1.0
    fig, ax = plt.subplots(figsize=(max(5.5, 2.5 + 0.7 * len(cats)), max(4.0, 1.5 + 0.6 * len(cats))))
    cmap = plt.get_cmap("RdBu").copy()
    cmap.set_bad("lightgrey")  # cells that do not reject independence
    im = ax.imshow(grid, cmap=cmap, vmin=-bound, vmax=bound)
    for i, j, label in grey:
        ax.text(j, i, label, ha="center", va="center", fontsize=6, color="dimgray")
    ax.set_xticks(range(len(cats)), cats, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(cats)), cats, fontsize=8)
    fig.colorbar(im, ax=ax, label="log-odds interaction\n(red: worse than independent)")
    _title(ax, "Category-pair interactions (grey: not significant after Holm)")
    return _save(fig, path)


def plot_format(status: dict[str, dict[str, int]], path: Path) -> Path | None:
    if not status:
        return None
    plt = _pyplot()
    names = list(status)
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 1.5))
    left = [0.0] * len(names)
    for s in next(iter(status.values())):
        shares = [status[n][s] / max(sum(status[n].values()), 1) for n in names]
        ax.barh(range(len(names)), shares, left=left, label=s)
        left = [a + b for a, b in zip(left, shares)]
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of graded replies")
    ax.legend(fontsize=7, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    _title(ax, "Format status of the graded replies")
    return _save(fig, path)


def plot_novelty(per_answer: list[dict[str, int]], path: Path) -> Path | None:
    shares = [a["covered"] / a["tokens"] for a in per_answer if a["tokens"]]
    if not shares:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(shares, bins=20, range=(0, 1), color="tab:orange")
    ax.set_xlabel("share of answer tokens inside a ≥ 8-token training span")
    ax.set_ylabel("answers")
    _title(ax, "Novelty (0 = nothing copied)")
    return _save(fig, path)

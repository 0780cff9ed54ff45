"""grades.png: the class at a glance (score distribution, most frequent mistakes, pass rate per exercise)."""
from __future__ import annotations

from pathlib import Path

from checker.registry import Exercise, all_entries
from instructor.reports.mistakes import short_label

CHART_MISTAKES = 12  # bars in the mistakes panel


def exercise_tick(name: str) -> str:
    """"03_backprop:Relu" -> "03 Relu": Relu, Lin, Mse and Model are in two notebooks."""
    return short_label(*name.split(":", 1))


def chart(table: list[dict], rates: dict[str, float], path: Path,
          mistakes: list[tuple[str, int]] | None = None) -> Path:
    """grades.png: the score distribution, the most frequent mistakes ((label, students), most first) and
    the pass rate per exercise, each exercise labelled with its notebook."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [float(r["autograded_score"]) for r in table if r["autograded_score"] != ""]
    fig = plt.figure(figsize=(15, 9))
    grid = fig.add_gridspec(2, 2, width_ratios=[1.25, 1])
    left, bottom, right = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[:, 1])
    auto = sum(e.points for e in all_entries() if isinstance(e, Exercise))
    by_hand = sum(e.points for e in all_entries() if not isinstance(e, Exercise))
    left.hist(scores, bins=range(0, int(auto) + 10, 5), color="#0969da", edgecolor="white")
    left.set_xlabel(f"autograded score (of {auto:g}; {by_hand:g} more points are graded by hand)")
    left.set_ylabel("students")
    left.yaxis.get_major_locator().set_params(integer=True)
    left.set_title(f"Score distribution ({len(scores)} students)")
    shown = (mistakes or [])[:CHART_MISTAKES]
    if shown:
        bottom.barh(range(len(shown)), [n for _, n in shown], color="#cf222e")
        bottom.set_yticks(range(len(shown)), [label for label, _ in shown], fontsize=8)
        bottom.invert_yaxis()
        bottom.xaxis.get_major_locator().set_params(integer=True)
        bottom.set_xlabel("students")
    else:
        bottom.set_axis_off()
        bottom.text(0.5, 0.5, "no mistakes", ha="center", va="center")
    bottom.set_title("Most frequent mistakes (exercise: kind; not attempted left out)")
    names = list(rates)
    right.barh(range(len(names)), [100 * rates[n] for n in names], color="#1a7f37")
    right.set_yticks(range(len(names)), [exercise_tick(n) for n in names], fontsize=8)
    right.invert_yaxis()
    right.set_xlim(0, 100)
    right.set_xlabel("students with full points (%)")
    right.set_title("Pass rate per exercise")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

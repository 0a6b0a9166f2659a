"""Designs: which factor values each design point gets (full factorial, or SALib's LHS, Sobol, Morris)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulation.batch.study import Study

__all__ = ["Design", "design_size", "factor_labels", "make_design", "salib_problem"]


@dataclass(frozen=True)
class Design:
    """Design points in sample order; ``sample`` is SALib's matrix (rows = points) when one was drawn."""

    kind: str
    paths: tuple[str, ...]
    labels: tuple[str, ...]
    points: list[tuple[Any, ...]]
    sample: np.ndarray | None = None

    def values(self, i: int) -> dict[str, Any]:
        """Factor path -> value of point ``i``."""
        return dict(zip(self.paths, self.points[i], strict=True))


def factor_labels(study: Study) -> tuple[str, ...]:
    """Short, unique names of the factors: ``label``, else the shortest unique tail of the path."""
    paths = list(study.factors)
    out: list[str] = []
    for p in paths:
        f = study.factors[p]
        if f.label:
            out.append(f.label)
            continue
        parts, others = p.split("."), [q for q in paths if q != p]
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(q == tail or q.endswith("." + tail) for q in others):
                break
        out.append(tail)
    return tuple(out)


def salib_problem(study: Study) -> dict[str, Any]:
    """The SALib ``problem`` dict: factor names (labels) and bounds."""
    labels = factor_labels(study)
    return {"num_vars": len(labels), "names": list(labels), "bounds": [list(f.bounds) for f in study.factors.values()]}


def design_size(study: Study) -> int:
    """How many design points the study's design has, without drawing them."""
    d, k = study.design, len(study.factors)
    if d.kind == "factorial":
        return math.prod(len(f.grid()) for f in study.factors.values())
    n = int(d.samples or 0)
    if d.kind == "lhs":
        return n
    if d.kind == "sobol":
        return n * (2 * k + 2 if d.second_order else k + 2)
    return (n or 10) * (k + 1)  # morris: trajectories of k+1 points


def make_design(study: Study) -> Design:
    """Draw the design points (deterministic for a given study, including its design seed)."""
    specs = list(study.factors.values())
    paths, labels = tuple(study.factors), factor_labels(study)
    d = study.design
    if d.kind == "factorial":
        return Design("factorial", paths, labels, list(itertools.product(*(f.grid() for f in specs))))
    problem = salib_problem(study)
    if d.kind == "lhs":
        from SALib.sample import latin

        x = latin.sample(problem, int(d.samples or 0), seed=d.seed)
    elif d.kind == "sobol":
        from SALib.sample import sobol

        x = sobol.sample(problem, int(d.samples or 0), calc_second_order=d.second_order, seed=d.seed)
    else:
        from SALib.sample import morris

        x = morris.sample(problem, int(d.samples or 10), num_levels=d.levels, seed=d.seed)
    points = [tuple(f.from_unit(v) for f, v in zip(specs, row, strict=True)) for row in x]
    return Design(d.kind, paths, labels, points, np.asarray(x, dtype=float))

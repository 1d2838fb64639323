"""Parameter importance for a chosen summary metric over a set of runs.

For every numeric config key: Spearman's rank correlation with the metric, and the permutation
importance of a random forest that predicts the metric from all those keys (scikit-learn, imported
lazily; without it only the correlations are given, and the answer says so). Below ``MIN_RUNS`` runs
that hold the metric, nothing is computed and the answer says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["MIN_RUNS", "importance", "spearman"]

#: Fewer runs with the metric than this, and importance is refused.
MIN_RUNS = 10


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value:
                out.update(_flat(value, name))
            else:
                out[name] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):  # ties share their mean rank
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's on ranks, ties averaged); None when a side is constant."""
    if len(xs) < 2:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def importance(runs: Sequence[dict[str, Any]], metric: str, *, seed: int = 0) -> dict[str, Any]:
    """Importance of each numeric config key for ``metric`` (``summary.loss``) over ``runs`` (run documents)."""
    section, _, key = metric.partition(".")
    rows = []
    for run in runs:
        target = _number(_flat(run.get(section) or {}).get(key)) if section in ("summary", "config") else None
        if target is not None:
            rows.append((_flat(run.get("config") or {}), target))
    answer: dict[str, Any] = {"metric": metric, "runs": len(rows), "minimum": MIN_RUNS, "params": [], "model": None}
    if len(rows) < MIN_RUNS:
        answer["message"] = f"{len(rows)} runs hold {metric}; importance needs at least {MIN_RUNS}."
        return answer
    keys = sorted({k for config, _ in rows for k, v in config.items() if _number(v) is not None and f"config.{k}" != metric})
    params = []
    for name in keys:
        pairs = [(_number(config.get(name)), target) for config, target in rows]
        pairs_known = [(x, y) for x, y in pairs if x is not None]
        rho = spearman([x for x, _ in pairs_known], [y for _, y in pairs_known])
        params.append({"key": f"config.{name}", "runs": len(pairs_known), "spearman": rho, "importance": None})
    varying = [p for p in params if p["spearman"] is not None]
    answer["params"] = params
    if not varying:
        answer["message"] = "no numeric config key varies between these runs."
        return answer
    try:
        import numpy as np
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.inspection import permutation_importance
    except ImportError:
        answer["message"] = "correlations only: install scikit-learn for the model-based importance."
        return answer
    names = [p["key"][len("config."):] for p in varying]
    features = np.array([[_number(config.get(n)) if _number(config.get(n)) is not None else np.nan for n in names]
                         for config, _ in rows])
    columns_median = np.nanmedian(features, axis=0)
    features = np.where(np.isnan(features), columns_median, features)  # a key a run lacks: the median
    target = np.array([t for _, t in rows])
    model = RandomForestRegressor(n_estimators=100, random_state=seed, min_samples_leaf=2).fit(features, target)
    result = permutation_importance(model, features, target, n_repeats=10, random_state=seed)
    for param, value in zip(varying, result.importances_mean):
        param["importance"] = float(value)
    answer["model"] = "random forest, permutation importance (scikit-learn)"
    params.sort(key=lambda p: -(p["importance"] if p["importance"] is not None else -1.0))
    return answer

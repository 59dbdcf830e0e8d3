"""What each metric name means: its direction, unit and a one-line description, declared once beside its formula.

Every name an objective's ``.metric()`` returns is declared where that metric is computed
(``INTENSITY_MSE = declare_metric("intensity_mse_db2", ...)`` in intensity.py), and anything downstream that needs
to know whether a number went the right way (experiment summaries, reports, a page) asks ``metric_info(name)``
instead of guessing from the name. A custom objective declares its own metrics the same way:

    objectives.declare_metric("clap_score", higher_is_better=True, unit="cosine",
                              description="CLAP text-audio similarity of the output and the prompt")

``metric_info`` raises for a name nobody declared. ``Sum`` suffixes repeated names (``intensity_mse_db2_2``); such a
name resolves to its base name's declaration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MetricInfo", "declare_metric", "declared_metrics", "metric_info"]

_SUFFIXED = re.compile(r"^(?P<base>.+)_(?P<copy>[2-9]|[1-9][0-9]+)$")  # Sum's suffix for a repeated metric name


@dataclass(frozen=True)
class MetricInfo:
    """One metric: its name, which way is better, its unit ("" for a pure number) and what it measures."""

    name: str
    higher_is_better: bool
    unit: str
    description: str

    def improvement(self, before: float, after: float) -> float:
        """How many times better `after` is than `before` (> 1 is better): after/before upward, before/after downward.

        inf when the bad side is 0 and the good side is not; nan when both are 0 or either is not finite.
        """
        worse, better = (before, after) if self.higher_is_better else (after, before)
        if worse == 0:
            return float("nan") if better == 0 else float("inf")
        return better / worse


_DECLARED: dict[str, MetricInfo] = {}


def declare_metric(name: str, *, higher_is_better: bool, unit: str, description: str) -> MetricInfo:
    """Declare a metric name once; declaring it again with the same facts is allowed, with other facts an error."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ValueError(f"metric name {name!r} is invalid; expected an identifier such as 'clap_score'")
    if not isinstance(higher_is_better, bool):
        raise ValueError(f"higher_is_better {higher_is_better!r} for metric {name!r} is invalid; expected True or False")
    if not isinstance(unit, str):
        raise ValueError(f"unit {unit!r} for metric {name!r} is invalid; expected a string such as 'dB²' or ''")
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        raise ValueError(f"description {description!r} for metric {name!r} is invalid; expected one non-empty line")
    info = MetricInfo(name, higher_is_better, unit, description)
    known = _DECLARED.get(name)
    if known is not None and known != info:
        raise ValueError(f"metric {name!r} is already declared as {known}; a name has one direction and unit")
    _DECLARED[name] = info
    return info


def metric_info(name: str) -> MetricInfo:
    """The declaration of a metric name (a Sum's suffixed copy resolves to its base); ValueError for an unknown name."""
    if name in _DECLARED:
        return _DECLARED[name]
    suffixed = _SUFFIXED.match(name) if isinstance(name, str) else None
    if suffixed and suffixed["base"] in _DECLARED:
        base = _DECLARED[suffixed["base"]]
        return MetricInfo(name, base.higher_is_better, base.unit, f"{base.description} (term {suffixed['copy']})")
    raise ValueError(f"metric {name!r} is not declared; declared metrics: {', '.join(sorted(_DECLARED))} "
                     "(a custom objective declares its own with objectives.declare_metric)")


def declared_metrics() -> tuple[MetricInfo, ...]:
    """Every declared metric, sorted by name."""
    return tuple(_DECLARED[name] for name in sorted(_DECLARED))

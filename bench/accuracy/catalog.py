"""The whole suite: every source's cases and the hard families, numbered within each family."""

from __future__ import annotations

from collections.abc import Iterable

from . import hard, sources
from .cases import Case


def family(name: str, drafts: Iterable[Case]) -> list[Case]:
    """Number the drafts `name-001`, `name-002`, …: append new cases at the end."""
    return [
        Case(f"{name}-{i:03d}", name, c.source, c.expression, c.variables, c.point, c.kind)
        for i, c in enumerate(drafts, start=1)
    ]


def all_cases() -> list[Case]:
    groups = {
        "scipy": sources.scipy_cases(),
        "numdifftools": sources.numdifftools_cases(),
        "papers": sources.paper_cases(),
        "mgh": sources.mgh_cases(),
        "large-x": hard.large_x(),
        "tiny-x": hard.tiny_x(),
        "domain-edge": hard.domain_edges(),
        "near-pole": hard.near_poles(),
        "oscillation": hard.oscillation(),
        "cusp": hard.cusps(),
        "steep": hard.steep(),
        "flat": hard.flat(),
    }
    return [c for name, drafts in groups.items() for c in family(name, drafts)]

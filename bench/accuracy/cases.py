"""The suite as data: a `Case` per expression, point and kind of derivative."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

Kind = Literal["d1", "d2", "gradient", "hessian"]
KINDS: tuple[Kind, ...] = ("d1", "d2", "gradient", "hessian")
CASES_FILE = Path(__file__).with_name("cases.jsonl")


@dataclass(frozen=True)
class Case:
    """One derivative to compute, with where it comes from and, once built, its exact value.

    `exact` holds f' or f'' (one value), the gradient (d values) or the Hessian (d×d,
    row-major), each the float64 nearest to the exact derivative of the expression whose
    numbers are the float64 values the text denotes (what every runner evaluates).
    """

    id: str
    family: str
    source: str
    expression: str
    variables: tuple[str, ...]
    point: tuple[float, ...]
    kind: Kind
    exact: tuple[float, ...] = ()

    @property
    def dimension(self) -> int:
        return len(self.variables)

    def components(self) -> list[tuple[int, int]]:
        """The (row, column) of each compared component: a Hessian's upper triangle (it is
        symmetric, so its lower half would count each mixed term twice), else (0, i)."""
        if self.kind == "hessian":
            d = self.dimension
            return [(i, j) for i in range(d) for j in range(i, d)]
        return [(0, i) for i in range(1 if self.kind in ("d1", "d2") else self.dimension)]

    def with_exact(self, values: Iterable[float]) -> Case:
        return replace(self, exact=tuple(float(v) for v in values))


def load(path: Path = CASES_FILE) -> list[Case]:
    cases = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        record["variables"] = tuple(record["variables"])
        record["point"] = tuple(record["point"])
        record["exact"] = tuple(record["exact"])
        cases.append(Case(**record))
    return cases


def save(cases: Iterable[Case], path: Path = CASES_FILE) -> None:
    # json writes floats with repr, which reads back to the same float64
    lines = [json.dumps(asdict(case), allow_nan=False) for case in cases]
    path.write_text("\n".join(lines) + "\n")

"""The expression language: text → whitelisted tree → vectorized NumPy function.

Users write Python-like math (`0.01*x**2 + 0.1*x`, `sum(x**2)`, `np.sin(x)`, `2*x^2`).
The text is checked (length, ASCII, bracket depth) *before* Python's parser sees it, parsed
with `ast.parse`, walked without recursion to bound its size, and only then translated into
our own small tree of `Node`s. Nothing is ever `eval`-ed and no name is looked up on a
Python object: every function and constant comes from the `FUNCTIONS` / `CONSTANTS` tables.

Evaluation is NumPy ufuncs on float64 (or complex128 for the complex step) arrays of any
broadcastable shapes; all floating-point warnings are silenced, non-finite results stay
NaN/inf for the caller to report.

The modules, each importing only those above it: `whitelist` (functions, constants,
operators, limits), `tree` (the `Node`s), `evaluation` (`Expression`, tree → closures),
`parsing` (text → tree).
"""

from .evaluation import Expression
from .parsing import parse, parse_cache_hits, parse_cache_lookups
from .tree import BinOp, Call, Compare, Index, Neg, Node, Num, Var
from .whitelist import ALIASES, CONSTANTS, FUNCTIONS, Array, Func, Function, Limits

__all__ = [
    "ALIASES",
    "CONSTANTS",
    "FUNCTIONS",
    "Array",
    "BinOp",
    "Call",
    "Compare",
    "Expression",
    "Func",
    "Function",
    "Index",
    "Limits",
    "Neg",
    "Node",
    "Num",
    "Var",
    "parse",
    "parse_cache_hits",
    "parse_cache_lookups",
]

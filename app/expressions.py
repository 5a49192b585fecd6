"""The expression language: text → whitelisted tree → vectorized NumPy function.

Users write Python-like math (`0.01*x**2 + 0.1*x`, `sum(x**2)`, `np.sin(x)`, `2*x^2`).
The text is checked (length, ASCII, bracket depth) *before* Python's parser sees it, parsed
with `ast.parse`, walked without recursion to bound its size, and only then translated into
our own small tree of `Node`s. Nothing is ever `eval`-ed and no name is looked up on a
Python object: every function and constant comes from the `FUNCTIONS` / `CONSTANTS` tables.

Evaluation is NumPy ufuncs on float64 (or complex128 for the complex step) arrays of any
broadcastable shapes; all floating-point warnings are silenced, non-finite results stay
NaN/inf for the caller to report.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from app.errors import ExpressionError, RequestError

Array: TypeAlias = npt.NDArray[Any]
Function: TypeAlias = Callable[[Sequence[Array]], Array]


@dataclass(frozen=True)
class Limits:
    """Bounds checked before the expensive step they protect."""

    max_length: int = 1000
    max_depth: int = 64
    max_nodes: int = 500


# ---------------------------------------------------------------- the whitelist


def _sigmoid(x: Array) -> Array:
    # 1/(1+e^-x) where x >= 0 and e^x/(1+e^x) where x < 0: the exponential stays <= 1, so
    # nothing overflows, and both forms keep full relative precision in the left tail, which
    # 0.5 + 0.5*tanh(x/2) loses to cancellation (it returns 0 for x < -37). Both forms are the
    # same holomorphic function, so the complex step still works.
    right = np.real(x) >= 0
    t = np.exp(np.where(right, -x, x))
    return np.where(right, 1 / (1 + t), t / (1 + t))


def _softplus(x: Array) -> Array:
    if np.iscomplexobj(x):
        # log(1+e^x) = x + log(1+e^-x): pick the branch that does not overflow.
        return np.where(x.real > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))
    return np.logaddexp(0.0, x)


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0)


def _norm(x: Array) -> Array:
    squares: Array = np.asarray(np.sum(x * x, axis=0))
    return np.sqrt(squares)


def _dot(a: Array, b: Array) -> Array:
    return np.asarray(np.sum(a * b, axis=0))


@dataclass(frozen=True)
class Func:
    """A whitelisted function: its NumPy implementation and what the engine must know."""

    impl: Callable[..., Array]
    arity: int
    analytic: bool = True  # safe for the complex step (holomorphic where defined)
    reduction: bool = False  # reduces a vector argument to one value per point


FUNCTIONS: dict[str, Func] = {
    "sin": Func(np.sin, 1),
    "cos": Func(np.cos, 1),
    "tan": Func(np.tan, 1),
    "arcsin": Func(np.arcsin, 1),
    "arccos": Func(np.arccos, 1),
    "arctan": Func(np.arctan, 1),
    "arctan2": Func(np.arctan2, 2, analytic=False),
    "sinh": Func(np.sinh, 1),
    "cosh": Func(np.cosh, 1),
    "tanh": Func(np.tanh, 1),
    "arcsinh": Func(np.arcsinh, 1),
    "arccosh": Func(np.arccosh, 1),
    "arctanh": Func(np.arctanh, 1),
    "exp": Func(np.exp, 1),
    "expm1": Func(np.expm1, 1),
    "exp2": Func(np.exp2, 1),
    "log": Func(np.log, 1),
    "log1p": Func(np.log1p, 1),
    "log2": Func(np.log2, 1),
    "log10": Func(np.log10, 1),
    "sqrt": Func(np.sqrt, 1),
    "cbrt": Func(np.cbrt, 1, analytic=False),
    "abs": Func(np.abs, 1, analytic=False),
    "sign": Func(np.sign, 1, analytic=False),
    "floor": Func(np.floor, 1, analytic=False),
    "ceil": Func(np.ceil, 1, analytic=False),
    "pow": Func(np.power, 2),
    "hypot": Func(np.hypot, 2, analytic=False),
    "minimum": Func(np.minimum, 2, analytic=False),
    "maximum": Func(np.maximum, 2, analytic=False),
    "where": Func(np.where, 3, analytic=False),
    "sigmoid": Func(_sigmoid, 1),
    "relu": Func(_relu, 1, analytic=False),
    "softplus": Func(_softplus, 1),
    "sum": Func(lambda x: np.sum(x, axis=0), 1, reduction=True),
    "prod": Func(lambda x: np.prod(x, axis=0), 1, reduction=True),
    "mean": Func(lambda x: np.mean(x, axis=0), 1, reduction=True),
    "norm": Func(_norm, 1, reduction=True),
    "dot": Func(_dot, 2, reduction=True),
}

ALIASES: dict[str, str] = {
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "atan2": "arctan2",
    "asinh": "arcsinh",
    "acosh": "arccosh",
    "atanh": "arctanh",
    "ln": "log",
    "power": "pow",
    "absolute": "abs",
    "fabs": "abs",
}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

MODULE_PREFIXES = frozenset({"np", "numpy", "math"})

BINARY_OPS: dict[type[ast.operator], tuple[str, Callable[..., Array]]] = {
    ast.Add: ("+", np.add),
    ast.Sub: ("-", np.subtract),
    ast.Mult: ("*", np.multiply),
    ast.Div: ("/", np.divide),
    ast.Pow: ("**", np.power),
    ast.Mod: ("%", np.mod),
}

COMPARISONS: dict[type[ast.cmpop], tuple[str, Callable[..., Array]]] = {
    ast.Lt: ("<", np.less),
    ast.LtE: ("<=", np.less_equal),
    ast.Gt: (">", np.greater),
    ast.GtE: (">=", np.greater_equal),
    ast.Eq: ("==", np.equal),
    ast.NotEq: ("!=", np.not_equal),
}

# Names of AST nodes users may write by accident, for a message better than the class name.
_REFUSED: dict[type[ast.AST], str] = {
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.IfExp: "conditional expressions (use `where(cond, a, b)`)",
    ast.BoolOp: "`and`/`or` (use `where` with a comparison)",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.JoinedStr: "strings",
    ast.NamedExpr: "assignments",
    ast.Await: "`await` expressions",
    ast.Yield: "`yield` expressions",
    ast.YieldFrom: "`yield` expressions",
    ast.Starred: "starred arguments",
    ast.Slice: "slices",
}


# ---------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Node:
    """Base of our own expression tree (independent of Python's `ast`)."""


@dataclass(frozen=True)
class Num(Node):
    value: float


@dataclass(frozen=True)
class Var(Node):
    name: str


@dataclass(frozen=True)
class Index(Node):
    name: str
    index: int


@dataclass(frozen=True)
class Neg(Node):
    operand: Node


@dataclass(frozen=True)
class BinOp(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Compare(Node):
    ops: tuple[str, ...]
    operands: tuple[Node, ...]


# ---------------------------------------------------------------- the parsed expression


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression; call `bind` (or the instance) to evaluate it.

    `variables` are the scalar variables in natural order (`x2` before `x10`), or `()` when
    the expression has a `vector_variable` whose length comes from the point at evaluation
    time (`x[0]**2 + x[1]**2`, `sum(x**2)`), at least `min_dimension` long.
    """

    text: str
    tree: Node
    variables: tuple[str, ...]
    vector_variable: str | None
    min_dimension: int
    analytic: bool
    node_count: int
    _functions: dict[tuple[Any, ...], Function] = field(
        default_factory=dict, repr=False, compare=False
    )

    def names(self, dimension: int) -> list[str]:
        """Default variable names for a point of `dimension` coordinates."""
        if self.vector_variable is not None:
            return [f"{self.vector_variable}[{i}]" for i in range(dimension)]
        return list(self.variables)

    def bind(
        self,
        variables: Sequence[str] | None = None,
        parameters: Mapping[str, float] | None = None,
    ) -> Function:
        """A function of one array per variable (in the order of `variables`).

        Names in `parameters` are fixed constants. `variables` may list names the
        expression does not use (their partial derivative is 0) but must cover all free
        names. For a vector expression `variables` is ignored: pass its components.
        """
        params = dict(parameters or {})
        unused = sorted(set(params) - set(self.variables))
        if unused:
            raise RequestError(
                f"parameter `{unused[0]}` does not appear in the expression.",
                field="parameters",
            )
        order = tuple(self.variables if variables is None else variables)
        key = (order, tuple(sorted(params.items())))
        if key not in self._functions:
            if len(self._functions) > 64:
                self._functions.clear()
            self._functions[key] = self._compile(order, params)
        return self._functions[key]

    def __call__(self, args: Sequence[Array] | Array) -> Array:
        """Evaluate on an `(n_vars, n_points)` array (or a list of rows, one per variable);
        a one-variable expression also takes its `(n_points,)` array directly."""
        if isinstance(args, np.ndarray) and args.ndim == 1 and len(self.variables) == 1:
            return self.bind()([args])
        return self.bind()(list(args))

    def _compile(self, order: tuple[str, ...], params: dict[str, float]) -> Function:
        if self.vector_variable is not None:
            return _compile_vector(self.tree, self.vector_variable, self.min_dimension)
        _check_binding(self.variables, order, params)
        slots = {name: i for i, name in enumerate(order)}
        body = _compile(_fold(self.tree, params), slots)
        return _broadcasting(body)


def _check_binding(free: tuple[str, ...], order: tuple[str, ...], params: dict[str, float]) -> None:
    duplicated = sorted({n for n in order if order.count(n) > 1})
    if duplicated:
        raise RequestError(f"variable `{duplicated[0]}` is listed twice.", field="variables")
    both = sorted(set(order) & set(params))
    if both:
        raise RequestError(
            f"`{both[0]}` is both a variable and a parameter; remove it from one of them.",
            field="parameters",
        )
    missing = [n for n in free if n not in order and n not in params]
    if missing:
        raise RequestError(
            f"the expression uses `{missing[0]}`, which is neither a variable nor a "
            "parameter; add it to `variables` or give its value in `parameters`.",
            field="variables",
        )
    for name in order:
        if not _IDENTIFIER.fullmatch(name) or name in FUNCTIONS or name in CONSTANTS:
            raise RequestError(f"`{name}` is not a valid variable name.", field="variables")


def _common_shape(arrays: Sequence[Array]) -> tuple[int, ...]:
    """np.broadcast_shapes, without its cost in the common case of equal shapes."""
    shapes = [np.shape(a) for a in arrays]
    if all(shape == shapes[0] for shape in shapes):
        return shapes[0] if shapes else ()
    return np.broadcast_shapes(*shapes)


def _broadcasting(body: Callable[[Sequence[Array]], Any]) -> Function:
    def function(args: Sequence[Array]) -> Array:
        with np.errstate(all="ignore"):
            result = np.asarray(body(args))
        shape = _common_shape(args)
        if result.shape != shape:
            result = np.broadcast_to(result, shape)
        return result

    return function


def _compile_vector(tree: Node, name: str, min_dimension: int) -> Function:
    def stacked(args: Sequence[Array]) -> Array:
        return np.stack(np.broadcast_arrays(*args))

    body = _broadcasting(_compile(tree, {}, vector=(name, stacked)))

    def function(args: Sequence[Array]) -> Array:
        if len(args) < min_dimension:
            coordinates = "coordinate" if min_dimension == 1 else "coordinates"
            raise RequestError(
                f"the vector `{name}` needs at least {min_dimension} {coordinates} per point; "
                f"got {len(args)}.",
                field="points",
            )
        return body(args)

    return function


# ---------------------------------------------------------------- compile: tree → closures


Compiled: TypeAlias = Callable[[Sequence[Array]], Any]


def _compile(
    node: Node,
    slots: Mapping[str, int],
    vector: tuple[str, Callable[[Sequence[Array]], Array]] | None = None,
) -> Compiled:
    """Translate the tree into nested closures; constant subtrees were folded before."""
    if isinstance(node, Num):
        value = float(node.value)  # a Python float: ufuncs take it ~2× faster than np.float64
        return lambda args: value
    if isinstance(node, Var):
        if vector is not None and node.name == vector[0]:
            return vector[1]
        slot = slots[node.name]
        return lambda args: args[slot]
    if isinstance(node, Index):
        position = node.index
        return lambda args: args[position]
    if isinstance(node, Neg):
        operand = _compile(node.operand, slots, vector)
        return lambda args: np.negative(operand(args))
    if isinstance(node, BinOp):
        ufunc = _BINARY_BY_SYMBOL[node.op]
        left = _compile(node.left, slots, vector)
        right = _compile(node.right, slots, vector)
        return lambda args: ufunc(left(args), right(args))
    if isinstance(node, Compare):
        return _compile_compare(node, slots, vector)
    assert isinstance(node, Call)
    impl = FUNCTIONS[node.func].impl
    parts = [_compile(a, slots, vector) for a in node.args]
    if len(parts) == 1:
        only = parts[0]
        return lambda args: impl(only(args))
    return lambda args: impl(*(p(args) for p in parts))


def _compile_compare(
    node: Compare,
    slots: Mapping[str, int],
    vector: tuple[str, Callable[[Sequence[Array]], Array]] | None,
) -> Compiled:
    operands = [_compile(o, slots, vector) for o in node.operands]
    tests = [_COMPARE_BY_SYMBOL[op] for op in node.ops]

    def compare(args: Sequence[Array]) -> Array:
        # `a < b < c` means `a < b and b < c`, as in Python.
        values = [o(args) for o in operands]
        result = tests[0](values[0], values[1])
        for i, test in enumerate(tests[1:], start=1):
            result = np.logical_and(result, test(values[i], values[i + 1]))
        return result

    return compare


_BINARY_BY_SYMBOL = dict(BINARY_OPS.values())
_COMPARE_BY_SYMBOL = dict(COMPARISONS.values())


def _fold(node: Node, params: Mapping[str, float]) -> Node:
    """Substitute parameters and pre-compute every subtree that has no variable left."""
    if isinstance(node, Var) and node.name in params:
        return Num(float(params[node.name]))
    if isinstance(node, Num | Var | Index):
        return node
    if isinstance(node, Neg):
        children: tuple[Node, ...] = (_fold(node.operand, params),)
        rebuilt: Node = Neg(children[0])
    elif isinstance(node, BinOp):
        children = (_fold(node.left, params), _fold(node.right, params))
        rebuilt = BinOp(node.op, *children)
    elif isinstance(node, Compare):
        children = tuple(_fold(o, params) for o in node.operands)
        return Compare(node.ops, children)
    else:
        assert isinstance(node, Call)
        children = tuple(_fold(a, params) for a in node.args)
        rebuilt = Call(node.func, children)
        if FUNCTIONS[node.func].reduction:
            return rebuilt
    if all(isinstance(c, Num) for c in children):
        with np.errstate(all="ignore"):
            return Num(float(_compile(rebuilt, {})(())))
    return rebuilt


# ---------------------------------------------------------------- parse: text → tree


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_BRACKETS = {"(": 1, "[": 1, ")": -1, "]": -1}


def parse(text: str, limits: Limits | None = None) -> Expression:
    """Parse and check `text`; raise `ExpressionError` (and nothing else) if refused."""
    return _parse_cached(text, limits or Limits())


def parse_cache_hits() -> int:
    return _parse_cached.cache_info().hits


@lru_cache(maxsize=512)  # bounded: memory stays flat however many distinct texts arrive
def _parse_cached(text: str, limits: Limits) -> Expression:
    source, columns = _prepare(text, limits)
    try:
        module = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        column = columns[min(max((exc.offset or 1) - 1, 0), len(columns) - 1)]
        message = (exc.msg or "invalid syntax").split(" (")[0]
        raise ExpressionError(
            f"invalid syntax at column {column}: {message}.", column=column
        ) from None
    except (ValueError, MemoryError, RecursionError, OverflowError):
        raise ExpressionError("the expression is too complex to parse.") from None
    node_count = _check_size(module.body, limits, columns)
    return _Translator(columns).expression(text, module.body, node_count)


def _prepare(text: str, limits: Limits) -> tuple[str, list[int]]:
    """The checks that must happen before Python's parser runs, and `^` → `**`.

    Returns the source for `ast.parse` and, for every character of it, the 1-based column
    in the user's text (the `**` written for `^` shifts everything after it).
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty; write a formula such as `x**2`.")
    if len(text) > limits.max_length:
        raise ExpressionError(
            f"the expression is {len(text)} characters long; the limit is {limits.max_length}."
        )
    for i, char in enumerate(text):
        if not (char.isascii() and (char.isprintable() or char in " \t")):
            # Python NFKC-folds fullwidth letters into ASCII names: refuse before the parser can.
            shown = f"U+{ord(char):04X}"
            raise ExpressionError(
                f"character {shown} at column {i + 1} is not allowed; use plain ASCII.",
                column=i + 1,
            )
        if char == "#":  # Python would silently drop the rest of the line as a comment
            raise ExpressionError(
                f"`#` at column {i + 1} is not allowed; comments are not part of a formula.",
                column=i + 1,
            )
    depth = 0
    for i, char in enumerate(text):
        depth += _BRACKETS.get(char, 0)
        if depth > limits.max_depth:
            raise ExpressionError(
                f"brackets are nested more than {limits.max_depth} deep at column {i + 1}.",
                column=i + 1,
            )
    source: list[str] = []
    columns: list[int] = []
    for i, char in enumerate(text):
        if not source and char in " \t":
            continue  # `ast.parse` reads leading blanks as an indent (`eval` strips them too)
        piece = "**" if char == "^" else char
        source.append(piece)
        columns.extend([i + 1] * len(piece))
    columns.append(len(text) + 1)
    return "".join(source), columns


def _check_size(root: ast.AST, limits: Limits, columns: list[int]) -> int:
    """Count nodes and depth without recursion (the tree may be deep)."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > limits.max_nodes:
            raise ExpressionError(
                f"the expression has more than {limits.max_nodes} parts; simplify it."
            )
        if depth > limits.max_depth:
            column = _column(node, columns)
            raise ExpressionError(
                f"the expression is nested more than {limits.max_depth} levels deep "
                f"at column {column}.",
                column=column,
            )
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth if _continues_chain(node, child) else depth + 1))
    return count


_CHAINS = ({ast.Add, ast.Sub}, {ast.Mult, ast.Div})


def _continues_chain(parent: ast.AST, child: ast.AST) -> bool:
    """`a + b - c + d` parses as ((a + b) - c) + d: a flat sum of 100 terms is a tree 100
    deep. Its left spine counts as one level, so the depth limit bounds nesting, not the
    number of terms (which `max_nodes` bounds: the spine is at most 250 deep)."""
    return (
        isinstance(parent, ast.BinOp)
        and isinstance(child, ast.BinOp)
        and child is parent.left
        and any(type(parent.op) in chain and type(child.op) in chain for chain in _CHAINS)
    )


def _column(node: ast.AST, columns: list[int]) -> int:
    offset = getattr(node, "col_offset", 0)
    return columns[min(offset, len(columns) - 1)]


def _natural_key(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _suggestion(name: str) -> str:
    known = sorted({*FUNCTIONS, *ALIASES, *CONSTANTS})
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else "."


@dataclass
class _Usage:
    """What the translator learns about names while it walks."""

    scalars: set[str] = field(default_factory=set)
    vectors: set[str] = field(default_factory=set)
    max_index: int = -1
    analytic: bool = True


class _Translator:
    """Python `ast` → our `Node` tree, refusing everything outside the whitelist.

    Recursion is safe here: `_check_size` has bounded the depth already.
    """

    def __init__(self, columns: list[int]) -> None:
        self.columns = columns
        self.usage = _Usage()

    def error(self, node: ast.AST, message: str, hint: str = ".") -> ExpressionError:
        column = _column(node, self.columns)
        return ExpressionError(f"{message} at column {column}{hint}", column=column)

    def expression(self, text: str, body: ast.expr, node_count: int) -> Expression:
        tree, rank = self.node(body, in_reduction=False)
        usage = self.usage
        if len(usage.vectors) > 1:
            a, b = sorted(usage.vectors)[:2]
            raise ExpressionError(f"only one vector variable is allowed; found `{a}` and `{b}`.")
        vector = next(iter(usage.vectors), None)
        if vector is not None and vector in usage.scalars:
            raise ExpressionError(
                f"`{vector}` is a vector (indexed or reduced), so it cannot stand alone; "
                f"use an element such as `{vector}[0]` or a reduction such as `sum({vector})`."
            )
        scalars = usage.scalars
        if vector is not None and scalars:
            raise ExpressionError(
                f"`{min(scalars)}` cannot be used beside the vector variable `{vector}`; "
                f"write it as an element such as `{vector}[0]`."
            )
        assert rank == 0  # a bare vector variable was refused above
        return Expression(
            text=text,
            tree=_fold(tree, {}),
            variables=tuple(sorted(scalars, key=_natural_key)),
            vector_variable=vector,
            # Even `sum(x)` needs one coordinate: the points' shape comes from the components.
            min_dimension=max(usage.max_index + 1, 1) if vector else 0,
            analytic=usage.analytic,
            node_count=node_count,
        )

    def node(self, node: ast.AST, *, in_reduction: bool) -> tuple[Node, int]:
        """Translate one node; returns it and its rank (0: number, 1: vector)."""
        if isinstance(node, ast.Constant):
            return self.constant(node), 0
        if isinstance(node, ast.Name):
            return self.name(node, in_reduction=in_reduction)
        if isinstance(node, ast.UnaryOp):
            operand, rank = self.node(node.operand, in_reduction=in_reduction)
            if isinstance(node.op, ast.USub):
                return Neg(operand), rank
            if isinstance(node.op, ast.UAdd):
                return operand, rank
            raise self.error(node, f"operator `{_unary_symbol(node.op)}` is not supported")
        if isinstance(node, ast.BinOp):
            return self.binop(node, in_reduction=in_reduction)
        if isinstance(node, ast.Call):
            return self.call(node, in_reduction=in_reduction)
        if isinstance(node, ast.Subscript):
            return self.subscript(node), 0
        if isinstance(node, ast.Attribute):
            return self.attribute_constant(node), 0
        if isinstance(node, ast.Compare):
            raise self.error(node, "comparisons are only allowed as the condition of `where`")
        what = _REFUSED.get(type(node), f"`{type(node).__name__}` expressions")
        raise self.error(node, f"{what} are not allowed")

    def constant(self, node: ast.Constant) -> Num:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = {str: "strings are", bytes: "bytes are", complex: "complex numbers are"}.get(
                type(value), f"`{value!r}` is"
            )
            raise self.error(node, f"{kind} not allowed")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise self.error(node, "number literal is too large for float64")
        return Num(number)

    def name(self, node: ast.Name, *, in_reduction: bool) -> tuple[Node, int]:
        name = node.id
        if name.startswith("_"):
            raise self.error(node, f"names starting with `_` are not allowed (`{name}`)")
        if name in CONSTANTS:
            return Num(CONSTANTS[name]), 0
        if name in FUNCTIONS or name in ALIASES:
            raise self.error(node, f"`{name}` is a function; call it as `{name}(...)`")
        if in_reduction:
            self.usage.vectors.add(name)
            return Var(name), 1
        self.usage.scalars.add(name)
        return Var(name), 0

    def binop(self, node: ast.BinOp, *, in_reduction: bool) -> tuple[Node, int]:
        entry = BINARY_OPS.get(type(node.op))
        if entry is None:
            raise self.error(node, f"operator `{_binary_symbol(node.op)}` is not supported")
        left, left_rank = self.node(node.left, in_reduction=in_reduction)
        right, right_rank = self.node(node.right, in_reduction=in_reduction)
        if entry[0] == "%":
            self.usage.analytic = False
        return BinOp(entry[0], left, right), max(left_rank, right_rank)

    def function_name(self, func: ast.expr) -> str:
        if isinstance(func, ast.Attribute):
            self.check_prefix(func)
            raw = func.attr
        elif isinstance(func, ast.Name):
            raw = func.id
        else:
            raise self.error(func, "only named functions can be called")
        if raw.startswith("_"):
            raise self.error(func, f"names starting with `_` are not allowed (`{raw}`)")
        name = ALIASES.get(raw, raw)
        if name not in FUNCTIONS:
            if name in CONSTANTS:
                raise self.error(func, f"`{raw}` is a constant, not a function")
            raise self.error(func, f"unknown function `{raw}`", _suggestion(raw))
        return name

    def check_prefix(self, node: ast.Attribute) -> None:
        if not (isinstance(node.value, ast.Name) and node.value.id in MODULE_PREFIXES):
            raise self.error(node, "attribute access is not allowed")

    def call(self, node: ast.Call, *, in_reduction: bool) -> tuple[Node, int]:
        name = self.function_name(node.func)
        func = FUNCTIONS[name]
        if node.keywords:
            raise self.error(node, f"`{name}` takes no keyword arguments")
        if len(node.args) != func.arity:
            plural = "s" if func.arity != 1 else ""
            raise self.error(
                node,
                f"`{name}` takes {func.arity} argument{plural}, got {len(node.args)}",
            )
        if not func.analytic:
            self.usage.analytic = False
        if name == "where":
            return self.where(node, in_reduction=in_reduction)
        inner = in_reduction or func.reduction
        translated = [self.node(a, in_reduction=inner) for a in node.args]
        args = tuple(t[0] for t in translated)
        rank = max(t[1] for t in translated)
        if func.reduction:
            if rank == 0:
                raise self.error(node, f"`{name}` needs a vector argument such as `x`")
            return Call(name, args), 0
        return Call(name, args), rank

    def where(self, node: ast.Call, *, in_reduction: bool) -> tuple[Node, int]:
        condition_ast, *branch_asts = node.args
        if isinstance(condition_ast, ast.Compare):
            condition, rank = self.comparison(condition_ast, in_reduction=in_reduction)
        else:
            condition, rank = self.node(condition_ast, in_reduction=in_reduction)
        branches = [self.node(b, in_reduction=in_reduction) for b in branch_asts]
        args = (condition, *(b[0] for b in branches))
        return Call("where", args), max(rank, *(b[1] for b in branches))

    def comparison(self, node: ast.Compare, *, in_reduction: bool) -> tuple[Node, int]:
        ops = []
        for op in node.ops:
            entry = COMPARISONS.get(type(op))
            if entry is None:
                raise self.error(node, "only `< <= > >= == !=` can compare numbers")
            ops.append(entry[0])
        operands = [self.node(o, in_reduction=in_reduction) for o in [node.left, *node.comparators]]
        tree = Compare(tuple(ops), tuple(o[0] for o in operands))
        return tree, max(o[1] for o in operands)

    def subscript(self, node: ast.Subscript) -> Index:
        if not isinstance(node.value, ast.Name) or node.value.id.startswith("_"):
            raise self.error(node, "only a variable can be indexed, as in `x[0]`")
        name = node.value.id
        if name in FUNCTIONS or name in ALIASES or name in CONSTANTS:
            raise self.error(node, f"`{name}` cannot be indexed")
        index = node.slice
        if not (
            isinstance(index, ast.Constant)
            and isinstance(index.value, int)
            and not isinstance(index.value, bool)
            and 0 <= index.value < 100_000
        ):
            raise self.error(node, "an index must be a whole number from 0 to 99999, as in `x[0]`")
        self.usage.vectors.add(name)
        self.usage.max_index = max(self.usage.max_index, index.value)
        return Index(name, index.value)

    def attribute_constant(self, node: ast.Attribute) -> Num:
        self.check_prefix(node)
        if node.attr in CONSTANTS:
            return Num(CONSTANTS[node.attr])
        if node.attr in FUNCTIONS or node.attr in ALIASES:
            raise self.error(node, f"`{node.attr}` is a function; call it as `{node.attr}(...)`")
        raise self.error(node, f"unknown name `{node.attr}`", _suggestion(node.attr))


def _binary_symbol(op: ast.operator) -> str:
    symbols = {
        ast.FloorDiv: "//",
        ast.MatMult: "@",
        ast.BitAnd: "&",
        ast.BitOr: "|",
        ast.BitXor: "^",
        ast.LShift: "<<",
        ast.RShift: ">>",
    }
    return symbols.get(type(op), type(op).__name__)


def _unary_symbol(op: ast.unaryop) -> str:
    return {ast.Not: "not", ast.Invert: "~"}.get(type(op), type(op).__name__)

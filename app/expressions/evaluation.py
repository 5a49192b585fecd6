"""The parsed expression and its evaluation: tree → nested closures of NumPy ufuncs."""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeAlias

import numpy as np

from app.errors import RequestError

from .tree import BinOp, Call, Compare, Index, Neg, Node, Num, Var
from .whitelist import _IDENTIFIER, BINARY_OPS, COMPARISONS, CONSTANTS, FUNCTIONS, Array, Function


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
    blocker: str | None = None  # the first function or operator the complex step cannot take
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
        constants = [name for name in unused if name in CONSTANTS]
        if constants:
            raise RequestError(
                f"`parameters` gives `{constants[0]}`, which the expression reads as the "
                "constant; name the parameter differently in both places (such as "
                f"`{constants[0]}0`).",
                field="parameters",
            )
        if unused:
            raise RequestError(
                f"parameter `{unused[0]}` does not appear in the expression.",
                field="parameters",
            )
        order = tuple(self.variables if variables is None else variables)
        key = (order, tuple(sorted((name, _bits(value)) for name, value in params.items())))
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


def _bits(value: float) -> tuple[str, bytes]:
    """A parameter as the cache must tell it apart: 0.0 == -0.0 (and they hash alike), but
    `arctan2(a, -1)` is π for one and −π for the other; NaN payloads and int against
    float likewise differ where `==` does not."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    return (type(value).__name__, repr(value).encode())


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


@lru_cache(maxsize=256)
def _common_shape(shapes: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """np.broadcast_shapes, remembered: a grid's rows ((18, 1) and (1, 18)) paid its 1.6 µs
    at every call of f, seven times for each field."""
    return np.broadcast_shapes(*shapes)


def _broadcasting(body: Callable[[Sequence[Array]], Any]) -> Function:
    def function(args: Sequence[Array]) -> Array:
        with np.errstate(all="ignore"):
            result = np.asarray(body(args))
        shape = _common_shape(tuple(np.shape(arg) for arg in args))
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

"""Exact derivatives: differentiate the expression tree by the rules of calculus.

The finite-difference engine estimates f'; this module *knows* it, for every whitelisted
function, so that step studies and `exact: true` compare estimates against the truth, not
against another estimate. Piecewise functions (`abs`, `relu`, `where`, `minimum`, ...)
differentiate piecewise; at their kinks the one-sided choice is documented per rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from app.errors import RequestError, TooLargeError
from app.expressions import (
    FUNCTIONS,
    BinOp,
    Call,
    Compare,
    Expression,
    Index,
    Neg,
    Node,
    Num,
    Var,
)

ZERO, ONE, TWO = Num(0.0), Num(1.0), Num(2.0)


# ---------------------------------------------------------------- smart constructors
# They simplify as they build (0·a = 0, 1·a = a, constants fold), which keeps derivative
# trees small and their text readable: d/dx (0.01*x**2 + 0.1*x) prints `0.02*x + 0.1`.


def add(a: Node, b: Node) -> Node:
    if a == ZERO:
        return b
    if b == ZERO:
        return a
    if isinstance(a, Num) and isinstance(b, Num):
        return Num(a.value + b.value)
    if isinstance(b, Neg):
        return sub(a, b.operand)
    return BinOp("+", a, b)


def sub(a: Node, b: Node) -> Node:
    if b == ZERO:
        return a
    if a == ZERO:
        return neg(b)
    if isinstance(a, Num) and isinstance(b, Num):
        return Num(a.value - b.value)
    return BinOp("-", a, b)


def neg(a: Node) -> Node:
    if isinstance(a, Num):
        return Num(-a.value)
    if isinstance(a, Neg):
        return a.operand
    return Neg(a)


def mul(a: Node, b: Node) -> Node:
    if ZERO in (a, b):
        return ZERO
    if a == ONE:
        return b
    if b == ONE:
        return a
    if isinstance(b, Num) and not isinstance(a, Num):
        a, b = b, a  # constants first: `2*x`, not `x*2`
    if isinstance(a, Num) and isinstance(b, Num):
        return Num(a.value * b.value)
    if isinstance(a, Num) and isinstance(b, BinOp) and b.op == "*" and isinstance(b.left, Num):
        return mul(Num(a.value * b.left.value), b.right)
    if isinstance(a, Neg):
        return neg(mul(a.operand, b))
    if isinstance(b, Neg):
        return neg(mul(a, b.operand))
    return BinOp("*", a, b)


def div(a: Node, b: Node) -> Node:
    if a == ZERO:
        return ZERO
    if b == ONE:
        return a
    if isinstance(a, Num) and isinstance(b, Num) and b.value != 0:
        return Num(a.value / b.value)
    return BinOp("/", a, b)


def power(a: Node, b: Node) -> Node:
    if b == ONE:
        return a
    if b == ZERO:
        return ONE
    if isinstance(a, Num) and isinstance(b, Num) and a.value > 0:
        return Num(a.value**b.value)
    return BinOp("**", a, b)


def call(name: str, *args: Node) -> Node:
    return Call(name, args)


# ---------------------------------------------------------------- differentiation


def depends_on(node: Node, name: str) -> bool:
    if isinstance(node, Var):
        return node.name == name
    if isinstance(node, Num | Index):
        return False
    if isinstance(node, Neg):
        return depends_on(node.operand, name)
    if isinstance(node, BinOp):
        return depends_on(node.left, name) or depends_on(node.right, name)
    if isinstance(node, Compare):
        return any(depends_on(o, name) for o in node.operands)
    assert isinstance(node, Call)
    return any(depends_on(a, name) for a in node.args)


def differentiate(node: Node, name: str) -> Node:
    """d(node)/d(name) as a new tree (recursion is bounded by the parser's depth limit)."""
    if not depends_on(node, name):
        return ZERO
    if isinstance(node, Var):
        return ONE
    if isinstance(node, Neg):
        return neg(differentiate(node.operand, name))
    if isinstance(node, BinOp):
        return _binop(node, name)
    assert isinstance(node, Call)
    return _call(node, name)


def _binop(node: BinOp, name: str) -> Node:
    a, b = node.left, node.right
    da, db = differentiate(a, name), differentiate(b, name)
    if node.op == "+":
        return add(da, db)
    if node.op == "-":
        return sub(da, db)
    if node.op == "*":
        return add(mul(da, b), mul(a, db))
    if node.op == "/":
        if db == ZERO:
            return div(da, b)
        return div(sub(mul(da, b), mul(a, db)), power(b, TWO))
    if node.op == "%":
        # a − b·floor(a/b): slope a' − b'·floor(a/b) between the jumps.
        return sub(da, mul(db, call("floor", div(a, b))))
    return _power_rule(a, b, da, db)


def _power_rule(a: Node, b: Node, da: Node, db: Node) -> Node:
    if db == ZERO:  # a^c → c·a^(c−1)·a'
        exponent = Num(b.value - 1.0) if isinstance(b, Num) else sub(b, ONE)
        return mul(mul(b, power(a, exponent)), da)
    if da == ZERO:  # c^b → c^b·log(c)·b'
        return mul(mul(power(a, b), call("log", a)), db)
    # a^b = e^(b·log a) → a^b·(b'·log a + b·a'/a)
    return mul(power(a, b), add(mul(db, call("log", a)), div(mul(b, da), a)))


def _call(node: Call, name: str) -> Node:
    if FUNCTIONS[node.func].reduction:
        raise RequestError(
            "exact derivatives are available for scalar variables only, not through "
            f"`{node.func}` of a vector.",
            field="expression",
        )
    if node.func in _PIECEWISE:
        return _PIECEWISE[node.func](node.args, name)
    if len(node.args) == 2:
        return _binary_call(node, name)
    (u,) = node.args
    return mul(_CHAIN[node.func](u), differentiate(u, name))


# f'(u) for f(u) of one argument; the chain rule multiplies by u'.
_CHAIN: dict[str, Callable[[Node], Node]] = {
    "sin": lambda u: call("cos", u),
    "cos": lambda u: neg(call("sin", u)),
    "tan": lambda u: div(ONE, power(call("cos", u), TWO)),
    "arcsin": lambda u: div(ONE, call("sqrt", sub(ONE, power(u, TWO)))),
    "arccos": lambda u: neg(div(ONE, call("sqrt", sub(ONE, power(u, TWO))))),
    "arctan": lambda u: div(ONE, add(ONE, power(u, TWO))),
    "sinh": lambda u: call("cosh", u),
    "cosh": lambda u: call("sinh", u),
    "tanh": lambda u: sub(ONE, power(call("tanh", u), TWO)),
    "arcsinh": lambda u: div(ONE, call("sqrt", add(power(u, TWO), ONE))),
    "arccosh": lambda u: div(ONE, call("sqrt", sub(power(u, TWO), ONE))),
    "arctanh": lambda u: div(ONE, sub(ONE, power(u, TWO))),
    "exp": lambda u: call("exp", u),
    "expm1": lambda u: call("exp", u),
    "exp2": lambda u: mul(Num(math.log(2.0)), call("exp2", u)),
    "log": lambda u: div(ONE, u),
    "log1p": lambda u: div(ONE, add(ONE, u)),
    "log2": lambda u: div(ONE, mul(Num(math.log(2.0)), u)),
    "log10": lambda u: div(ONE, mul(Num(math.log(10.0)), u)),
    "sqrt": lambda u: div(ONE, mul(TWO, call("sqrt", u))),
    "cbrt": lambda u: div(ONE, mul(Num(3.0), power(call("cbrt", u), TWO))),
    "abs": lambda u: call("sign", u),  # 0 at the kink
    "sign": lambda u: ZERO,
    "floor": lambda u: ZERO,
    "ceil": lambda u: ZERO,
    "erf": lambda u: mul(Num(2.0 / math.sqrt(math.pi)), call("exp", neg(power(u, TWO)))),
    "erfc": lambda u: mul(Num(-2.0 / math.sqrt(math.pi)), call("exp", neg(power(u, TWO)))),
    "gamma": lambda u: mul(call("gamma", u), call("digamma", u)),
    "lgamma": lambda u: call("digamma", u),  # d/dx log|Γ(x)| = ψ(x) on both signs of Γ
    "digamma": lambda u: call("polygamma", ONE, u),
    "square": lambda u: mul(TWO, u),
    # sinc(u) = sin(πu)/(πu): (cos(πu) − sinc(u))/u, and 0 at u = 0 (an even function).
    "sinc": lambda u: call(
        "where",
        Compare(("==",), (u, ZERO)),
        ZERO,
        div(sub(call("cos", mul(Num(math.pi), u)), call("sinc", u)), u),
    ),
    "sigmoid": lambda u: mul(call("sigmoid", u), sub(ONE, call("sigmoid", u))),
    "softplus": lambda u: call("sigmoid", u),
}


def _binary_call(node: Call, name: str) -> Node:
    a, b = node.args
    da, db = differentiate(a, name), differentiate(b, name)
    if node.func == "pow":
        return _power_rule(a, b, da, db)
    if node.func == "hypot":
        return div(add(mul(a, da), mul(b, db)), node)
    assert node.func == "arctan2"  # atan(a/b) in the right quadrant: (b·a' − a·b')/(a²+b²)
    return div(sub(mul(b, da), mul(a, db)), add(power(a, TWO), power(b, TWO)))


def _where(args: tuple[Node, ...], name: str) -> Node:
    condition, a, b = args
    return call("where", condition, differentiate(a, name), differentiate(b, name))


def _relu(args: tuple[Node, ...], name: str) -> Node:
    (u,) = args  # 0 at the kink, like the usual subgradient choice
    return call("where", Compare((">",), (u, ZERO)), differentiate(u, name), ZERO)


def _minimum(args: tuple[Node, ...], name: str) -> Node:
    a, b = args
    return call("where", Compare(("<=",), (a, b)), differentiate(a, name), differentiate(b, name))


def _maximum(args: tuple[Node, ...], name: str) -> Node:
    a, b = args
    return call("where", Compare((">=",), (a, b)), differentiate(a, name), differentiate(b, name))


def _heaviside(args: tuple[Node, ...], name: str) -> Node:
    u, at_zero = args  # flat on both sides; only its value at 0 can move
    moved = differentiate(at_zero, name)
    return ZERO if moved == ZERO else call("where", Compare(("==",), (u, ZERO)), moved, ZERO)


def _clip(args: tuple[Node, ...], name: str) -> Node:
    u, low, high = args  # minimum(maximum(u, low), high), as NumPy computes it
    inside = call(
        "where", Compare((">",), (u, high)), differentiate(high, name), differentiate(u, name)
    )
    return call("where", Compare(("<",), (u, low)), differentiate(low, name), inside)


def _polygamma(args: tuple[Node, ...], name: str) -> Node:
    order, u = args  # the order is a whole-number literal (app.expressions checks it)
    assert isinstance(order, Num)
    return mul(call("polygamma", Num(order.value + 1.0), u), differentiate(u, name))


_PIECEWISE: dict[str, Callable[[tuple[Node, ...], str], Node]] = {
    "where": _where,
    "relu": _relu,
    "minimum": _minimum,
    "maximum": _maximum,
    "heaviside": _heaviside,
    "clip": _clip,
    "polygamma": _polygamma,
}


MAX_NODES = 20_000  # an exact derivative may grow (product rule) but not without bound
MAX_DEPTH = 200  # recursion in compiling and printing stays far below Python's limit


def derivative_expression(expression: Expression, name: str) -> Expression:
    """The exact derivative as an `Expression` over the same variables."""
    if expression.vector_variable is not None:
        raise RequestError(
            "exact derivatives are available for scalar variables only.", field="expression"
        )
    tree = differentiate(expression.tree, name)
    count, depth = measure(tree, MAX_NODES)
    if count > MAX_NODES or depth > MAX_DEPTH:
        raise TooLargeError(
            f"the exact derivative has more than {MAX_NODES} parts or is nested more than "
            f"{MAX_DEPTH} deep; simplify the expression or drop `exact`.",
            reason="derivative",
        )
    return Expression(
        text=to_text(tree),
        tree=tree,
        variables=expression.variables,
        vector_variable=None,
        min_dimension=0,
        analytic=expression.analytic,
        node_count=count,
        blocker=expression.blocker,
    )


def measure(root: Node, limit: int) -> tuple[int, int]:
    """(nodes, depth), counting shared subtrees each time they occur; stops past `limit`."""
    count, deepest = 0, 0
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack and count <= limit:
        node, depth = stack.pop()
        count += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(node))
    return count, deepest


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Compare):
        return node.operands
    return ()


# ---------------------------------------------------------------- printing

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2, "**": 4}


def to_text(node: Node) -> str:
    """Readable text that the parser accepts again, with only the needed parentheses."""
    return _text(node)[0]


def _text(node: Node) -> tuple[str, int]:
    """(text, precedence): 1 sums, 2 products, 3 unary minus, 4 powers, 5 atoms."""
    if isinstance(node, Num):
        value = node.value
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
        return (text, 3) if value < 0 else (text, 5)
    if isinstance(node, Var):
        return node.name, 5
    if isinstance(node, Index):
        return f"{node.name}[{node.index}]", 5
    if isinstance(node, Neg):
        return "-" + _wrap(node.operand, 3), 3
    if isinstance(node, BinOp):
        level = _PRECEDENCE[node.op]
        if node.op == "**":  # right-associative, and binds tighter than unary minus on its left
            return f"{_wrap(node.left, 5)}**{_wrap(node.right, 4)}", level
        right_level = level + 1  # a - (b - c), a / (b * c)
        spaced = level == 1
        op = f" {node.op} " if spaced else node.op
        return f"{_wrap(node.left, level)}{op}{_wrap(node.right, right_level)}", level
    if isinstance(node, Compare):
        parts = [_wrap(node.operands[0], 1)]
        for op, operand in zip(node.ops, node.operands[1:], strict=True):
            parts.append(f" {op} {_wrap(operand, 1)}")
        return "".join(parts), 0
    assert isinstance(node, Call)
    return f"{node.func}({', '.join(_text(a)[0] for a in node.args)})", 5


def _wrap(node: Node, minimum: int) -> str:
    text, level = _text(node)
    return text if level >= minimum else f"({text})"

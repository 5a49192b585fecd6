"""Text → tree: checked before Python's parser sees it, walked without recursion, whitelisted."""

from __future__ import annotations

import ast
import difflib
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from app.errors import ExpressionError

from . import habits
from .evaluation import Expression, _fold
from .tree import BinOp, Call, Compare, Index, Neg, Node, Num, Var
from .whitelist import (
    _REFUSED,
    ALIASES,
    BINARY_OPS,
    COMPARISONS,
    CONSTANTS,
    FUNCTIONS,
    MODULE_PREFIXES,
    Limits,
)

_BRACKETS = {"(": 1, "[": 1, ")": -1, "]": -1}


def parse(text: str, limits: Limits | None = None) -> Expression:
    """Parse and check `text`; raise `ExpressionError` (and nothing else) if refused."""
    return _parse_cached(text, limits or Limits())


def parse_cache_hits() -> int:
    return _parse_cached.cache_info().hits


def parse_cache_lookups() -> tuple[int, int]:
    """Hits and misses of the parse cache so far, in this process."""
    info = _parse_cached.cache_info()
    return info.hits, info.misses


@lru_cache(maxsize=512)  # bounded: memory stays flat however many distinct texts arrive
def _parse_cached(text: str, limits: Limits) -> Expression:
    source, columns = _prepare(text, limits)
    try:
        module = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        column = columns[min(max((exc.offset or 1) - 1, 0), len(columns) - 1)]
        raise habits.explain(text, column) from None
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
            habits.check_character(char, i + 1)
        if char == "#":  # Python would silently drop the rest of the line as a comment
            raise ExpressionError(
                f"`#` at column {i + 1} is not allowed; comments are not part of a formula.",
                column=i + 1,
            )
    habits.check_literals(text)
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
    if name.lower() in habits.FUNCTION_HINTS:
        return f"; write {habits.FUNCTION_HINTS[name.lower()]}."
    known = sorted({*FUNCTIONS, *ALIASES, *CONSTANTS})
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else "."


@dataclass
class _Usage:
    """What the translator learns about names while it walks."""

    scalars: set[str] = field(default_factory=set)
    vectors: set[str] = field(default_factory=set)
    max_index: int = -1
    blocker: str | None = None  # the first part the complex step cannot go through
    columns: dict[str, int] = field(default_factory=dict)  # where each name first occurs


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
        self.check_run_together()
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
            analytic=usage.blocker is None,
            node_count=node_count,
            blocker=usage.blocker,
        )

    def check_run_together(self) -> None:
        """`xy` beside `x` is almost always x·y written without `*`; refused with the fix."""
        for name in sorted(self.usage.scalars):
            pieces = habits.run_together(name, self.usage.scalars - {name})
            if pieces is None:
                continue
            column = self.usage.columns[name]
            called = pieces[0] in FUNCTIONS or pieces[0] in ALIASES
            product = f"{pieces[0]}({pieces[1]})" if called else "*".join(pieces)
            raise ExpressionError(
                f"`{name}` at column {column} reads as one variable; write `{product}` if you "
                f"mean {'the function' if called else 'a product'}, or give "
                f"the variable a name with `_` such as `{'_'.join(pieces)}`.",
                column=column,
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
            raise self.error(
                node,
                f"operator `{_unary_symbol(node.op)}` is not supported",
                "; write `where(condition, a, b)` for a condition.",
            )
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
        raise self.refused(node)

    def refused(self, node: ast.AST) -> ExpressionError:
        if isinstance(node, ast.Set | ast.Dict):
            return self.error(
                node, "braces are LaTeX grouping", "; use parentheses, as in `x^(2)`."
            )
        if isinstance(node, ast.Tuple) and not node.elts:
            return self.error(node, "`()` is empty", "; put a term inside.")
        if isinstance(node, ast.Tuple):
            return self.error(
                node,
                "a `,` outside a function's brackets makes a list",
                "; send one formula, and write a decimal as `2.5`, not `2,5`.",
            )
        if isinstance(node, ast.List):
            return self.error(
                node,
                "square brackets make a list",
                "; group with `(...)`, and index a vector variable as `x[0]`.",
            )
        what = _REFUSED.get(type(node), "this kind of expression")
        fix = "." if "(use" in what else "; write a formula of numbers, names and functions."
        return self.error(node, f"{what} are not allowed", fix)

    def constant(self, node: ast.Constant) -> Num:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = {str: "strings are", bytes: "bytes are", complex: "complex numbers are"}.get(
                type(value), f"`{value!r}` is"
            )
            fixes = {
                str: "; write the formula without quotes.",
                bytes: "; write the formula without quotes.",
                complex: "; write `2*j` for a product with a variable `j`.",
            }
            raise self.error(node, f"{kind} not allowed", fixes.get(type(value), "; write 1 or 0."))
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise self.error(
                node, "number literal is too large", "; the largest number is about `1.8e308`."
            )
        return Num(number)

    def name(self, node: ast.Name, *, in_reduction: bool) -> tuple[Node, int]:
        name = node.id
        if name.startswith("_"):
            raise self.error(node, f"names starting with `_` are not allowed (`{name}`)")
        if name in CONSTANTS:
            return Num(CONSTANTS[name]), 0
        if name in FUNCTIONS or name in ALIASES:
            raise self.error(node, f"`{name}` is a function; call it as `{name}(...)`")
        constant = habits.case_variant(name)
        if constant is not None:
            raise self.error(
                node,
                f"`{name}` would be a variable",
                f"; write `{constant}` for the constant, or another name for a variable.",
            )
        self.usage.columns.setdefault(name, _column(node, self.columns))
        if in_reduction:
            self.usage.vectors.add(name)
            return Var(name), 1
        self.usage.scalars.add(name)
        return Var(name), 0

    def binop(self, node: ast.BinOp, *, in_reduction: bool) -> tuple[Node, int]:
        entry = BINARY_OPS.get(type(node.op))
        if entry is None:
            symbol = _binary_symbol(node.op)
            fix = {"|": "; write `abs(x)` for |x|.", "//": "; write `floor(a / b)`."}
            other = "; the operators are `+ - * / ** ^ %`."
            raise self.error(node, f"operator `{symbol}` is not supported", fix.get(symbol, other))
        left, left_rank = self.node(node.left, in_reduction=in_reduction)
        right, right_rank = self.node(node.right, in_reduction=in_reduction)
        if entry[0] == "%":
            self.usage.blocker = self.usage.blocker or "%"
        return BinOp(entry[0], left, right), max(left_rank, right_rank)

    def function_name(self, func: ast.expr) -> str:
        if isinstance(func, ast.Attribute):
            self.check_prefix(func)
            raw = func.attr
        elif isinstance(func, ast.Name):
            raw = func.id
        else:
            # `2(x+1)`, `(x+1)(x-1)`: Python reads a call of a number or a bracket.
            left = ast.unparse(func) if isinstance(func, ast.Constant | ast.Name) else ")"
            raise habits.implicit_product(left, "(", _column(func, self.columns))
        if raw.startswith("_"):
            raise self.error(func, f"names starting with `_` are not allowed (`{raw}`)")
        name = ALIASES.get(raw, raw)
        if name not in FUNCTIONS:
            raise self.unknown_function(func, raw)
        return name

    def unknown_function(self, func: ast.expr, raw: str) -> ExpressionError:
        lowered = ALIASES.get(raw.lower(), raw.lower())
        if raw in CONSTANTS:
            return self.error(
                func, f"`{raw}` is a constant, not a function", f"; write `{raw}*(...)`."
            )
        if lowered in FUNCTIONS:
            return self.error(func, f"`{raw}` must be lowercase", f"; write `{raw.lower()}(...)`.")
        hint = _suggestion(raw)
        if hint == "." and len(raw) <= 2:  # `x(x+1)`, `a(b+c)`: a product, not a call
            hint = f"; to multiply, write `{raw}*(...)`."
        elif hint == ".":
            hint = "; the functions are listed in the README (`sin`, `exp`, `log`, `erf`, ...)."
        return self.error(func, f"unknown function `{raw}`", hint)

    def check_prefix(self, node: ast.Attribute) -> None:
        if not (isinstance(node.value, ast.Name) and node.value.id in MODULE_PREFIXES):
            raise self.error(
                node,
                "attribute access is not allowed",
                "; only `np.`, `numpy.` and `math.` are read.",
            )

    def call(self, node: ast.Call, *, in_reduction: bool) -> tuple[Node, int]:
        name = self.function_name(node.func)
        func = FUNCTIONS[name]
        if node.keywords:
            axis = " (it runs over the point's coordinates)" if func.reduction else ""
            raise self.error(
                node,
                f"`{name}` takes no keyword arguments",
                f"; write `{name}(...)` with its arguments in order{axis}.",
            )
        self.check_arity(node, name, func.arity, func.fewest or func.arity)
        if not func.analytic:
            self.usage.blocker = self.usage.blocker or name
        if name == "where":
            return self.where(node, in_reduction=in_reduction)
        if name == "polygamma":
            self.check_order(node.args[0])
        inner = in_reduction or func.reduction
        translated = [self.node(a, in_reduction=inner) for a in node.args]
        args = tuple(t[0] for t in translated)
        rank = max(t[1] for t in translated)
        if name == "log" and len(args) == 2:  # log(x, base) = ln x / ln base
            return BinOp("/", Call("log", args[:1]), Call("log", args[1:])), rank
        if name == "heaviside" and len(args) == 1:  # H(0) = 1/2, as sympy's Heaviside
            args = (args[0], Num(0.5))
        if func.reduction:
            if rank == 0:
                raise self.error(node, f"`{name}` needs a vector argument such as `x`")
            return Call(name, args), 0
        return Call(name, args), rank

    def check_arity(self, node: ast.Call, name: str, most: int, fewest: int) -> None:
        if fewest <= len(node.args) <= most:
            return
        counts = f"{fewest} or {most}" if fewest != most else str(most)
        plural = "s" if most != 1 else ""
        raise self.error(node, f"`{name}` takes {counts} argument{plural}, got {len(node.args)}")

    def check_order(self, order: ast.expr) -> None:
        if not (
            isinstance(order, ast.Constant)
            and isinstance(order.value, int)
            and not isinstance(order.value, bool)
            and 0 <= order.value <= 100
        ):
            raise self.error(
                order,
                "the order of `polygamma` must be a whole number from 0 to 100",
                ", as in `polygamma(1, x)`.",
            )

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
        if isinstance(node.value, ast.Name) and node.value.id == "D":
            raise self.error(
                node,
                "`D[...]` is Wolfram's derivative",
                "; send only the function, such as `x^2`, and the service differentiates it.",
            )
        if isinstance(node.value, ast.Name) and node.value.id.lower() in {*FUNCTIONS, *ALIASES}:
            name = node.value.id
            raise self.error(
                node, f"`{name}[...]` uses Wolfram's brackets", f"; write `{name.lower()}(...)`."
            )
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

"""How people write math elsewhere, and what to write here instead.

Text that Python cannot parse is explained from the user's own characters, never with the
parser's words: implicit multiplication (`2x`, `sin x`), `|x|`, `x!`, `f(x) = ...`, LaTeX,
spreadsheet and MATLAB habits, brackets that do not match. Each message is one sentence
with the column and the fix. Only refused text comes here: a valid expression never pays.
"""

from __future__ import annotations

import itertools
import keyword
import re
from dataclasses import dataclass
from functools import cache

from app.errors import ExpressionError

from .whitelist import ALIASES, CONSTANTS, FUNCTIONS

_TOKEN = re.compile(
    r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|==|!=|<=|>=|\.\^|\.\*|\./|.)"
)

# Characters of typeset math and what to type instead.
UNICODE_MATH = {
    "×": "*",
    "·": "*",
    "⋅": "*",
    "∙": "*",
    "÷": "/",
    "−": "-",
    "\u2013": "-",  # en dash
    "²": "^2",
    "³": "^3",
    "π": "pi",
    "√": "sqrt(...)",
    "∞": "inf",
    "≤": "<=",
    "≥": ">=",
    "≠": "!=",
    "°": "*pi/180",
}

_LATEX = {
    "frac": "`(a)/(b)` for `\\frac{a}{b}`",
    "cdot": "`*`",
    "times": "`*`",
    "div": "`/`",
    "sqrt": "`sqrt(...)`",
    "pi": "`pi`",
    "infty": "`inf`",
    "left": "plain `(`",
    "right": "plain `)`",
}

# Unknown function names people bring from elsewhere, and what to write.
FUNCTION_HINTS = {
    "factorial": "`gamma(x + 1)` for x!",
    "fact": "`gamma(x + 1)` for x!",
    "gammaln": "`lgamma`",
    "loggamma": "`lgamma`",
    "psi": "`digamma`",
    "sec": "`1/cos(x)`",
    "csc": "`1/sin(x)`",
    "cot": "`1/tan(x)`",
    "mod": "`a % b`",
    "fmod": "`a % b`",
    "root": "`x**(1/n)`",
    "nthroot": "`x**(1/n)`",
    "lg": "`log10`",
    "exp10": "`10**x`",
    "sqr": "`square`",
    "step": "`heaviside`",
    "clamp": "`clip`",
    "erfcx": "`exp(x**2)*erfc(x)`",
    "derivative": "only the function, such as `x^2`: the service differentiates it",
    "diff": "only the function, such as `x^2`: the service differentiates it",
    "f": "the function's formula itself, such as `x**2`",
    "g": "the function's formula itself, such as `x**2`",
    "function_1": "the function's formula itself, such as `0.01*x**2 + 0.1*x`",
    "function_2": "the function's formula itself, such as `x[0]**2 + x[1]**2`",
    "func_1": "the function's formula itself, such as `0.01*x**2 + 0.1*x`",
    "func_2": "the function's formula itself, such as `x[0]**2 + x[1]**2`",
    "numerical_diff": "only the function, and send the points to `/derivative`",
    "numerical_gradient": "only the function, and send the point to `/gradient`",
    "numerical_gradient_batch": "only the function, and send the grid to `/gradient-field`",
    "gradient_descent": "only the function, and send `init` to `/descent`",
    "tangent_line": "only the function: `/derivative` answers each point's tangent",
}

_BINARY = {"+", "-", "*", "/", "%", "^", "**", "==", "!=", "<", ">", "<=", ">="}
_OPENING = {"(": ")", "[": "]", "{": "}"}
_CLOSING = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, name or op
    text: str
    column: int  # 1-based


def tokens(text: str) -> list[Token]:
    """The text's numbers, names and operators, blanks dropped."""
    found = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "op"
        if not match.group().isspace():
            found.append(Token(kind, match.group(), match.start() + 1))
    return found


def refuse(message: str, column: int) -> ExpressionError:
    return ExpressionError(message, column=column)


def check_character(char: str, column: int) -> None:
    """A character outside printable ASCII: typeset math gets its ASCII spelling."""
    shown = f"U+{ord(char):04X}"
    if char in UNICODE_MATH:
        raise refuse(
            f"`{char}` ({shown}) at column {column} is typeset math; "
            f"write `{UNICODE_MATH[char]}` instead.",
            column,
        )
    raise refuse(f"character {shown} at column {column} is not allowed; use plain ASCII.", column)


_PREFIXED = re.compile(r"(?<![\w.])0[xXoObB][0-9A-Fa-f_]*")
_GROUPED = re.compile(r"(?<![\w.])\d+(?:_\d+)+")
_DERIVATIVE_NOTATION = re.compile(r"^\s*d\s*/\s*d[A-Za-z]\w*(?![\w\[])")


def check_literals(text: str) -> None:
    """Python accepts literals a formula should not have: `0x1F`, `1_000`; and `d/dx f`
    would read as variables `d` and `dx`."""
    prefixed = _PREFIXED.search(text)
    if prefixed:
        column = prefixed.start() + 1
        raise refuse(
            f"`{prefixed.group()}` at column {column} is a hex, octal or binary literal; "
            "write the number in decimal.",
            column,
        )
    grouped = _GROUPED.search(text)
    if grouped:
        column = grouped.start() + 1
        plain = grouped.group().replace("_", "")
        raise refuse(
            f"`{grouped.group()}` at column {column} groups digits with `_`; write `{plain}`.",
            column,
        )
    if _DERIVATIVE_NOTATION.match(text):
        column = text.index("d") + 1
        raise refuse(
            f"`d/d...` at column {column} is not needed; send the function itself (such as "
            "`x^2`) and the service differentiates it.",
            column,
        )


def explain(text: str, python_column: int) -> ExpressionError:
    """Why `text` cannot be parsed, and the fix: the first habit found, else the column."""
    found = tokens(text)
    error = _characters(found, text)
    for check in (_brackets, _adjacent, _operators):
        error = error or check(found)
    if error is not None:
        return error
    return refuse(
        f"the expression cannot be read at column {python_column}; "
        "check the operator or bracket there.",
        python_column,
    )


def _characters(found: list[Token], text: str) -> ExpressionError | None:
    for i, token in enumerate(found):
        before = found[i - 1] if i else None
        after = found[i + 1] if i + 1 < len(found) else None
        error = _equals(token, found, text) if token.text == "=" else None
        error = error or _character(token, before, after)
        if error is not None:
            return error
    return None


def _character(token: Token, before: Token | None, after: Token | None) -> ExpressionError | None:
    text, column = token.text, token.column
    if token.kind == "name" and keyword.iskeyword(text) and text not in ("True", "False", "None"):
        return refuse(
            f"`{text}` at column {column} is a Python keyword, not math; "
            "write a formula such as `x**2`.",
            column,
        )
    if token.kind == "number" and len(token.text) > 400:
        return refuse(
            f"the number at column {column} has {len(token.text)} digits; "
            "write it with an exponent, as in `1e300`.",
            column,
        )
    if token.kind != "op":
        return None
    if text == "!":
        operand = before.text if before is not None and before.kind != "op" else "..."
        return refuse(
            f"`!` at column {column}: write `gamma({operand} + 1)` for the factorial.", column
        )
    if text == "\\":
        return _latex(after, column)
    return _punctuation(text, column)


def _punctuation(text: str, column: int) -> ExpressionError | None:
    fixes = {
        "|": "write `abs(x)` for the absolute value |x|",
        "{": "braces are LaTeX grouping; use parentheses, as in `x^(2)`",
        "}": "braces are LaTeX grouping; use parentheses, as in `x^(2)`",
        ".^": "MATLAB's element-wise power is `^` here (every operator works element-wise)",
        ".*": "MATLAB's element-wise product is `*` here (every operator works element-wise)",
        "./": "MATLAB's element-wise division is `/` here (every operator works element-wise)",
        "$": "cell references are not read; name a variable such as `x`",
        ";": "send one formula; remove `;`",
        "'": "send the formula without quotes; a derivative is what the service computes",
        '"': "send the formula without quotes",
        "?": "write conditions as `where(condition, a, b)`",
        ":": "write conditions as `where(condition, a, b)`",
        "`": "send the formula without backticks",
    }
    if text in fixes:
        return refuse(f"`{text}` at column {column}: {fixes[text]}.", column)
    return None


def _equals(token: Token, found: list[Token], text: str) -> ExpressionError:
    column = token.column
    if found[0] is token:
        return refuse(
            f"`=` at column {column}: drop the leading `=`; "
            "a spreadsheet's `=` is not part of the formula.",
            column,
        )
    left = found[: found.index(token)]
    if left[0].kind == "name" and (len(left) == 1 or left[1].text == "("):
        right = text[column:].strip()
        shown = f"`{right}`" if 0 < len(right) <= 40 else "the part after `=`"
        return refuse(
            f"`=` at column {column}: send only the right-hand side, {shown}, "
            f"without `{''.join(t.text for t in left)} =`.",
            column,
        )
    return refuse(
        f"`=` at column {column}: write `==` to compare, inside `where(x == 0, a, b)`.", column
    )


def _latex(after: Token | None, column: int) -> ExpressionError:
    command = after.text if after is not None and after.kind == "name" else ""
    if command in _LATEX:
        fix = _LATEX[command]
    elif command in FUNCTIONS or command in ALIASES:
        fix = f"`{command}(...)`"
    else:
        fix = "plain math such as `sin(x)/x`"
    return refuse(f"`\\{command}` at column {column} is LaTeX; write {fix} instead.", column)


def _brackets(found: list[Token]) -> ExpressionError | None:
    stack: list[Token] = []
    for token in found:
        if token.text in _OPENING:
            stack.append(token)
        elif token.text in _CLOSING:
            if not stack:
                return refuse(
                    f"`{token.text}` at column {token.column} has no matching "
                    f"`{_CLOSING[token.text]}`; remove it or open one before.",
                    token.column,
                )
            opening = stack.pop()
            if _OPENING[opening.text] != token.text:
                return refuse(
                    f"`{token.text}` at column {token.column} closes the `{opening.text}` of "
                    f"column {opening.column}; write `{_OPENING[opening.text]}`.",
                    token.column,
                )
    if stack:
        opening = stack[-1]
        return refuse(
            f"`{opening.text}` at column {opening.column} is never closed; "
            f"add `{_OPENING[opening.text]}`.",
            opening.column,
        )
    return None


def _is_operand_end(token: Token) -> bool:
    return token.kind in ("number", "name") or token.text in (")", "]")


def _adjacent(found: list[Token]) -> ExpressionError | None:
    """Two operands side by side: implicit multiplication, or a function without brackets."""
    for before, token in itertools.pairwise(found):
        if not _is_operand_end(before) or (token.kind == "op" and token.text != "("):
            continue
        if token.text == "(" and before.kind == "name":
            continue  # a call
        column = token.column
        if before.kind == "name" and (before.text in FUNCTIONS or before.text in ALIASES):
            return refuse(
                f"`{before.text} {token.text}` at column {before.column}: a function needs "
                f"brackets; write `{before.text}({token.text})`.",
                before.column,
            )
        if token.text == "mod" or before.text == "mod":
            return refuse(f"`mod` at column {column}: write `a % b` for the remainder.", column)
        if before.kind == "number" and token.kind == "number":
            return refuse(
                f"`{before.text} {token.text}` at column {before.column}: two numbers need an "
                f"operator between them, such as `{before.text}*{token.text}`.",
                before.column,
            )
        return implicit_product(before.text, token.text, before.column)
    return None


def implicit_product(left: str, right: str, column: int) -> ExpressionError:
    """The one message for `2x`, `2 x`, `2(x+1)`, `(x+1)(x-1)`, `x y`."""
    shown_right = "(...)" if right == "(" else right
    shown_left = "(...)" if left in (")", "]") else left
    return refuse(
        f"`{shown_left}{shown_right}` at column {column}: write the multiplication out, "
        f"as `{shown_left}*{shown_right}`.",
        column,
    )


def _operators(found: list[Token]) -> ExpressionError | None:
    first, last = found[0], found[-1]
    if first.text in _BINARY - {"+", "-"}:
        return refuse(
            f"`{first.text}` at column {first.column} has nothing before it; "
            f"add a term, as in `2{first.text}x`.",
            first.column,
        )
    if last.text in _BINARY or last.text == ",":
        return refuse(
            f"the expression ends with `{last.text}` at column {last.column}; "
            f"add what follows it, as in `x {last.text} 1`.",
            last.column,
        )
    for before, token in itertools.pairwise(found):
        if before.text in _BINARY | {"(", ","} and token.text in _BINARY - {"+", "-"}:
            return refuse(
                f"`{token.text}` at column {token.column} follows `{before.text}`; remove one "
                "of them or put a term between them.",
                token.column,
            )
        if before.text == "(" and token.text == ")":
            return refuse(
                f"`()` at column {before.column} is empty; put a term inside.", before.column
            )
    return None


def case_variant(name: str) -> str | None:
    """`Pi`, `PI`, `E`, `Inf`: a constant written with other capitals."""
    lowered = name.lower()
    return lowered if lowered in CONSTANTS and name != lowered else None


GREEK = frozenset(
    {"alpha", "beta", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "mu", "nu"}
    | {"xi", "omicron", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"}
)


def run_together(name: str, others: set[str]) -> list[str] | None:
    """The pieces `name` is made of when it looks like a product written without `*`:
    `xy` beside `x` (x·y), `pix` beside `x` (π·x), `sinx` (sin(x)). Every piece is another
    variable of the expression or a constant, with at most one single letter besides, and
    at least one piece is another variable. Greek letters' names are left alone."""
    if not name.isalnum() or len(name) < 2 or name.lower() in GREEK:
        return None
    for function in sorted({*FUNCTIONS, *ALIASES}, key=len, reverse=True):
        rest = name[len(function) :]
        variable = rest in others or re.fullmatch(r"[xyz][0-9]*", rest)
        if len(function) > 1 and name.startswith(function) and variable:
            return [function, rest]
    return _split(name, frozenset(others))


def _split(name: str, others: frozenset[str]) -> list[str] | None:
    known = others | {"pi", "e"}

    # Dynamic programming over (position, spare letter left, another variable seen): a
    # plain search would try exponentially many splits of `aaaa...aQQ` beside `a` and `aa`.
    @cache
    def rest(at: int, spare: int, seen: bool) -> tuple[str, ...] | None:
        if at == len(name):
            return () if seen else None
        for end in range(len(name), at, -1):
            head = name[at:end]
            if head in known and (at, end) != (0, len(name)):
                found = rest(end, spare, seen or head in others)
            elif end == at + 1 and head.isalpha() and spare:
                found = rest(end, 0, seen)
            else:
                continue
            if found is not None:
                return (head, *found)
        return None

    pieces = rest(0, 1, False)
    return list(pieces) if pieces is not None and len(pieces) > 1 else None

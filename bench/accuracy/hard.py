"""The hard families: magnitudes, domain edges, poles, oscillation, cusps, steep and flat f.

Issue 16 asks for them; cases quoted in the issue or in README's Accuracy section say so in
their source, the others are this suite's, each chosen for the trap it sets a step size.
"""

from __future__ import annotations

import math

from .cases import Case
from .sources import case, d1, d2

ISSUE = "Nabla issue 16"
README = "Nabla README, Accuracy"
SUITE = "accuracy suite (issue 16, hard families)"


def large_x() -> list[Case]:
    s = f"{SUITE}: large |x|"
    return [
        d1("3*x + sin(x)", 1e12, f"{ISSUE}: 3*x + sin(x) at 1e12"),
        case(
            "gradient",
            "x0*x1 + sin(x0)",
            ["x0", "x1"],
            [1e12, 3],
            f"{ISSUE}: x0*x1 + sin(x0) at (1e12, 3)",
        ),
        d1("sin(x)", 318310 * math.pi, f"{README}: d sin/dx at 318310π"),
        d1("1/(1 + x**2)", 1e5, f"{README}: 1/(1 + x²)"),
        d1("arctan(x)", 3e6, f"{README}: arctan beyond 3e6"),
        d1("x**2", -3e9, f"{README}: x = −3e9"),
        d1("log(x)", 1e10, s),
        d1("sqrt(x)", 1e12, s),
        d1("1/x", 1e9, s),
        d1("x**3", 1e8, s),
        d1("cos(x)", 1e9, s),
        d1("log1p(x)", 1e12, s),
        d1("exp(x/1e12)", 1e12, s),
        d1("sin(x/1e6)", 3e6, s),
        d1("tanh(x/1e9)", 1e9, s),
        d1("cbrt(x)", 1e12, s),
        d1("x*log(x)", 1e11, s),
        d1("hypot(x, 1)", 1e10, s),
        d2("log(x)", 1e10, s),
        d2("x**3", 1e8, s),
        d2("sin(x)", 1e6, s),
        case("hessian", "x0**2*x1 + sin(x1)", ["x0", "x1"], [1e6, 1e3], s),
    ]


def tiny_x() -> list[Case]:
    s = f"{SUITE}: tiny |x|"
    return [
        d1("1/x", 1e-8, f"{README}: 1/x at 1e-8"),
        d2("1/x", 1e-6, f"{README}: d²(1/x)/dx² at 1e-6"),
        d1("log(x)", 1e-8, s),
        d1("sqrt(x)", 1e-12, s),
        d1("sin(x)", 1e-8, s),
        d1("x**2", 1e-8, s),
        d1("exp(x)", 1e-10, s),
        d1("arctan(x)", -1e-8, s),
        d1("tan(x)", 1e-9, s),
        d1("x**3 + x", 1e-7, s),
        d1("log1p(x)", 1e-10, s),
        d1("expm1(x)", 1e-9, s),
        d1("sinh(x)", 1e-12, s),
        d1("x/(1 + x)", 1e-8, s),
        d1("sqrt(x**2 + 1e-16)", 1e-8, s),
        d2("log(x)", 1e-6, s),
        d2("x**4", 1e-4, s),
        case("gradient", "x0*x1 + x1**2", ["x0", "x1"], [1e-8, 1e-9], s),
    ]


def domain_edges() -> list[Case]:
    s = f"{SUITE}: domain edge"
    return [
        d1("sqrt(1 - x**2)", 0.999999, f"{ISSUE}: sqrt(1 - x**2) at 0.999999"),
        d1("log(x)", 1e-3, f"{README}: log at 1e-3"),
        d1("sqrt(x)", 1e-6, s),
        d1("sqrt(x)", 1e-10, s),
        d1("arcsin(x)", 0.999999, s),
        d1("arcsin(x)", -0.9999999, s),
        d1("arccos(x)", 1 - 1e-8, s),
        d1("arctanh(x)", 0.99999, s),
        d1("arccosh(x)", 1.000001, s),
        d1("log(1 - x)", 0.9999, s),
        d1("x**1.5", 1e-6, s),
        d1("sqrt(x)*exp(x)", 1e-7, s),
        d1("log(log(x))", 1.0001, s),
        d1("sqrt(sin(x))", 1e-6, s),
        d1("log(x**2 - 1)", 1.0000001, s),
        d2("sqrt(x)", 1e-6, s),
        d2("arcsin(x)", 0.9999, s),
        case("gradient", "sqrt(x0) + log(x1)", ["x0", "x1"], [1e-9, 1e-7], s),
        case("hessian", "sqrt(x0*x1)", ["x0", "x1"], [1e-6, 2.0], s),
    ]


def near_poles() -> list[Case]:
    s = f"{SUITE}: near a pole"
    return [
        d1("1/x", 1e-5, s),
        d1("1/(x - 1)", 1.0001, s),
        d1("1/(x - 1)", 0.9999, s),
        d1("tan(x)", math.pi / 2 - 1e-6, s),
        d1("tan(x)", 1.5707, s),
        d1("1/x**2", 1e-4, s),
        d1("1/(1 - x**2)", 0.99999, s),
        d1("x/(x**2 - 4)", 2.00001, s),
        d1("1/cos(x)", math.pi / 2 + 1e-5, s),
        d1("1/sin(x)", 3e-6, s),
        d1("1/(x - 3)**3", 3.001, s),
        d2("tan(x)", math.pi / 2 - 1e-4, s),
        d2("1/(x + 2)", -1.9999, s),
        case("gradient", "1/(x0 - x1)", ["x0", "x1"], [1.00001, 1.0], s),
        case("hessian", "1/(x0**2 + x1**2)", ["x0", "x1"], [1e-3, 2e-3], s),
    ]


def oscillation() -> list[Case]:
    s = f"{SUITE}: oscillation"
    return [
        d1("sin(1000*x)", math.pi, f"{README}: d sin(1000x)/dx at π"),
        d1("sin(1000*x)", 0.1, s),
        d1("sin(1000*x)", 1.0, s),
        d1("cos(1e4*x)", 0.3, s),
        d1("sin(x**2)", 100.0, s),
        d1("x*sin(1/x)", 0.01, s),
        d1("x*sin(1/x)", 1e-3, s),
        d1("sin(1e6*x)", 1e-3, s),
        d1("exp(-x)*sin(50*x)", 2.0, s),
        d1("sin(x)*sin(1000*x)", 1.0, s),
        d1("cos(x)", 1e9 + 0.5, s),
        d2("sin(1000*x)", 1.0, s),
        d2("cos(100*x)", 0.5, s),
        case("gradient", "sin(100*x0)*cos(200*x1)", ["x0", "x1"], [0.3, 0.7], s),
        case("hessian", "sin(30*x0 + 20*x1)", ["x0", "x1"], [0.1, 0.2], s),
    ]


def cusps() -> list[Case]:
    s = f"{SUITE}: next to a kink"
    return [
        d1("abs(x)", 1e-9, s),
        d1("abs(x)", -1e-9, s),
        d1("abs(x)", 1e-3, s),
        d1("abs(x - 1)", 1 + 1e-7, s),
        d1("relu(x)", 1e-10, s),
        d1("maximum(x, 1 - x)", 0.5 + 1e-8, s),
        d1("sqrt(abs(x))", 1e-6, s),
        d1("cbrt(x)", 1e-9, s),
        d1("cbrt(x)", -1e-6, s),
        d1("abs(sin(x))", math.pi + 1e-7, s),
        d1("where(x > 0, x**2, -x**2)", 1e-5, s),
        d1("x*abs(x)", -1e-6, s),
        d1("minimum(x**2, 1)", 1 - 1e-7, s),
        d2("where(x > 0, x**2, -x**2)", 1e-5, s),
        d2("abs(x)**3", 1e-4, s),
        case("gradient", "abs(x0) + maximum(x0, x1)", ["x0", "x1"], [1e-8, 2e-8], s),
        case("hessian", "abs(x0)*x1**2", ["x0", "x1"], [1e-7, 1.0], s),
    ]


def steep() -> list[Case]:
    s = f"{SUITE}: steep exponential"
    return [
        d1("exp(1000*x)", 0.5, s),
        d1("exp(x)", 700.0, s),
        d1("exp(x)", -700.0, s),
        d1("exp(x**2)", 5.0, s),
        d1("exp(-x**2)", 6.0, s),
        d1("exp(50*x)", 1.0, s),
        d1("sinh(x)", 300.0, s),
        d1("exp(exp(x))", 3.0, s),
        d1("sigmoid(100*x)", 0.01, s),
        d1("softplus(x)", 500.0, s),
        d1("softplus(x)", -500.0, s),
        d1("exp(-1/x)", 0.01, s),
        d1("expm1(x)", 500.0, s),
        d2("exp(100*x)", 0.02, s),
        d2("exp(x**2)", 3.0, s),
        case("gradient", "exp(10*x0 + 20*x1)", ["x0", "x1"], [3.0, 2.0], s),
        case("hessian", "exp(x0*x1)", ["x0", "x1"], [5.0, 4.0], s),
    ]


def flat() -> list[Case]:
    s = f"{SUITE}: flat, f' ≪ f"
    return [
        d1("exp(-1e-6*x)", 1.0, f"{ISSUE}: exp(-1e-6*x) at 1"),
        d2("exp(-1e-6*x)", 1.0, f"{ISSUE}: f'' of exp(-1e-6*x) at 1"),
        d1("cos(x)", 2.2e-14, f"{ISSUE}: d cos/dx at 2.2e-14"),
        d1("1 + x**4", 1e-3, f"{ISSUE}: d(1 + x**4)/dx at 1e-3"),
        d1("cos(x)", 1e-9, f"{README}: d cos/dx at 1e-9"),
        d1("cos(x)", 1e-5, f"{README}: d cos/dx at 1e-5"),
        d1("1e5 + x", 0.5, f"{README}: d(1e5 + x)/dx at 0.5"),
        d1("1 + 1e-8*sin(x)", 1.0, s),
        d1("1e8 + x**2", 1e-3, s),
        d1("cosh(x)", 1e-6, s),
        d1("1 + x**3", 1e-4, s),
        d1("log(1e10 + x)", 1.0, s),
        d1("exp(1e-8*x)", 1.0, s),
        d1("sqrt(1e12 + x)", 1.0, s),
        d1("2 + tanh(1e-6*x)", 3.0, s),
        d2("1 + x**4", 1e-3, s),
        d2("cos(x)", 1e-8, s),
        case("gradient", "1e6 + x0**2 + 1e-3*x1", ["x0", "x1"], [1e-4, 1.0], s),
        case("hessian", "1e6 + x0**2*x1**2", ["x0", "x1"], [1e-3, 1e-3], s),
    ]

"""The cases from public sources: scipy's and numdifftools' tests, papers, Moré-Garbow-Hillstrom.

Each case names its source: a test file and test (at the commit read), or a paper and the
equation, table or page. Functions and points are the sources' own; where a source's
function uses something Nabla's language lacks (scipy's `ndtr`, a callable with data
arrays), the case is left out, and a distribution's CDF is written in closed form. The hard
families, which this suite adds, are in `hard`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from .cases import Case, Kind

SCIPY = "scipy/differentiate/tests/test_differentiate.py@3dbf660"
NDT = "numdifftools/tests/test_numdifftools.py@c48563b"
NDT_EXAMPLES = "numdifftools/tests/test_example_functions.py@c48563b (example_functions.py)"
BENCHMARK = "numericalderivative/_DerivativeBenchmark.py@d2f2cb4 (Baudin)"
GMSW = "Gill, Murray, Saunders & Wright 1983, SIAM J. Sci. Stat. Comput. 4(2)"
SXXN = "Shi, Xie, Xuan & Nocedal 2022, SIAM J. Sci. Comput. 44(4), p. 14"
OLIVER = "Oliver 1980, J. Comput. Appl. Math. 6, table 1 p. 151"
DV = "Dumontet & Vignes 1977, RAIRO 11(1), p. 23"
MGH = "Moré, Garbow & Hillstrom 1981, ACM TOMS 7(1)"


def case(
    kind: Kind, expression: str, variables: Sequence[str], point: Sequence[float], source: str
) -> Case:
    """A case without its id and family, which `catalog.family` gives it."""
    return Case("", "", source, expression, tuple(variables), tuple(map(float, point)), kind)


def d1(expression: str, x: float, source: str, variable: str = "x") -> Case:
    return case("d1", expression, [variable], [x], source)


def d2(expression: str, x: float, source: str, variable: str = "x") -> Case:
    return case("d2", expression, [variable], [x], source)


def xs(n: int) -> list[str]:
    return [f"x{i}" for i in range(n)]


# ---------------------------------------------------------------- scipy.differentiate's tests

# TestDerivative.test_accuracy differentiates each distribution's CDF at its median + 0.1
# (parameters from scipy.stats._distr_params.distcont; points computed with scipy 1.17).
# Those whose CDF is elementary, written from scipy.stats' documentation:
SCIPY_CDFS = [
    ("anglit", "sin(x + pi/4)**2", 0.10000000000000012),
    ("arcsine", "2/pi*arcsin(sqrt(x))", 0.5999999999999999),
    ("bradford", "log(1 + 0.29891359763170633*x)/log(1.29891359763170633)", 0.5673554755440261),
    ("burr", "(1 + x**-10.5)**-4.3", 1.280623359412203),
    ("burr12", "1 - (1 + x**10)**-4", 0.9466301811171849),
    ("cauchy", "0.5 + arctan(x)/pi", 0.1),
    ("cosine", "(pi + x + sin(x))/(2*pi)", 0.1),
    ("dweibull", "1 - 0.5*exp(-x**2.0685080649914673)", 0.1),
    ("expon", "1 - exp(-x)", 0.7931471805599453),
    ("exponpow", "1 - exp(1 - exp(x**2.697119160358469))", 0.8883720628447743),
    ("exponweib", "(1 - exp(-x**1.9505288745913174))**2.8923945291034436", 1.3502828323307445),
    ("fisk", "1/(1 + x**-3.085754862225318)", 1.1),
    ("genextreme", "exp(-(1 + 0.1*x)**-10)", 0.4733123212357061),
    (
        "genhalflogistic",
        "(1 - (1 - 0.7727472780992932*x)**(1/0.7727472780992932))"
        "/(1 + (1 - 0.7727472780992932*x)**(1/0.7727472780992932))",
        0.8403919956791759,
    ),
    ("genlogistic", "(1 + exp(-x))**-0.41192440799679475", -1.3770689062892134),
    ("genpareto", "1 - (1 + 0.1*x)**-10", 0.8177346253629315),
    ("gompertz", "1 - exp(-0.9474371307510525*expm1(x))", 0.6490471627619191),
    ("gumbel_l", "1 - exp(-exp(x))", -0.2665129205816643),
    ("gumbel_r", "exp(-exp(-x))", 0.4665129205816644),
    ("halfcauchy", "2/pi*arctan(x)", 1.0999999999999999),
    ("halflogistic", "tanh(x/2)", 1.1986122886681099),
    ("hypsecant", "2/pi*arctan(exp(x))", 0.0999999999999999),
    ("invweibull", "exp(-x**-10.58)", 1.1352490781532432),
    ("kappa3", "x*(1 + x)**-1", 1.1),
    ("laplace", "1 - 0.5*exp(-x)", 0.1),
    ("loglaplace", "1 - x**-3.2505926592051435/2", 1.1),
    ("logistic", "sigmoid(x)", 0.1),
    ("loguniform", "log(x/0.01)/log(125)", 0.2118033988749895),
    ("lomax", "1 - (1 + x)**-1.8771398388773268", 0.5466594668683636),
    ("mielke", "x**10.4/(1 + x**4.6)**(10.4/4.6)", 1.349618691515605),
    ("pareto", "1 - x**-2.621716532144454", 1.4026319251682748),
    ("powerlaw", "x**1.659113328990585", 0.7585059671746921),
    ("rayleigh", "1 - exp(-x**2/2)", 1.2774100225154748),
    ("semicircular", "0.5 + (x*sqrt(1 - x**2) + arcsin(x))/pi", 0.1),
    ("truncexpon", "-expm1(-x)/(-expm1(-4.690772545681048))", 0.784009465173214),
    ("truncpareto", "(1 - x**-1.8)/(1 - 5.3**-1.8)", 1.5306631529858066),
    ("uniform", "x", 0.6),
    ("weibull_max", "exp(-(-x)**2.8687961709100187)", -0.7800659430863567),
    ("weibull_min", "1 - exp(-x**1.7866166930421596)", 0.9145303686501991),
]

# TestJacobian.test_examples: rng(458912319542).random(m) for the m inputs of each function
SCIPY_X = [0.9617684932329527, 0.2457103835496781, 0.9236224825972241, 0.8795635485451425]
SCIPY_X5 = [*SCIPY_X, 0.16395327568845386]
SCIPY_JACOBIANS = [  # (test function, its components, variables, point)
    ("f1", ["x**2*y", "5*x + sin(y)"], ["x", "y"], SCIPY_X[:2]),
    ("f2", ["r*cos(phi)", "r*sin(phi)"], ["r", "phi"], SCIPY_X[:2]),
    (
        "f3",
        ["r*sin(phi)*cos(th)", "r*sin(phi)*sin(th)", "r*cos(phi)"],
        ["r", "phi", "th"],
        SCIPY_X[:3],
    ),
    ("f4", ["x1", "5*x3", "4*x2**2 - 2*x3", "x3*sin(x1)"], ["x1", "x2", "x3"], SCIPY_X[:3]),
    ("f5", ["5*x2", "4*x1**2 - 2*sin(x2*x3)", "x2*x3"], ["x1", "x2", "x3"], SCIPY_X[:3]),
]


def scipy_rosen(n: int) -> str:
    """scipy.optimize.rosen: Σ 100(x[i+1] − x[i]²)² + (1 − x[i])²."""
    return " + ".join(f"100*(x{i + 1} - x{i}**2)**2 + (1 - x{i})**2" for i in range(n - 1))


def scipy_cases() -> list[Case]:
    cases = [
        d1(cdf, x, f"{SCIPY}::TestDerivative::test_accuracy[{name}]") for name, cdf, x in SCIPY_CDFS
    ]
    return cases + scipy_derivative_tests() + scipy_jacobian_tests() + scipy_hessian_tests()


def scipy_derivative_tests() -> list[Case]:
    t = f"{SCIPY}::TestDerivative"
    cases = [
        d1(f, 0.0, f"{t}::test_preserve_shape")
        for f in ["x", "sin(3*x)", "x + sin(10*x)", "sin(20*x)*(x - 1)**2"]
    ]
    cases += [
        d1(f"x**{p}", x, f"{t}::test_vectorized_step_direction_args")
        for p in (2, 3)
        for x in (1, 2, 3, 4)
    ]
    cases += [d1("x**99 - 1", 7.0, f"{t}::test_special_cases")]
    cases += [d1(f"2*x**{n}", 1.5, f"{t}::test_special_cases") for n in range(6)]
    cases += [d1("3*x - 1", 2.0, f"{t}::test_special_cases")]
    cases += [
        d1("(x - 1)**3", 1.0, f"{t}::test_saddle_gh18811"),
        d1("where(x > 1, (x - 1)**5, (x - 1)**3)", 1.0, f"{t}::test_saddle_gh18811"),
    ]
    cases += [d1(f"x**{p} + {c}*x", 1.23, f"{t}::test_kwargs") for p, c in ((2, 1), (3, 2), (4, 3))]
    # exp, undefined outside [0, 2] as the test's NaNs make it (sqrt of a negative is NaN)
    edge = "exp(x) + 0*sqrt(x) + 0*sqrt(2 - x)"
    cases += [
        d1(edge, x, f"{t}::test_step_direction")
        for x in (0.0, 0.2222222222222222, 1.7777777777777777, 2.0)
    ]
    cases += [d1("exp(x)", x, f"{t}::test_dtype") for x in (0.65, 0.7)]
    cases += [d1("exp(x)", 0.0, f"{t}::test_initial_step")]
    cases += [d1("x - 2.5", 1.0, f"{t}::test_flags"), d1("exp(x)", 1.0, f"{t}::test_flags")]
    return cases


def scipy_jacobian_tests() -> list[Case]:
    t = f"{SCIPY}::TestJacobian"
    cases = [
        case("gradient", f, names, x, f"{t}::test_examples[{name}]")
        for name, components, names, x in SCIPY_JACOBIANS
        for f in components
    ]
    cases.append(case("gradient", scipy_rosen(5), xs(5), SCIPY_X5, f"{t}::test_examples[rosen]"))
    cases += [
        case("gradient", f, ["x", "y"], [0.5, 0.25], f"{t}::test_attrs")
        for f in ["cos(0.5*x)*cos(y)", "sin(2*x)*y**2"]
    ]
    b = [0.2744681434919015, 0.6688137913377913, 0.017435891394737557]  # rng(23892589425245)
    _, f5, names, _ = SCIPY_JACOBIANS[4]
    cases += [case("gradient", f, names, b, f"{t}::test_step_direction_size") for f in f5]
    return cases


def scipy_hessian_tests() -> list[Case]:
    t = f"{SCIPY}::TestHessian"
    return [
        case("hessian", scipy_rosen(3), xs(3), SCIPY_X[:3], f"{t}::test_example"),
        case("hessian", "sin(x)*y**3", ["x", "y"], [0.5, 0.25], f"{t}::test_nfev"),
        d2("sin(x)", 1.0, f"{t}::test_small_rtol_warning"),
    ]


# ---------------------------------------------------------------- numdifftools' tests

# example_functions.function_names, each differentiated once and twice at x = 0.5
# (TestExampleFunctions.test_first_order_derivative and test_high_order_derivative)
NDT_FUNCTIONS = [
    "cos", "sin", "tan", "cosh", "sinh", "tanh", "arcsinh", "exp", "expm1", "exp2",
    "square", "sqrt", "log", "log1p", "log10", "log2", "arccos", "arcsin", "arctan",
]  # fmt: skip

# TestJacobian.test_on_vector_valued_function: (c0 + c1·exp(c2·t) − y(t))² with
# y = 1 + 2·exp(0.75·t), at c = (1, 2, 0.75) where every residual, so the gradient, is 0
NDT_RESIDUAL = "(c0 + c1*exp(c2*{t}) - (1 + 2*exp(0.75*{t})))**2"

# TestHessian.test_run_hamiltonian: two ions in a trap, 0.5·m·w²·Σx² + C/|x0 − x1| (SI
# units: C = e²/(4π·ε0), m = 39.96·1.66e-27, w = 2π·1e6), at its minimum x = ±(C/(4mw²))^(1/3)
NDT_HAMILTONIAN = "1.3093727810002018e-12*(x0**2 + x1**2) + 2.307077550778355e-28/abs(x0 - x1)"
NDT_HAMILTONIAN_X = [-2.803085205378597e-06, 2.803085205378597e-06]


def numdifftools_cases() -> list[Case]:
    examples = [
        kind(f"{name}(x)" if name != "square" else "x**2", 0.5, f"{NDT_EXAMPLES}::{test}[{name}]")
        for kind, test in ((d1, "test_first_order_derivative"), (d2, "test_high_order_derivative"))
        for name in NDT_FUNCTIONS
    ]
    return (
        examples
        + numdifftools_derivative_tests()
        + numdifftools_gradient_tests()
        + numdifftools_hessian_tests()
    )


def numdifftools_derivative_tests() -> list[Case]:
    t = f"{NDT}::TestDerivative"
    cases = [d1("cos(x)", math.pi / 2, f"{t}::test_high_order_derivative_cos")]
    cases += [d2("cos(x)", math.pi / 2, f"{t}::test_high_order_derivative_cos")]
    examples = (7.6564547238847105, 8.9428143931508, 2.2204460492503134e-14)
    cases += [
        kind("cos(x)", x, f"{t}::test_derivative_of_cos_x") for kind in (d1, d2) for x in examples
    ]
    # func(x, a, b) = b·a·x³ called with a = 1, b = 2
    cases += [
        kind("2*x**3", x, f"{t}::test_fun_with_additional_parameters")
        for kind in (d1, d2)
        for x in (0.0, 1.0)
    ]
    cases += [
        d1("x*x*x", 2.0, f"{t}::test_derivative_cube"),
        d1("exp(x)", 0.0, f"{t}::test_derivative_exp"),
    ]
    sines = np.linspace(0, 2 * np.pi, 13)
    cases += [d1("sin(x)", float(x), f"{t}::test_derivative_sin") for x in sines]
    cases += [d1("sinh(x)", 0.0, f"{t}::test_backward_derivative_on_sinh")]
    cases += [d1("log(x)", 0.001, f"{t}::test_central_and_forward_derivative_on_log")]
    return cases


def numdifftools_gradient_tests() -> list[Case]:
    j, g = f"{NDT}::TestJacobian", f"{NDT}::TestGradient"
    xyz = ["x", "y", "z"]
    cases = [case("gradient", "x*y*z + exp(x)*y", xyz, [3, 5, 7], f"{j}::test_on_scalar_function")]
    c = ["c0", "c1", "c2"]
    cases += [
        case(
            "gradient",
            NDT_RESIDUAL.format(t=t),
            c,
            [1, 2, 0.75],
            f"{j}::test_on_vector_valued_function",
        )
        for t in ("0.3", "0.6", "0.9")
    ]
    cases += [
        case("gradient", f, xs(2), x, f"{j}::test_on_matrix_valued_function")
        for f in ("x0**2 + x1**2", "x0**3 + x1**3")
        for x in ([1, 2], [3, 4], [4, 8])
    ]
    cases += [case("gradient", "x0**2 + x1**2 - 1", xs(2), [1, 2], f"{j}::test_issue_68")]
    cases += [
        case("gradient", f, xs(3), x, f"{j}::test_issue_25")
        for f in ("x0*x1*x2**2", "x0*x1*x2")
        for x in ([1, 2, 3], [4, 5, 6])
    ]
    cases += [case("gradient", "1/(exp(x0) + cos(x1) + 10)", xs(2), [1, 2], f"{g}::test_issue_39")]
    rosen = "(1 - x0)**2 + 105*(x1 - x0**2)**2"  # numdifftools.testing.rosen
    cases += [case("gradient", rosen, xs(2), [2, 3], f"{g}::test_directional_diff")]
    cases += [case("gradient", "x0**2 + x1**2 + x2**2", xs(3), [1, 2, 3], f"{g}::test_gradient")]
    return cases


def numdifftools_hessian_tests() -> list[Case]:
    d, h = f"{NDT}::TestHessdiag", f"{NDT}::TestHessian"
    examples: list[list[float]] = [
        [1, 2, 3],
        [0.0, 16.003907623933742, 68.02057249966789],
        [1.2009289063e-314] * 3,
        [88.01663712016305] * 3,
        [0.0, 19.945812226807096, 54.11322414875562],
    ]
    cases = [
        case("hessian", "x0 + x1**2 + x2**3", xs(3), x, f"{d}::test_fixed_step") for x in examples
    ]
    cases += [
        case("hessian", "cos(x0 - x1)", xs(2), [0, 0], f"{h}::test_hessian_cos_x_y_at_0_0"),
        case(
            "hessian",
            "x*y*z + exp(x)*y",
            ["x", "y", "z"],
            [3, 5, 7],
            f"{h}::test_on_scalar_function",
        ),
        case("hessian", "cos(x*y)", ["x", "y"], [3, 5], f"{h}::test_on_vector_valued_function"),
        case("hessian", "sin(x*y)", ["x", "y"], [3, 5], f"{h}::test_on_vector_valued_function"),
        case("hessian", NDT_HAMILTONIAN, xs(2), NDT_HAMILTONIAN_X, f"{h}::test_run_hamiltonian"),
        case(
            "hessian",
            NDT_RESIDUAL.format(t="0.6"),
            ["c0", "c1", "c2"],
            [1, 2, 0.75],
            f"{NDT}::TestJacobian::test_on_vector_valued_function",
        ),
    ]
    return cases


# ---------------------------------------------------------------- papers' test functions

# (problem in the benchmark, expression, test point, interval, paper)
PAPER_PROBLEMS = [
    ("PolynomialProblem", "x**2", 1.0, (-12.0, 12.0), "polynomial problem"),
    ("InverseProblem", "1/x", 1.0, (0.01, 12.0), OLIVER),
    ("ExponentialProblem", "exp(x)", 1.0, (0.0, 12.0), f"{DV}, problem 1"),
    ("LogarithmicProblem", "log(x)", 1.0, (0.01, 12.0), f"{DV}, problem 2"),
    ("SquareRootProblem", "sqrt(x)", 1.0, (0.01, 12.0), f"{DV}, problem 3"),
    ("AtanProblem", "arctan(x)", 0.5, (-12.0, 12.0), f"{DV}, problem 4"),
    ("SinProblem", "sin(x)", 1.0, (-math.pi, math.pi), f"{DV}, problem 5"),
    ("ScaledExponentialProblem", "exp(-1e-6*x)", 1.0, (0.0, 12.0), "scaled exponential"),
    (
        "GMSWExponentialProblem",
        "(exp(x) - 1)**2 + (1/sqrt(1 + x**2) - 1)**2",
        1.0,
        (0.001, 12.0),
        f"{GMSW}, eq. 4 p. 312",
    ),
    ("SXXNProblem1", "(exp(x) - 1)**2", -8.0, (-12.0, 12.0), f"{SXXN}, problem 1"),
    ("SXXNProblem2", "exp(100*x)", 0.01, (-1.0, 1.0), f"{SXXN}, problem 2"),
    ("SXXNProblem3", "x**4 + 3*x**2 - 10*x", 0.99999, (-12.0, 12.0), f"{SXXN}, problem 3"),
    ("SXXNProblem4", "1e4*x**3 + 0.01*x**2 + 5*x", 1e-9, (-12.0, 12.0), f"{SXXN}, problem 4"),
    ("OliverProblem1", "exp(4*x)", 1.0, (-12.0, 12.0), OLIVER),
    ("OliverProblem2", "exp(x**2)", 1.0, (-12.0, 12.0), OLIVER),
    ("OliverProblem3", "x**2*log(x)", 1.0, (0.01, 12.0), OLIVER),
]


def paper_cases() -> list[Case]:
    """f' and f'' at each problem's test point, and f' at its interval's ends and middle
    (the benchmark's sweep over the interval)."""
    cases = []
    for problem, expression, x, (low, high), paper in PAPER_PROBLEMS:
        source = f"{paper}; {BENCHMARK}::{problem}"
        cases += [d1(expression, x, source), d2(expression, x, source)]
        cases += [d1(expression, t, f"{source}, interval") for t in (low, (low + high) / 2, high)]
    return cases


# ---------------------------------------------------------------- Moré-Garbow-Hillstrom

BARD_Y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39]
GAUSSIAN_Y = [.0009, .0044, .0175, .0540, .1295, .2420, .3521, .3989, .3521, .2420, .1295, .0540,
              .0175, .0044, .0009]  # fmt: skip
MEYER_Y = [34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147, 4427,
           3820, 3307, 2872]  # fmt: skip
KOWALIK_Y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246]
KOWALIK_U = [4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625]


def squares(residuals: Iterable[str]) -> str:
    return " + ".join(f"({r})**2" for r in residuals)


def mgh_data_fits() -> list[tuple[str, str, list[float]]]:
    """Problems 6, 8, 9, 10, 15: least squares on the paper's data."""
    jennrich = squares(f"{2 + 2 * i} - exp({i}*x0) - exp({i}*x1)" for i in range(1, 11))
    bard = squares(
        f"{y} - (x0 + {i}/({16 - i}*x1 + {min(i, 16 - i)}*x2))" for i, y in enumerate(BARD_Y, 1)
    )
    gaussian = squares(
        f"x0*exp(-x1*({(8 - i) / 2} - x2)**2/2) - {y}" for i, y in enumerate(GAUSSIAN_Y, 1)
    )
    meyer = squares(f"x0*exp(x1/({45 + 5 * i} + x2)) - {y}" for i, y in enumerate(MEYER_Y, 1))
    kowalik = squares(
        f"{y} - x0*({u}**2 + {u}*x1)/({u}**2 + {u}*x2 + x3)"
        for y, u in zip(KOWALIK_Y, KOWALIK_U, strict=True)
    )
    return [
        ("6 Jennrich and Sampson (m = 10)", jennrich, [0.3, 0.4]),
        ("8 Bard", bard, [1, 1, 1]),
        ("9 Gaussian", gaussian, [0.4, 1, 0]),
        ("10 Meyer", meyer, [0.02, 4000, 250]),
        ("15 Kowalik and Osborne", kowalik, [0.25, 0.39, 0.415, 0.39]),
    ]


def box_3d() -> str:
    # exp(−10t) written exp(−t·10) so that the residuals vanish exactly at (1, 10, 1)
    return squares(
        f"exp(-{t}*x0) - exp(-{t}*x1) - x2*(exp(-{t}) - exp(-{t}*10))"
        for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    )


def biggs_exp6() -> str:
    # m = 10, y_i to 12 digits and e^(-t·x) as 1/e^(t·x): the paper's m = 13 passes Nabla's
    # limits (1000 characters, 500 syntax nodes)
    residuals = []
    for i in range(1, 11):
        t = round(0.1 * i, 1)
        y = math.exp(-t) - 5 * math.exp(-10 * t) + 3 * math.exp(-4 * t)
        residuals.append(f"x2/exp({t}*x0) - x3/exp({t}*x1) + x5/exp({t}*x4) - {y:.12g}")
    return squares(residuals)


def mgh_scalable() -> list[tuple[str, str, list[float]]]:
    """Problems 21 and 23-32 (those of n variables) at a small n."""
    n = 6
    s = " + ".join(f"{i}*(x{i - 1} - 1)" for i in range(1, n + 1))
    variably = " + ".join(f"(x{i} - 1)**2" for i in range(n)) + f" + ({s})**2 + ({s})**4"
    cosines = " + ".join(f"cos(x{j})" for j in range(n))
    trigonometric = squares(
        f"{n} - ({cosines}) + {i + 1}*(1 - cos(x{i})) - sin(x{i})" for i in range(n)
    )
    total = " + ".join(f"x{j}" for j in range(5))
    brown = squares([*(f"x{i} + ({total}) - 6" for i in range(4)), "x0*x1*x2*x3*x4 - 1"])
    linear = squares(f"x{i} - 2/5*({total}) - 1" for i in range(5))
    return [
        (
            "21 extended Rosenbrock (n = 4)",
            "100*(x1 - x0**2)**2 + (1 - x0)**2 + 100*(x3 - x2**2)**2 + (1 - x2)**2",
            [-1.2, 1, -1.2, 1],
        ),
        (
            "23 penalty I (n = 4)",
            "1e-5*((x0 - 1)**2 + (x1 - 1)**2 + (x2 - 1)**2 + (x3 - 1)**2)"
            " + (x0**2 + x1**2 + x2**2 + x3**2 - 0.25)**2",
            [1, 2, 3, 4],
        ),
        ("24 penalty II (n = 4)", penalty_ii(), [0.5] * 4),
        (f"25 variably dimensioned (n = {n})", variably, [1 - i / n for i in range(1, n + 1)]),
        (f"26 trigonometric (n = {n})", trigonometric, [1 / n] * n),
        ("27 Brown almost-linear (n = 5)", brown, [0.5] * 5),
        (
            "28 discrete boundary value (n = 5)",
            boundary_value(5),
            [t * (t - 1) for t in ((i + 1) / 6 for i in range(5))],
        ),
        ("30 Broyden tridiagonal (n = 5)", broyden_tridiagonal(5), [-1] * 5),
        ("31 Broyden banded (n = 5)", broyden_banded(5), [-1] * 5),
        ("32 linear function, full rank (n = m = 5)", linear, [1] * 5),
    ]


def penalty_ii() -> str:
    pairs = [
        f"exp(x{i}/10) + exp(x{i - 1}/10) - exp({(i + 1) / 10}) - exp({i / 10})" for i in (1, 2, 3)
    ]
    singles = [f"exp(x{i}/10) - exp(-0.1)" for i in (1, 2, 3)]
    weighted = " + ".join(f"{4 - j}*x{j}**2" for j in range(4))
    return f"(x0 - 0.2)**2 + 1e-5*({squares(pairs + singles)}) + ({weighted} - 1)**2"


def boundary_value(n: int) -> str:
    def x(i: int) -> str:  # x_0 = x_{n+1} = 0
        return f"x{i - 1}" if 1 <= i <= n else "0"

    # h²/2 · (x_i + t_i + 1)³ with h = 1/(n + 1), t_i = i·h
    return squares(
        f"2*{x(i)} - {x(i - 1)} - {x(i + 1)} + ({x(i)} + {i}/{n + 1} + 1)**3/{2 * (n + 1) ** 2}"
        for i in range(1, n + 1)
    )


def broyden_tridiagonal(n: int) -> str:
    def x(i: int) -> str:
        return f"x{i - 1}" if 1 <= i <= n else "0"

    return squares(
        f"(3 - 2*{x(i)})*{x(i)} - {x(i - 1)} - 2*{x(i + 1)} + 1" for i in range(1, n + 1)
    )


def broyden_banded(n: int) -> str:
    residuals = []
    for i in range(1, n + 1):
        band = [j for j in range(max(1, i - 5), min(n, i + 1) + 1) if j != i]
        neighbours = " - ".join(f"x{j - 1}*(1 + x{j - 1})" for j in band)
        residuals.append(f"x{i - 1}*(2 + 5*x{i - 1}**2) + 1 - {neighbours}")
    return squares(residuals)


def mgh_problems() -> list[tuple[str, str, list[float]]]:
    return [
        ("1 Rosenbrock", "100*(x1 - x0**2)**2 + (1 - x0)**2", [-1.2, 1]),
        (
            "2 Freudenstein and Roth",
            "(-13 + x0 + ((5 - x1)*x1 - 2)*x1)**2 + (-29 + x0 + ((x1 + 1)*x1 - 14)*x1)**2",
            [0.5, -2],
        ),
        ("3 Powell badly scaled", "(1e4*x0*x1 - 1)**2 + (exp(-x0) + exp(-x1) - 1.0001)**2", [0, 1]),
        ("4 Brown badly scaled", "(x0 - 1e6)**2 + (x1 - 2e-6)**2 + (x0*x1 - 2)**2", [1, 1]),
        (
            "5 Beale",
            "(1.5 - x0*(1 - x1))**2 + (2.25 - x0*(1 - x1**2))**2 + (2.625 - x0*(1 - x1**3))**2",
            [1, 1],
        ),
        # x0 < 0 at the starting point: θ = arctan(x1/x0)/(2π) + 1/2
        (
            "7 helical valley",
            "100*(x2 - 10*(arctan(x1/x0)/(2*pi) + 0.5))**2 + 100*(sqrt(x0**2 + x1**2) - 1)**2"
            " + x2**2",
            [-1, 0, 0],
        ),
        *mgh_data_fits(),
        ("12 Box three-dimensional (m = 10)", box_3d(), [0, 10, 20]),
        (
            "13 Powell singular",
            "(x0 + 10*x1)**2 + 5*(x2 - x3)**2 + (x1 - 2*x2)**4 + 10*(x0 - x3)**4",
            [3, -1, 0, 1],
        ),
        (
            "14 Wood",
            "100*(x1 - x0**2)**2 + (1 - x0)**2 + 90*(x3 - x2**2)**2 + (1 - x2)**2"
            " + 10*(x1 + x3 - 2)**2 + 0.1*(x1 - x3)**2",
            [-3, -1, -3, -1],
        ),
        ("18 Biggs EXP6 (m = 10)", biggs_exp6(), [1, 2, 1, 1, 1, 1]),
        *mgh_scalable(),
    ]


# Minimizers where every residual vanishes exactly, with the numbers as float64 values: the
# gradient is exactly 0 there.
MGH_MINIMA: dict[str, list[float]] = {
    "1 Rosenbrock": [1, 1],
    "2 Freudenstein and Roth": [5, 4],
    "5 Beale": [3, 0.5],
    "12 Box three-dimensional (m = 10)": [1, 10, 1],
    "13 Powell singular": [0, 0, 0, 0],
    "14 Wood": [1, 1, 1, 1],
    "21 extended Rosenbrock (n = 4)": [1, 1, 1, 1],
    "25 variably dimensioned (n = 6)": [1] * 6,
    "32 linear function, full rank (n = m = 5)": [-1] * 5,
}
HELICAL_MINIMUM = "100*(x2 - 10*arctan(x1/x0)/(2*pi))**2 + 100*(sqrt(x0**2 + x1**2) - 1)**2 + x2**2"


def mgh_cases() -> list[Case]:
    """The gradient at x0 and 10·x0 (the paper's starting points), the Hessian at x0, and
    the gradient at the minimizers of MGH_MINIMA."""
    cases = []
    for name, expression, x0 in mgh_problems():
        source = f"{MGH}, problem {name}"
        names = xs(len(x0))
        cases += [
            case("gradient", expression, names, x0, source),
            case("gradient", expression, names, [10 * v for v in x0], f"{source}, at 10·x0"),
            case("hessian", expression, names, x0, source),
        ]
        if name in MGH_MINIMA:
            cases.append(
                case("gradient", expression, names, MGH_MINIMA[name], f"{source}, at its minimum")
            )
    source = f"{MGH}, problem 7 helical valley, at its minimum (the x0 > 0 branch)"
    cases.append(case("gradient", HELICAL_MINIMUM, xs(3), [1, 0, 0], source))
    return cases

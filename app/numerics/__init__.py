"""Finite differences on arrays: derivatives, gradients, gradient fields and Hessians.

Pure NumPy, no HTTP. A function here is any `f(rows) -> values` that takes one array per
variable (all broadcastable to one shape) and returns f at every point, vectorized — the
shape `app.expressions.Expression.bind` produces. One call of `f` evaluates every point at
once; Python loops run only over coordinates and stencil offsets, never over points.

The stencil for derivative order m with offsets o_k (in units of the step h) is

    f^(m)(x) ≈ (1 / h^m) · Σ_k w_k · f(x + o_k·h),      truncation error O(h^p),

with weights w_k from Fornberg's recursion (exact rationals, so no hand-typed tables).

The modules, each importing only those above it:

- `exceptions`: what the engine raises (`ValueError`s; the service maps them to HTTP);
- `stencils`: the types, Fornberg weights, stencils and the validated options;
- `checks`: the automatic step and its checks (too wide for f, or too narrow);
- `core`: the stencil sum, one partial derivative at all points at once;
- `bounds`: error bounds (truncation, rounding in and of f, smaller steps);
- `ladders`: re-estimating points whose step failed its check;
- `tolerance`: re-estimating to a tolerance, high-order stencils at steps fitted to f;
- `second`: Hessians (diagonal and mixed terms, each checked);
- `first`: derivatives and gradients at many points, the blocked engine;
- `fields`: gradients on grids, from broadcast views of the axes;
- `lessons`: the notebook's step-size study and gradient descent.
"""

from .checks import STEP_ERROR, automatic_step, representable, step_too_wide, steps_for
from .core import Gradient, Hessian, complex_partial, partial, stencil_sum
from .exceptions import MethodUnavailable, NumericsError, OptionError, ShapeError
from .fields import (
    MAX_GRID_AXES,
    GradientField,
    GridPoints,
    gradient_field,
    grid_positions,
    grid_rows,
)
from .first import BLOCK, FEW, FLOATS, Derivative, derivative, gradient
from .higher import higher_derivative
from .ladders import GROW_LEVELS, SHRINK_FACTOR, SHRINK_LEVELS, ladder_evaluations
from .lessons import Descent, StepStudy, descent, step_study
from .second import hessian
from .stencils import (
    ACCURACIES,
    COMPLEX_STEP,
    EPS,
    METHODS,
    Array,
    Function,
    Indexing,
    Method,
    Options,
    Stencil,
    Tolerance,
    arrays_alive,
    check_options,
    evaluation_count,
    fornberg_weights,
    hessian_evaluations,
    smallest_step,
    stencil,
)
from .tolerance import hessian_tolerance_evaluations, tolerance_evaluations

__all__ = [
    "ACCURACIES",
    "BLOCK",
    "COMPLEX_STEP",
    "EPS",
    "FEW",
    "FLOATS",
    "GROW_LEVELS",
    "MAX_GRID_AXES",
    "METHODS",
    "SHRINK_FACTOR",
    "SHRINK_LEVELS",
    "STEP_ERROR",
    "Array",
    "Derivative",
    "Descent",
    "Function",
    "Gradient",
    "GradientField",
    "GridPoints",
    "Hessian",
    "Indexing",
    "Method",
    "MethodUnavailable",
    "NumericsError",
    "OptionError",
    "Options",
    "ShapeError",
    "Stencil",
    "StepStudy",
    "Tolerance",
    "arrays_alive",
    "automatic_step",
    "check_options",
    "complex_partial",
    "derivative",
    "descent",
    "evaluation_count",
    "fornberg_weights",
    "gradient",
    "gradient_field",
    "grid_positions",
    "grid_rows",
    "hessian",
    "hessian_evaluations",
    "hessian_tolerance_evaluations",
    "higher_derivative",
    "ladder_evaluations",
    "partial",
    "representable",
    "smallest_step",
    "stencil",
    "stencil_sum",
    "step_study",
    "step_too_wide",
    "steps_for",
    "tolerance_evaluations",
]

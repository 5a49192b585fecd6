// Nabla's demo page: three views, every number fetched from the API of the server that
// serves this page. Plain JavaScript, no build step; Plotly is the vendored global `Plotly`.
"use strict";

// A log axis has no 0: errors below this floor (exact results) are drawn on it.
const LOG_FLOOR = 1e-17;
const INK = "#1d2733";
const ARROW = "#666666";
const ACCENT = "#1f5f99";
const METHOD_COLORS = {
  forward: "#d1495b",
  backward: "#edae49",
  central: "#1f5f99",
  complex: "#3a9d5d",
};
const PLOT_CONFIG = { responsive: true, displaylogo: false };
// The legend goes under the plot: above it, Plotly's toolbar (top right) covered its text.
const BASE_LAYOUT = {
  margin: { l: 64, r: 16, t: 32, b: 52 },
  font: { family: "system-ui, sans-serif", color: INK, size: 13 },
  legend: { orientation: "h", x: 0, y: -0.24, yanchor: "top" },
  hovermode: "closest",
  paper_bgcolor: "#ffffff",
  plot_bgcolor: "#ffffff",
};

// An error that belongs next to one input: `field` is the API's request field
// (`expression`, `range.step`, `grid[1].num`, ...) or a name of this page's own.
class FieldError extends Error {
  constructor(message, field) {
    super(message);
    this.field = field;
  }
}

async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (error) {
    throw new FieldError(`Could not reach ${path}: ${error.message}.`, null);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : `${path} answered ${response.status}.`;
    throw new FieldError(detail, data && data.field ? data.field : null);
  }
  return data;
}

// Run requests side by side; if any fails, raise all their errors together, so that a bad
// range and a bad expression are both shown at once.
async function all(requests) {
  const results = await Promise.allSettled(requests);
  const failures = results.filter((result) => result.status === "rejected");
  if (failures.length > 0) {
    throw new AggregateError(failures.map((failure) => failure.reason));
  }
  return results.map((result) => result.value);
}

// ---------------------------------------------------------------- reading the inputs

function text(id) {
  return document.getElementById(id).value.trim();
}

function number(id, field, label) {
  const raw = text(id);
  const value = Number(raw);
  if (raw === "" || !Number.isFinite(value)) {
    throw new FieldError(`\`${label}\` must be a finite number; got "${raw}".`, field);
  }
  return value;
}

function integer(id, field, label) {
  const value = number(id, field, label);
  if (!Number.isInteger(value) || value < 0) {
    throw new FieldError(`\`${label}\` must be a whole number ≥ 0; got ${value}.`, field);
  }
  return value;
}

function numberList(id, field, label) {
  const raw = text(id);
  const parts = raw.split(/[\s,;]+/).filter(Boolean);
  const values = parts.map(Number);
  if (parts.length === 0 || !values.every(Number.isFinite)) {
    throw new FieldError(
      `\`${label}\` must be numbers separated by commas, e.g. "5, 10"; got "${raw}".`,
      field,
    );
  }
  return values;
}

// The demo draws every sample in the browser: more than this makes it crawl.
const MOST_SAMPLES = 20000;

function arange(prefix, field, label, most = MOST_SAMPLES) {
  const spec = {
    start: number(`${prefix}-start`, field, `${label} from`),
    stop: number(`${prefix}-stop`, field, `${label} to`),
    step: number(`${prefix}-step`, field, `${label} step`),
  };
  const count = Math.ceil((spec.stop - spec.start) / spec.step);
  if (spec.step !== 0 && count > most) {
    const least = Math.abs(spec.stop - spec.start) / most;
    throw new FieldError(
      `“${label} step” ${spec.step} makes ${count.toLocaleString("en")} points from ` +
        `${spec.start} to ${spec.stop}; this page draws at most ${most.toLocaleString("en")}: ` +
        `use a step of at least ${fmt(least)}.`,
      field,
    );
  }
  return spec;
}

// ---------------------------------------------------------------- small helpers

function fmt(value) {
  return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : "—";
}

function finite(values) {
  return values.filter(Number.isFinite);
}

function span(values) {
  const xs = finite(values);
  return xs.length === 0 ? [0, 1] : [Math.min(...xs), Math.max(...xs)];
}

function draw(plot, traces, layout) {
  return Plotly.react(plot, traces, { ...BASE_LAYOUT, ...layout }, PLOT_CONFIG);
}

// ---------------------------------------------------------------- (a) f and its tangents

async function tangentsView(plot, note) {
  const expression = text("tangents-expression");
  const range = arange("tangents", "range", "x");
  const points = numberList("tangents-points", "points", "tangents at");
  const [curve, touch] = await all([
    post("/derivative", { expression, range }),
    post("/derivative", { expression, points }),
  ]);
  const [xmin, xmax] = span(curve.points);
  const [ymin, ymax] = span(curve.values);
  const pad = 0.08 * (ymax - ymin || 1);
  const traces = [tangentTrace(curve)];
  const slopes = [];
  touch.points.forEach((a, i) => {
    const slope = touch.derivatives[i];
    const intercept = touch.intercepts[i];
    if (Number.isFinite(slope) && Number.isFinite(intercept)) {
      traces.push(tangentLine(a, slope, intercept, xmin, xmax, traces.length));
      slopes.push(`f′(${fmt(a)}) = ${fmt(slope)}`);
    } else {
      slopes.push(`f′(${fmt(a)}) is not finite: no tangent`);
    }
  });
  traces.push({
    x: touch.points,
    y: touch.values,
    mode: "markers",
    name: "points of contact",
    marker: { color: INK, size: 8 },
  });
  await draw(plot, traces, {
    xaxis: { title: { text: "x" }, range: [xmin, xmax], zeroline: false },
    yaxis: { title: { text: "f(x)" }, range: [ymin - pad, ymax + pad] },
  });
  plot.dataset.points = String(finite(curve.values).length);
  plot.dataset.tangents = String(traces.length - 2);
  note.textContent = `${slopes.join("; ")} (${touch.method} differences).`;
}

function tangentTrace(curve) {
  return {
    x: curve.points,
    y: curve.values,
    mode: "lines",
    name: "f(x)",
    line: { color: INK, width: 2.5 },
  };
}

function tangentLine(a, slope, intercept, xmin, xmax, index) {
  const colors = ["#d1495b", "#00798c", "#edae49", "#66a182", "#8e6c8a"];
  return {
    x: [xmin, xmax],
    y: [slope * xmin + intercept, slope * xmax + intercept],
    mode: "lines",
    name: `tangent at x = ${fmt(a)}, slope ${fmt(slope)}`,
    meta: { at: a, slope, intercept },
    line: { color: colors[(index - 1) % colors.length], dash: "dash", width: 2 },
  };
}

// ---------------------------------------------------------------- (b) error vs step

async function stepsView(plot, note) {
  const expression = text("steps-expression");
  const point = number("steps-point", "point", "at x");
  const study = await post("/step-study", { expression, point });
  const traces = [];
  let clamped = 0;
  for (const [method, errors] of Object.entries(study.errors)) {
    const trace = errorTrace(method, study.steps, errors);
    clamped += trace.meta.clamped;
    traces.push(trace);
  }
  await draw(plot, traces, {
    xaxis: { title: { text: "step h" }, type: "log", exponentformat: "power" },
    yaxis: { title: { text: "|estimate − exact|" }, type: "log", exponentformat: "power" },
  });
  plot.dataset.points = String(traces.reduce((sum, trace) => sum + trace.x.length, 0));
  const best = Object.entries(study.best_step)
    .map(([method, step]) => `${method} ${fmt(step)}`)
    .join(", ");
  const floor = clamped > 0 ? ` Errors of exactly 0 are drawn at ${LOG_FLOOR}: a log axis has no 0.` : "";
  note.textContent =
    `Exact: f′(x) = ${study.derivative} = ${fmt(study.reference)} at x = ${fmt(study.point)}. ` +
    `Smallest error at h = ${best}.${floor}`;
}

function errorTrace(method, steps, errors) {
  const x = [];
  const y = [];
  let clamped = 0;
  errors.forEach((error, i) => {
    if (error === null) {
      return;
    }
    x.push(steps[i]);
    y.push(Math.max(error, LOG_FLOOR));
    clamped += error < LOG_FLOOR ? 1 : 0;
  });
  return {
    x,
    y,
    mode: "lines+markers",
    name: clamped > 0 ? `${method} (${clamped} at the 1e-17 floor: error 0)` : method,
    meta: { clamped },
    line: { color: METHOD_COLORS[method] || INK, width: 2 },
    marker: { size: 6 },
  };
}

// ---------------------------------------------------------------- (c) −∇f and descent

async function fieldView(plot, note) {
  const expression = text("field-expression");
  const grid = [
    arange("field-x0", "grid[0]", "x0", 100),
    arange("field-x1", "grid[1]", "x1", 100),
  ];
  const init = [
    number("field-init-x0", "init", "start x0"),
    number("field-init-x1", "init", "start x1"),
  ];
  const learning_rate = number("field-rate", "learning_rate", "learning rate");
  const steps = integer("field-iterations", "steps", "steps");
  const [field, descent] = await all([
    post("/gradient-field", { expression, grid }),
    post("/descent", { expression, init, learning_rate, steps }),
  ]);
  const spacing = Math.min(Math.abs(grid[0].step), Math.abs(grid[1].step));
  const arrows = arrowTrace(field, spacing);
  const path = pathTraces(descent, learning_rate);
  const [x0min, x0max] = span(field.axes[0]);
  const [x1min, x1max] = span(field.axes[1]);
  const margin = spacing / 2;
  await draw(plot, [arrows, ...path], {
    // Equal scales on both axes (arrows keep their angles); the plot area shrinks to fit
    // rather than the ranges growing past the grid.
    xaxis: {
      title: { text: field.variables[0] },
      range: [x0min - margin, x0max + margin],
      constrain: "domain",
    },
    yaxis: {
      title: { text: field.variables[1] },
      range: [x1min - margin, x1max + margin],
      scaleanchor: "x",
      scaleratio: 1,
      constrain: "domain",
    },
  });
  plot.dataset.points = String(arrows.meta.arrows);
  plot.dataset.pathPoints = String(path[0].meta.points);
  note.textContent = descentSummary(descent, arrows.meta.arrows);
}

// matplotlib's quiver as line segments: one trace, arrows separated by nulls, each arrow
// −∇f scaled so that the longest is 0.9 grid spacings, with a two-stroke head.
function arrowTrace(field, spacing) {
  const [xs, ys] = field.coordinates;
  const [gx, gy] = field.gradient;
  const norms = gx.map((g, i) => Math.hypot(g, gy[i]));
  const longest = Math.max(0, ...finite(norms));
  const scale = longest > 0 ? (0.9 * spacing) / longest : 0;
  const x = [];
  const y = [];
  let arrows = 0;
  xs.forEach((x0, i) => {
    const u = -gx[i] * scale;
    const v = -gy[i] * scale;
    const length = Math.hypot(u, v);
    if (!Number.isFinite(length) || length === 0) {
      return;
    }
    const [x1, y1] = [x0 + u, ys[i] + v];
    const head = Math.min(0.35 * length, 0.25 * spacing);
    const angle = Math.atan2(v, u);
    const left = angle + Math.PI - 0.45;
    const right = angle + Math.PI + 0.45;
    x.push(x0, x1, null, x1 + head * Math.cos(left), x1, x1 + head * Math.cos(right), null);
    y.push(ys[i], y1, null, y1 + head * Math.sin(left), y1, y1 + head * Math.sin(right), null);
    arrows += 1;
  });
  return {
    x,
    y,
    mode: "lines",
    name: "−∇f",
    meta: { arrows },
    hoverinfo: "skip",
    line: { color: ARROW, width: 1.2 },
  };
}

function pathTraces(descent, learningRate) {
  const x = descent.path.map((p) => p[0]);
  const y = descent.path.map((p) => p[1]);
  const last = descent.path.length - 1;
  const points = descent.path.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
  return [
    {
      x,
      y,
      mode: "lines+markers",
      name: `descent, η = ${fmt(learningRate)}, ${descent.iterations} steps`,
      meta: { points: points.length },
      line: { color: ACCENT, width: 2 },
      marker: { color: ACCENT, size: 5 },
    },
    {
      x: [x[0], x[last]],
      y: [y[0], y[last]],
      mode: "markers",
      name: "start, end",
      marker: { color: [ACCENT, "#d1495b"], size: 11, symbol: ["circle-open", "star"] },
    },
  ];
}

function descentSummary(descent, arrows) {
  const end = descent.path[descent.path.length - 1];
  const value = descent.values[descent.values.length - 1];
  const norm = descent.gradient_norms[descent.gradient_norms.length - 1];
  const where = end.every(Number.isFinite)
    ? `ends at (${end.map(fmt).join(", ")}), f = ${fmt(value)}, ‖∇f‖ = ${fmt(norm)}`
    : "left the range of floating point: the learning rate is too large";
  const verdict = descent.converged ? "converged" : "not converged";
  return `${arrows} arrows. Descent ${where}; ${verdict} after ${descent.iterations} steps.`;
}

// ---------------------------------------------------------------- (d) curl and divergence

async function flowView(plot, note) {
  const expressions = [text("flow-f0"), text("flow-f1")];
  const operator = document.getElementById("flow-operator").value;
  const grid = [arange("flow-x0", "grid[0]", "x0", 100), arange("flow-x1", "grid[1]", "x1", 100)];
  const field = await post("/vector-field", { expressions, operator, grid });
  const spacing = Math.min(Math.abs(grid[0].step), Math.abs(grid[1].step));
  // arrowTrace draws −∇f: given −F, it draws F.
  const [f0, f1] = field.components;
  const negated = { coordinates: field.coordinates, gradient: [f0.map((v) => -v), f1.map((v) => -v)] };
  const arrows = { ...arrowTrace(negated, spacing), name: "F", line: { color: INK, width: 1.2 } };
  const [rows, columns] = field.shape; // meshgrid "xy": a row per x1 value
  const z = Array.from({ length: rows }, (_, r) => field.result.slice(r * columns, (r + 1) * columns));
  const heat = {
    type: "heatmap",
    x: field.axes[0],
    y: field.axes[1],
    z,
    name: operator,
    colorscale: "RdBu",
    zmid: 0,
    colorbar: { title: { text: operator }, thickness: 12 },
    hovertemplate: `${operator} %{z:.4g} at (%{x}, %{y})<extra></extra>`,
  };
  const [x0min, x0max] = span(field.axes[0]);
  const [x1min, x1max] = span(field.axes[1]);
  const margin = spacing / 2;
  await draw(plot, [heat, arrows], {
    xaxis: { title: { text: field.variables[0] }, range: [x0min - margin, x0max + margin], constrain: "domain" },
    yaxis: {
      title: { text: field.variables[1] },
      range: [x1min - margin, x1max + margin],
      scaleanchor: "x",
      scaleratio: 1,
      constrain: "domain",
    },
  });
  plot.dataset.points = String(arrows.meta.arrows);
  plot.dataset.cells = String(field.result.length);
  const values = finite(field.result);
  note.textContent =
    `${arrows.meta.arrows} arrows over ${values.length} cells; ${operator} from ` +
    `${fmt(Math.min(...values))} to ${fmt(Math.max(...values))}.`;
}

// ---------------------------------------------------------------- errors next to inputs

// Which error slot an API field belongs to, per view; the first matching prefix wins.
const SLOTS = {
  tangents: [
    ["expression", "expression"],
    ["variable", "expression"],
    ["parameters", "expression"],
    ["range", "range"],
    ["points", "points"],
  ],
  steps: [
    ["expression", "expression"],
    ["variable", "expression"],
    ["parameters", "expression"],
    ["point", "point"],
  ],
  field: [
    ["expression", "expression"],
    ["variables", "expression"],
    ["parameters", "expression"],
    ["grid[0]", "x0"],
    ["grid[1]", "x1"],
    ["grid", "x0"],
    ["init", "init"],
    ["learning_rate", "rate"],
    ["steps", "iterations"],
  ],
  flow: [
    ["expressions[0]", "f0"],
    ["expressions[1]", "f1"],
    ["expressions", "f0"],
    ["variables", "f0"],
    ["parameters", "f0"],
    ["grid[0]", "x0"],
    ["grid[1]", "x1"],
    ["grid", "x0"],
  ],
};

function slotFor(view, field) {
  for (const [prefix, slot] of SLOTS[view]) {
    if (field === prefix || field?.startsWith(`${prefix}.`) || field?.startsWith(`${prefix}[`)) {
      return slot;
    }
  }
  return "form";
}

// The API's field names as this page's inputs call them: its messages name request fields
// (`range.step`, `learning_rate`), which the reader of the form has never seen.
const LABELS = {
  tangents: {
    expression: "f(x)",
    "range.start": "x from",
    "range.stop": "x to",
    "range.step": "x step",
    range: "x from, to, step",
    points: "Tangents at x",
    start: "x from",
    stop: "x to",
    step: "x step",
  },
  steps: { expression: "f(x)", point: "at x" },
  field: {
    expression: "f(x0, x1)",
    "grid[0].step": "x0 step",
    "grid[1].step": "x1 step",
    "grid[0]": "x0 grid",
    "grid[1]": "x1 grid",
    grid: "grid",
    init: "Descent: start",
    learning_rate: "learning rate η",
    steps: "steps",
  },
  flow: {
    "expressions[0]": "F₀(x0, x1)",
    "expressions[1]": "F₁(x0, x1)",
    "grid[0].step": "x0 step",
    "grid[1].step": "x1 step",
    "grid[0]": "x0 grid",
    "grid[1]": "x1 grid",
    grid: "grid",
  },
};

// Advice about request fields the form does not have (`variable`, `parameters`): said in
// the form's terms instead.
const API_ONLY = {
  tangents: "f(x) must be a function of x alone: write every other name as a number.",
  steps: "f(x) must be a function of x alone: write every other name as a number.",
  field: "f(x0, x1) must be a function of two variables, such as x0 and x1: write any other name as a number.",
  flow: "F₀ and F₁ must be functions of x0 and x1: write any other name as a number.",
};

function formMessage(view, error) {
  if (!(error instanceof FieldError)) {
    return error.message;
  }
  if (["variable", "variables", "parameters"].includes(error.field)) {
    return API_ONLY[view];
  }
  const labels = LABELS[view];
  return error.message.replace(/`([A-Za-z_][\w.\[\]]*)`/g, (whole, name) =>
    name in labels ? `“${labels[name]}”` : whole,
  );
}

function showError(view, error) {
  if (!(error instanceof FieldError)) {
    console.error(error);
  }
  const slot = error instanceof FieldError ? slotFor(view, error.field) : "form";
  const element = document.getElementById(`${view}-${slot}-error`);
  const message = formMessage(view, error);
  if (!element.textContent.includes(message)) {
    element.textContent = `${element.textContent} ${message}`.trim();
  }
  for (const input of element.parentElement.querySelectorAll("input")) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", element.id);
  }
}

function clearErrors(form) {
  for (const element of form.querySelectorAll(".error")) {
    element.textContent = "";
  }
  for (const input of form.querySelectorAll("input[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
}

// ---------------------------------------------------------------- wiring

const VIEWS = { tangents: tangentsView, steps: stepsView, field: fieldView, flow: flowView };

async function run(form) {
  const view = form.dataset.view;
  const plot = document.getElementById(`${view}-plot`);
  const button = form.querySelector("button");
  clearErrors(form);
  button.disabled = true;
  plot.dataset.state = "loading";
  try {
    await VIEWS[view](plot, document.getElementById(`${view}-note`));
    plot.dataset.state = "ready";
  } catch (error) {
    const errors = error instanceof AggregateError ? error.errors : [error];
    errors.forEach((each) => showError(view, each));
    plot.dataset.state = "error";
  } finally {
    button.disabled = false;
  }
}

for (const form of document.querySelectorAll("form[data-view]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(form);
  });
  run(form);
}

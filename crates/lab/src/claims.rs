//! Claims (`[[expect]]`): declarative statements about the results, checked after the runs.
//!
//! Three forms:
//!
//! ```toml
//! # A metric of the selected runs against a number or another metric of the same run.
//! [[expect]]
//! run = { method = "gd", kappa = [100, 1000] }   # values may be lists (any of); omit = all runs
//! metric = "measured_rate"
//! op = "~="                    # <, <=, >, >=, ==, ~= (needs rel_tol)
//! reference = "predicted_rate" # or: value = 0.9
//! rel_tol = 0.05
//! aggregate = "all"            # all (every run must hold; default), mean, min, max, range
//!
//! # One set of runs against another (means over each side), the rhs optionally scaled.
//! [[expect]]
//! lhs = { method = "gd", kappa = 1000 }
//! rhs = { method = "heavy-ball", kappa = 1000 }
//! metric = "iterations_to_tol"
//! op = ">="
//! factor = 10                  # lhs >= 10 * rhs
//! aggregate = "mean"           # of the lhs runs: mean (default), max ("some run"), min ("every run")
//!
//! # A trend over a sweep axis (means over the other axes at each value).
//! [[expect]]
//! run = { method = "gd" }
//! over = "kappa"
//! metric = "iterations_to_tol"
//! trend = "increasing"         # increasing, decreasing, non-increasing, non-decreasing
//! ```
//!
//! Each claim gives PASS/FAIL with the numbers on both sides. A claim whose selector matches
//! no finished run fails (it cannot be verified).

use std::collections::BTreeMap;

use serde::Serialize;
use toml::{Table, Value};

use crate::params::{did_you_mean, show_value, type_name};
use crate::spec::doc::{Errors, Located, Node, Origin};
use crate::study::{AnyStudy, RunRecord, Status};

/// What a claim is checked against while the file is read: the study (its metrics and
/// parameters), the sweep axes, and every value each selectable key takes over the runs.
pub struct ClaimContext<'a> {
    /// The study.
    pub study: &'a dyn AnyStudy,
    /// The sweep axes.
    pub axes: &'a [String],
    /// Resolved value sets per key over all runs (`seed` included).
    pub values: &'a BTreeMap<String, Vec<Value>>,
    /// Whether `axes` and `values` describe every run: `false` after an earlier error
    /// dropped some, and then selectors and `over` are not checked against them.
    pub complete: bool,
}

const KEYS: [&str; 13] = [
    "name",
    "run",
    "metric",
    "op",
    "value",
    "reference",
    "rel_tol",
    "lhs",
    "rhs",
    "factor",
    "over",
    "trend",
    "aggregate",
];
const TRENDS: [(&str, Trend); 4] = [
    ("increasing", Trend::Increasing),
    ("decreasing", Trend::Decreasing),
    ("non-increasing", Trend::NonIncreasing),
    ("non-decreasing", Trend::NonDecreasing),
];
const AGGREGATES: [(&str, Aggregate); 5] = [
    ("all", Aggregate::All),
    ("mean", Aggregate::Mean),
    ("min", Aggregate::Min),
    ("max", Aggregate::Max),
    ("range", Aggregate::Range),
];

/// A claim's fields as written, each with its origin.
struct Fields<'a> {
    at: Origin,
    entries: BTreeMap<&'a str, &'a Located>,
}

impl<'a> Fields<'a> {
    fn string(&self, key: &str, errors: &mut Errors<'_>) -> Option<(String, Origin)> {
        let v = self.entries.get(key)?;
        match &v.node {
            Node::Scalar(Value::String(s)) => Some((s.clone(), v.at)),
            _ => {
                errors.push(
                    v.at,
                    format!(
                        "expect: `{key}` must be a string, got {}",
                        type_name(&v.to_value())
                    ),
                );
                None
            }
        }
    }

    /// One of a few named choices (`op`, `trend`, `aggregate`); an unknown name is reported
    /// with the nearest valid one. `None` when absent or unknown.
    fn choice<T: Copy>(
        &self,
        key: &str,
        options: &[(&str, T)],
        errors: &mut Errors<'_>,
    ) -> Option<T> {
        let (name, at) = self.string(key, errors)?;
        let found = options.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        if found.is_none() {
            let names = options.iter().map(|(n, _)| *n);
            errors.push(
                at,
                format!(
                    "expect: unknown {key} `{name}`{}; valid: {}",
                    // Words get a suggestion; operators are not misspelt, they are mistaken.
                    if name.chars().any(|c| c.is_alphabetic()) {
                        did_you_mean(&name, names.clone())
                    } else {
                        String::new()
                    },
                    names.collect::<Vec<_>>().join(", ")
                ),
            );
        }
        found
    }

    /// A finite number; `positive` also requires > 0.
    fn number(&self, key: &str, positive: bool, errors: &mut Errors<'_>) -> Option<f64> {
        let v = self.entries.get(key)?;
        let x = match v.to_value() {
            Value::Float(f) => f,
            Value::Integer(i) => i as f64,
            other => {
                errors.push(
                    v.at,
                    format!(
                        "expect: `{key}` must be a number, got {}",
                        type_name(&other)
                    ),
                );
                return None;
            }
        };
        if !x.is_finite() || (positive && x <= 0.0) {
            let want = if positive { "> 0" } else { "a finite number" };
            errors.push(v.at, format!("expect: `{key}` must be {want}, got {x}"));
            return None;
        }
        Some(x)
    }
}

impl Claim {
    /// Reads and checks one `[[expect]]` table; every problem goes to `errors`.
    pub fn parse(node: &Located, ctx: &ClaimContext<'_>, errors: &mut Errors<'_>) -> Option<Claim> {
        let Node::Table(entries) = &node.node else {
            errors.push(node.at, "expect: each [[expect]] must be a table");
            return None;
        };
        let mut f = Fields {
            at: node.at,
            entries: BTreeMap::new(),
        };
        for e in entries {
            if KEYS.contains(&e.key.as_str()) {
                f.entries.insert(e.key.as_str(), &e.value);
            } else {
                errors.push(
                    e.at,
                    format!(
                        "expect: unknown key `{}`{}; valid keys: {}",
                        e.key,
                        did_you_mean(&e.key, KEYS),
                        KEYS.join(", ")
                    ),
                );
            }
        }
        let before = errors.len();
        let metric = match f.string("metric", errors) {
            Some((m, at)) => {
                check_metric(&m, at, ctx, errors);
                m
            }
            None => {
                if !f.entries.contains_key("metric") {
                    errors.push(f.at, "expect: missing `metric`");
                }
                String::new()
            }
        };
        let factor = f.number("factor", true, errors).unwrap_or(1.0);
        let op = f.choice("op", &Op::NAMED, errors);
        let rel_tol = f.number("rel_tol", true, errors).unwrap_or(0.0);
        if op == Some(Op::Approx) && rel_tol <= 0.0 {
            errors.push(f.at, "expect: op `~=` needs rel_tol > 0");
        }
        let select = |key: &str, errors: &mut Errors<'_>| -> Option<Table> {
            f.entries.get(key).map(|v| selector(key, v, ctx, errors))
        };
        let form = match (
            f.entries.contains_key("trend"),
            f.entries.contains_key("lhs"),
            f.entries.contains_key("rhs"),
        ) {
            (true, false, false) => {
                let over = f.string("over", errors);
                if over.is_none() && !f.entries.contains_key("over") {
                    errors.push(f.at, "expect: a trend claim needs `over` (a sweep axis)");
                }
                if let Some((o, at)) = &over {
                    if ctx.complete && !ctx.axes.contains(o) {
                        errors.push(
                            *at,
                            format!(
                                "expect: `over = \"{o}\"` is not a sweep axis; axes: {}",
                                ctx.axes.join(", ")
                            ),
                        );
                    }
                }
                let trend = f.choice("trend", &TRENDS, errors);
                let select = select("run", errors).unwrap_or_default();
                match (over, trend) {
                    (Some((over, _)), Some(trend)) => Some(Form::Trend {
                        select,
                        over,
                        trend,
                    }),
                    _ => None,
                }
            }
            (false, true, true) => {
                for k in ["value", "reference", "run"] {
                    if let Some(v) = f.entries.get(k) {
                        errors.push(v.at, format!("expect: a lhs/rhs claim takes no `{k}`"));
                    }
                }
                let (lhs, rhs) = (select("lhs", errors), select("rhs", errors));
                let aggregate = if f.entries.contains_key("aggregate") {
                    f.choice("aggregate", &AGGREGATES, errors)
                } else {
                    Some(Aggregate::Mean)
                };
                let aggregate = match aggregate {
                    Some(a @ (Aggregate::Mean | Aggregate::Max | Aggregate::Min)) => Some(a),
                    Some(_) => {
                        let at = f.entries.get("aggregate").map_or(f.at, |v| v.at);
                        errors.push(
                            at,
                            "expect: with lhs/rhs, `aggregate` (over the lhs runs) is mean, max or min",
                        );
                        None
                    }
                    None => None,
                };
                aggregate.map(|aggregate| Form::Compare {
                    lhs: lhs.unwrap_or_default(),
                    rhs: rhs.unwrap_or_default(),
                    aggregate,
                })
            }
            (false, false, false) => {
                let value = f.number("value", false, errors);
                let reference = f.string("reference", errors);
                if let Some((r, at)) = &reference {
                    check_metric(r, *at, ctx, errors);
                }
                let rhs = match (
                    f.entries.contains_key("value"),
                    f.entries.contains_key("reference"),
                ) {
                    (true, false) => value.map(Rhs::Value),
                    (false, true) => reference.map(|(r, _)| Rhs::Reference(r)),
                    _ => {
                        errors.push(f.at, "expect: give exactly one of `value` or `reference` (or use lhs/rhs, or a trend)");
                        None
                    }
                };
                let aggregate = if f.entries.contains_key("aggregate") {
                    f.choice("aggregate", &AGGREGATES, errors)
                } else {
                    Some(Aggregate::All)
                };
                let select = select("run", errors).unwrap_or_default();
                if op.is_none() && !f.entries.contains_key("op") {
                    errors.push(f.at, "expect: missing `op`");
                }
                match (rhs, aggregate) {
                    (Some(rhs), Some(aggregate)) => Some(Form::Value {
                        select,
                        rhs,
                        aggregate,
                    }),
                    _ => None,
                }
            }
            _ => {
                errors.push(
                    f.at,
                    "expect: `lhs` and `rhs` go together, and not with `trend`",
                );
                None
            }
        };
        if errors.len() > before {
            return None;
        }
        let op = match (&form, op) {
            (Some(Form::Trend { .. }), _) => Op::Eq,
            (_, Some(op)) => op,
            (_, None) => {
                errors.push(f.at, "expect: missing `op`");
                return None;
            }
        };
        let name = f.string("name", errors).map(|(n, _)| n);
        Some(Claim {
            name,
            metric,
            op,
            rel_tol,
            factor,
            form: form?,
        })
    }
}

impl std::fmt::Display for ClaimResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}\n       measured: {}\n       expected: {}",
            if self.pass { "PASS" } else { "FAIL" },
            self.description,
            self.lhs,
            self.rhs
        )
    }
}

fn check_metric(m: &str, at: Origin, ctx: &ClaimContext<'_>, errors: &mut Errors<'_>) {
    let metrics = ctx.study.metrics();
    if !metrics.contains(&m) {
        errors.push(
            at,
            format!(
                "expect: study `{}` does not produce metric `{m}`{}; its metrics: {}",
                ctx.study.kind(),
                did_you_mean(m, metrics.iter().copied()),
                metrics.join(", ")
            ),
        );
    }
}

/// Reads a selector table (`run`, `lhs`, `rhs`): every key must be a parameter or `seed`,
/// and every value one that some run takes.
fn selector(what: &str, v: &Located, ctx: &ClaimContext<'_>, errors: &mut Errors<'_>) -> Table {
    let Node::Table(entries) = &v.node else {
        errors.push(
            v.at,
            format!("expect: `{what}` must be a table like {{ method = \"gd\" }}"),
        );
        return Table::new();
    };
    let specs = ctx.study.params();
    let mut keys: Vec<&str> = specs.iter().map(|p| p.name).collect();
    keys.push("seed");
    let mut table = Table::new();
    for e in entries {
        if !keys.contains(&e.key.as_str()) {
            errors.push(
                e.at,
                format!(
                    "expect: unknown key `{}` in `{what}`{}; valid keys: {}",
                    e.key,
                    did_you_mean(&e.key, keys.iter().copied()),
                    keys.join(", ")
                ),
            );
            continue;
        }
        let taken = ctx.values.get(&e.key).map(Vec::as_slice).unwrap_or(&[]);
        let items: Vec<&Located> = match &e.value.node {
            Node::Array(items) => items.iter().collect(),
            _ => vec![&e.value],
        };
        // Selectors compare canonical forms: `gd` selects the runs a file wrote as `gd` or
        // `sgd` (one rule), whatever the runs' files said.
        let spec = specs.iter().find(|s| s.name == e.key);
        let canonical = |v: Value| spec.and_then(|s| s.canonical.of(&v)).unwrap_or(v);
        let mut wanted = Vec::new();
        for item in items {
            // A value the parameter cannot take at all gets the parameter's own message.
            if let Some(Err(m)) = spec.map(|s| s.check_value(&item.to_value())) {
                errors.push(item.at, format!("expect: in `{what}`: {m}"));
                continue;
            }
            let want = canonical(item.to_value());
            wanted.push(want.clone());
            if ctx.complete && !taken.iter().any(|t| value_eq(t, &want)) {
                let shown: Vec<String> = taken.iter().map(show_value).collect();
                // Names can be misspelt; numbers are not suggested by spelling.
                let hint = match &want {
                    Value::String(s) => did_you_mean(s, shown.iter().map(String::as_str)),
                    _ => String::new(),
                };
                errors.push(
                    item.at,
                    format!(
                        "expect: no run has {} = {} (in `{what}`){hint}; the runs take: {}",
                        e.key,
                        show_value(&want),
                        shown.join(", ")
                    ),
                );
            }
        }
        let value = match &e.value.node {
            Node::Array(_) => Value::Array(wanted),
            _ => wanted.pop().unwrap_or(Value::Boolean(false)),
        };
        table.insert(e.key.clone(), value);
    }
    table
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `~=`: `|lhs - rhs| <= rel_tol * |rhs|`
    Approx,
}

impl Op {
    const NAMED: [(&'static str, Op); 6] = [
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("~=", Op::Approx),
    ];

    fn symbol(self) -> &'static str {
        Op::NAMED
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(name, _)| name)
    }

    /// Whether `lhs op rhs` holds (NaN never does).
    pub fn holds(self, lhs: f64, rhs: f64, rel_tol: f64) -> bool {
        match self {
            Op::Lt => lhs < rhs,
            Op::Le => lhs <= rhs,
            Op::Gt => lhs > rhs,
            Op::Ge => lhs >= rhs,
            Op::Eq => lhs == rhs,
            Op::Approx => (lhs - rhs).abs() <= rel_tol * rhs.abs(),
        }
    }
}

/// How several matched runs combine in a value claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Aggregate {
    /// Every run must satisfy the claim.
    All,
    /// The mean over runs.
    Mean,
    /// The minimum.
    Min,
    /// The maximum.
    Max,
    /// `max - min`: the spread over the matched runs (e.g. over seeds).
    Range,
}

/// A monotonic trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Trend {
    /// Strictly increasing.
    Increasing,
    /// Strictly decreasing.
    Decreasing,
    /// Never decreasing.
    NonDecreasing,
    /// Never increasing.
    NonIncreasing,
}

/// The right-hand side of a value claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    /// A number.
    Value(f64),
    /// Another metric of the same run.
    Reference(String),
}

/// What a claim compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Form {
    /// Selected runs' metric against a number or another metric.
    Value {
        /// Which runs.
        select: Table,
        /// Right-hand side.
        rhs: Rhs,
        /// Combination over runs.
        aggregate: Aggregate,
    },
    /// The `lhs` runs' mean (or max: "some run", or min: "every run") against the mean
    /// over the `rhs` runs.
    Compare {
        /// Left runs.
        lhs: Table,
        /// Right runs.
        rhs: Table,
        /// How the lhs runs combine: mean, max or min.
        aggregate: Aggregate,
    },
    /// Trend of the metric over a sweep axis.
    Trend {
        /// Which runs.
        select: Table,
        /// The axis.
        over: String,
        /// The trend.
        trend: Trend,
    },
}

/// A validated claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Optional name from the file.
    pub name: Option<String>,
    /// The metric.
    pub metric: String,
    /// The operator (unused for trends).
    pub op: Op,
    /// Tolerance for `~=`.
    pub rel_tol: f64,
    /// Multiplier on the right-hand side.
    pub factor: f64,
    /// The form.
    pub form: Form,
}

/// The outcome of one claim (`Display` prints the PASS/FAIL line with both sides).
#[derive(Debug, Clone, Serialize)]
pub struct ClaimResult {
    /// What was claimed, in words.
    pub description: String,
    /// Whether it holds.
    pub pass: bool,
    /// The measured side.
    pub lhs: String,
    /// The expected side.
    pub rhs: String,
}

impl Claim {
    fn describe(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let sel = |t: &Table| {
            if t.is_empty() {
                "all runs".to_string()
            } else {
                t.iter()
                    .map(|(k, v)| format!("{k}={}", show(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let f = if self.factor != 1.0 {
            format!("{} x ", self.factor)
        } else {
            String::new()
        };
        let tol = if self.op == Op::Approx {
            format!(" (rel_tol {})", self.rel_tol)
        } else {
            String::new()
        };
        match &self.form {
            Form::Value {
                select,
                rhs,
                aggregate,
            } => {
                let r = match rhs {
                    Rhs::Value(v) => format!("{v}"),
                    Rhs::Reference(m) => m.clone(),
                };
                format!(
                    "{} {} {f}{r}{tol} [{:?} over {}]",
                    self.metric,
                    self.op.symbol(),
                    aggregate,
                    sel(select)
                )
                .to_lowercase()
            }
            Form::Compare {
                lhs,
                rhs,
                aggregate,
            } => {
                let which = match aggregate {
                    Aggregate::Max => "the largest ",
                    Aggregate::Min => "the smallest ",
                    _ => "",
                };
                format!(
                    "{which}{} of ({}) {} {f}that of ({}){tol}",
                    self.metric,
                    sel(lhs),
                    self.op.symbol(),
                    sel(rhs)
                )
            }
            Form::Trend {
                select,
                over,
                trend,
            } => format!(
                "{} is {:?} in {over} for {}",
                self.metric,
                trend,
                sel(select)
            )
            .to_lowercase(),
        }
    }
}

fn show(v: &Value) -> String {
    show_value(v)
}

fn value_eq(a: &Value, b: &Value) -> bool {
    match (
        a.as_float().or(a.as_integer().map(|i| i as f64)),
        b.as_float().or(b.as_integer().map(|i| i as f64)),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Whether a run matches a selector (list values mean "any of"); keys are compared with the
/// run's resolved configuration (defaults included) and `seed`.
pub fn matches(sel: &Table, run: &RunRecord) -> bool {
    selects(sel, &run.resolved, run.seed)
}

fn selects(sel: &Table, resolved: &Table, seed: u64) -> bool {
    sel.iter().all(|(k, want)| {
        let have = if k == "seed" {
            Some(Value::Integer(seed as i64))
        } else {
            resolved.get(k).cloned()
        };
        let Some(have) = have else { return false };
        match want {
            Value::Array(opts) => opts.iter().any(|o| value_eq(o, &have)),
            w => value_eq(w, &have),
        }
    })
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.4e}")
    } else {
        format!("{:.5}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// Evaluates every claim against the finished runs (diverged runs count; failed runs do not).
pub fn evaluate(claims: &[Claim], runs: &[RunRecord]) -> Vec<ClaimResult> {
    let usable: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| !matches!(r.status, Status::Failed(_)))
        .collect();
    claims.iter().map(|c| evaluate_one(c, &usable)).collect()
}

fn evaluate_one(c: &Claim, runs: &[&RunRecord]) -> ClaimResult {
    let description = c.describe();
    let none = |what: &str| ClaimResult {
        description: description.clone(),
        pass: false,
        lhs: format!("no finished run matches {what}"),
        rhs: String::new(),
    };
    match &c.form {
        Form::Value {
            select,
            rhs,
            aggregate,
        } => {
            let sel: Vec<&&RunRecord> = runs.iter().filter(|r| matches(select, r)).collect();
            if sel.is_empty() {
                return none("`run`");
            }
            let pairs: Vec<(f64, f64, &str)> = sel
                .iter()
                .map(|r| {
                    let l = r.metric(&c.metric);
                    let rv = match rhs {
                        Rhs::Value(v) => *v,
                        Rhs::Reference(m) => r.metric(m),
                    };
                    (l, rv * c.factor, r.id.as_str())
                })
                .collect();
            match aggregate {
                Aggregate::All => {
                    let failing: Vec<&(f64, f64, &str)> = pairs
                        .iter()
                        .filter(|(l, r, _)| !c.op.holds(*l, *r, c.rel_tol))
                        .collect();
                    let pass = failing.is_empty();
                    let show_pairs = if pass {
                        pairs.iter().collect::<Vec<_>>()
                    } else {
                        failing
                    };
                    let lhs = show_pairs
                        .iter()
                        .take(6)
                        .map(|(l, _, id)| format!("{id}: {}", fmt(*l)))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let rhs = show_pairs
                        .iter()
                        .take(6)
                        .map(|(_, r, _)| fmt(*r))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let more = if show_pairs.len() > 6 {
                        format!(" (+{} more)", show_pairs.len() - 6)
                    } else {
                        String::new()
                    };
                    let lhs = if pass {
                        format!("all {} runs hold: {lhs}{more}", pairs.len())
                    } else {
                        format!(
                            "{} of {} runs fail: {lhs}{more}",
                            show_pairs.len(),
                            pairs.len()
                        )
                    };
                    ClaimResult {
                        description,
                        pass,
                        lhs,
                        rhs,
                    }
                }
                agg => {
                    let ls: Vec<f64> = pairs.iter().map(|p| p.0).collect();
                    let (lo, hi) = (
                        ls.iter().copied().fold(f64::INFINITY, f64::min),
                        ls.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    );
                    let l = match agg {
                        Aggregate::Mean => mean(&ls),
                        Aggregate::Min => lo,
                        Aggregate::Range => hi - lo,
                        _ => hi,
                    };
                    let r = mean(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
                    ClaimResult {
                        description,
                        pass: c.op.holds(l, r, c.rel_tol),
                        lhs: format!("{:?} over {} runs = {}", agg, ls.len(), fmt(l))
                            .to_lowercase(),
                        rhs: fmt(r),
                    }
                }
            }
        }
        Form::Compare {
            lhs,
            rhs,
            aggregate,
        } => {
            let l: Vec<f64> = runs
                .iter()
                .filter(|r| matches(lhs, r))
                .map(|r| r.metric(&c.metric))
                .collect();
            let r: Vec<f64> = runs
                .iter()
                .filter(|r| matches(rhs, r))
                .map(|r| r.metric(&c.metric))
                .collect();
            if l.is_empty() {
                return none("`lhs`");
            }
            if r.is_empty() {
                return none("`rhs`");
            }
            let (lv, how) = match aggregate {
                Aggregate::Max => (l.iter().copied().fold(f64::NEG_INFINITY, f64::max), "max"),
                Aggregate::Min => (l.iter().copied().fold(f64::INFINITY, f64::min), "min"),
                _ => (mean(&l), "mean"),
            };
            let rv = mean(&r) * c.factor;
            ClaimResult {
                description,
                pass: c.op.holds(lv, rv, c.rel_tol),
                lhs: format!("{} ({how} of {} runs)", fmt(lv), l.len()),
                rhs: if c.factor != 1.0 {
                    format!(
                        "{} = {} x {} (mean of {} runs)",
                        fmt(rv),
                        c.factor,
                        fmt(mean(&r)),
                        r.len()
                    )
                } else {
                    format!("{} (mean of {} runs)", fmt(rv), r.len())
                },
            }
        }
        Form::Trend {
            select,
            over,
            trend,
        } => {
            let mut groups: BTreeMap<i64, (f64, Vec<f64>)> = BTreeMap::new();
            for r in runs.iter().filter(|r| matches(select, r)) {
                let Some(x) = r
                    .resolved
                    .get(over)
                    .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
                else {
                    continue;
                };
                groups
                    .entry((x * 1e6).round() as i64)
                    .or_insert((x, Vec::new()))
                    .1
                    .push(r.metric(&c.metric));
            }
            if groups.len() < 2 {
                return none("`run` at two or more values of the axis");
            }
            let seq: Vec<(f64, f64)> = groups.values().map(|(x, ys)| (*x, mean(ys))).collect();
            let pass = seq.windows(2).all(|w| {
                let (a, b) = (w[0].1, w[1].1);
                match trend {
                    Trend::Increasing => b > a,
                    Trend::Decreasing => b < a,
                    Trend::NonDecreasing => b >= a,
                    Trend::NonIncreasing => b <= a,
                }
            });
            ClaimResult {
                description,
                pass,
                lhs: seq
                    .iter()
                    .map(|(x, y)| format!("{over}={}: {}", fmt(*x), fmt(*y)))
                    .collect::<Vec<_>>()
                    .join(", "),
                rhs: format!("{trend:?}").to_lowercase(),
            }
        }
    }
}

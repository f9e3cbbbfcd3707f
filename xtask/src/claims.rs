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

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::registry::{RunRecord, Study};

/// A claim as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClaim {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    run: Option<Table>,
    metric: String,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    rel_tol: Option<f64>,
    #[serde(default)]
    lhs: Option<Table>,
    #[serde(default)]
    rhs: Option<Table>,
    #[serde(default)]
    factor: Option<f64>,
    #[serde(default)]
    over: Option<String>,
    #[serde(default)]
    trend: Option<String>,
    #[serde(default)]
    aggregate: Option<String>,
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
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            "~=" => Op::Approx,
            _ => return None,
        })
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Approx => "~=",
        }
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
    /// Mean over `lhs` runs against mean over `rhs` runs.
    Compare {
        /// Left runs.
        lhs: Table,
        /// Right runs.
        rhs: Table,
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

/// The outcome of one claim.
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

fn check_selector(sel: &Table, study: &Study, what: &str) -> Result<(), String> {
    for k in sel.keys() {
        if k != "seed" && study.field(k).is_none() {
            let valid: Vec<&str> = study
                .fields
                .iter()
                .map(|f| f.name)
                .chain(["seed"])
                .collect();
            return Err(format!(
                "expect: unknown key `{k}` in `{what}`; valid keys: {}",
                valid.join(", ")
            ));
        }
    }
    Ok(())
}

fn check_metric(m: &str, study: &Study) -> Result<(), String> {
    if study.metrics.contains(&m) {
        Ok(())
    } else {
        Err(format!(
            "expect: study `{}` does not produce metric `{m}`; its metrics: {}",
            study.kind,
            study.metrics.join(", ")
        ))
    }
}

impl Claim {
    /// Validates a claim against the study and the file's axes.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn from_raw(
        raw: &RawClaim,
        study: &Study,
        axes: &[String],
        _params: &Table,
    ) -> Result<Claim, String> {
        check_metric(&raw.metric, study)?;
        let factor = raw.factor.unwrap_or(1.0);
        if !factor.is_finite() || factor <= 0.0 {
            return Err(format!("expect: factor must be > 0, got {factor}"));
        }
        let op = match &raw.op {
            Some(s) => Some(Op::parse(s).ok_or_else(|| {
                format!("expect: unknown op `{s}`; valid ops: <, <=, >, >=, ==, ~=")
            })?),
            None => None,
        };
        let rel_tol = raw.rel_tol.unwrap_or(0.0);
        if op == Some(Op::Approx) && (rel_tol.is_nan() || rel_tol <= 0.0) {
            return Err("expect: op `~=` needs rel_tol > 0".into());
        }
        let select = raw.run.clone().unwrap_or_default();
        check_selector(&select, study, "run")?;
        let form = match (&raw.trend, &raw.lhs, &raw.rhs) {
            (Some(t), None, None) => {
                let over = raw
                    .over
                    .clone()
                    .ok_or("expect: a trend claim needs `over` (a sweep axis)")?;
                if !axes.contains(&over) {
                    return Err(format!(
                        "expect: `over = \"{over}\"` is not a sweep axis; axes: {}",
                        axes.join(", ")
                    ));
                }
                let trend = match t.as_str() {
                    "increasing" => Trend::Increasing,
                    "decreasing" => Trend::Decreasing,
                    "non-decreasing" => Trend::NonDecreasing,
                    "non-increasing" => Trend::NonIncreasing,
                    other => return Err(format!("expect: unknown trend `{other}`; valid: increasing, decreasing, non-increasing, non-decreasing")),
                };
                Form::Trend {
                    select,
                    over,
                    trend,
                }
            }
            (None, Some(l), Some(r)) => {
                if raw.value.is_some() || raw.reference.is_some() || raw.run.is_some() {
                    return Err(
                        "expect: a lhs/rhs claim takes no `run`, `value` or `reference`".into(),
                    );
                }
                check_selector(l, study, "lhs")?;
                check_selector(r, study, "rhs")?;
                Form::Compare {
                    lhs: l.clone(),
                    rhs: r.clone(),
                }
            }
            (None, None, None) => {
                let rhs = match (raw.value, &raw.reference) {
                    (Some(v), None) => Rhs::Value(v),
                    (None, Some(r)) => {
                        check_metric(r, study)?;
                        Rhs::Reference(r.clone())
                    }
                    _ => return Err("expect: give exactly one of `value` or `reference` (or use lhs/rhs, or a trend)".into()),
                };
                let aggregate = match raw.aggregate.as_deref().unwrap_or("all") {
                    "all" => Aggregate::All,
                    "mean" => Aggregate::Mean,
                    "min" => Aggregate::Min,
                    "max" => Aggregate::Max,
                    "range" => Aggregate::Range,
                    other => {
                        return Err(format!(
                            "expect: unknown aggregate `{other}`; valid: all, mean, min, max, range"
                        ))
                    }
                };
                Form::Value {
                    select,
                    rhs,
                    aggregate,
                }
            }
            _ => return Err("expect: `lhs` and `rhs` go together, and not with `trend`".into()),
        };
        let op = match (&form, op) {
            (Form::Trend { .. }, _) => Op::Eq,
            (_, Some(op)) => op,
            (_, None) => return Err("expect: missing `op`".into()),
        };
        Ok(Claim {
            name: raw.name.clone(),
            metric: raw.metric.clone(),
            op,
            rel_tol,
            factor,
            form,
        })
    }

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
            Form::Compare { lhs, rhs } => {
                format!(
                    "{} of ({}) {} {f}that of ({}){tol}",
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
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
        other => crate::spec::show_value(other),
    }
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

/// Whether a run matches a selector (list values mean "any of").
pub fn matches(sel: &Table, run: &RunRecord) -> bool {
    sel.iter().all(|(k, want)| {
        let have = if k == "seed" {
            Value::Integer(run.seed as i64)
        } else {
            run.params.get(k).cloned().unwrap_or(Value::Boolean(false))
        };
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
    let usable: Vec<&RunRecord> = runs.iter().filter(|r| r.status != "failed").collect();
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
        Form::Compare { lhs, rhs } => {
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
            let (lv, rv) = (mean(&l), mean(&r) * c.factor);
            ClaimResult {
                description,
                pass: c.op.holds(lv, rv, c.rel_tol),
                lhs: format!("{} (mean of {} runs)", fmt(lv), l.len()),
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
                    .params
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

//! Experiment files: parsing, strict validation and sweep expansion.
//!
//! An experiment file has four tables:
//!
//! ```toml
//! [experiment]            # name, description, kind (which study), seed/seeds, repeats
//! [params]                # the study's parameters (scalars)
//! [sweep]                 # parameters given as lists: the grid axes (cartesian product);
//!                         # [[sweep]] several grids whose runs are pooled (their axes
//!                         # override [params] per run)
//! [quick]                 # optional overrides for --quick: params, sweep, repeats
//! [[expect]]              # claims checked against the results (see `claims`)
//! ```
//!
//! Everything is checked before anything runs. Every error names the file, line and column
//! (`experiments/x.toml:7:1: ...`); an unknown key lists the valid ones; a wrong type, an
//! impossible value, an empty sweep list or a claim naming a metric the study does not
//! produce is an error with the same detail.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Spanned, Table, Value};

use crate::claims::{Claim, RawClaim};
use crate::registry::{self, FieldType, Study};

/// A problem with an experiment file, located in it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )
        }
    }
}

impl std::error::Error for SpecError {}

/// Maps byte offsets of a source text to 1-based (line, column).
pub(crate) struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Locator { file, text }
    }

    pub(crate) fn error(&self, offset: Option<usize>, message: impl Into<String>) -> SpecError {
        let (line, col) = match offset {
            Some(o) => {
                let before = &self.text[..o.min(self.text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before
                    .rfind('\n')
                    .map(|i| before.len() - i)
                    .unwrap_or(before.len() + 1);
                (line, col)
            }
            None => (0, 0),
        };
        SpecError {
            file: self.file.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile<S> {
    experiment: RawMeta,
    #[serde(default)]
    params: Option<Spanned<BTreeMap<Spanned<String>, Spanned<Value>>>>,
    #[serde(default)]
    sweep: Option<S>,
    #[serde(default)]
    quick: Option<RawQuick>,
    #[serde(default)]
    expect: Vec<Spanned<RawClaim>>,
}

type SweepTable = BTreeMap<Spanned<String>, Spanned<Value>>;

/// `[sweep]` (one grid) or `[[sweep]]` (several grids whose runs are pooled). The file is
/// read with the matching shape (untagged enums would lose the spans).
#[derive(Debug)]
enum RawSweep {
    One(SweepTable),
    Many(Vec<SweepTable>),
}

fn read_raw(text: &str, loc: &Locator<'_>) -> Result<RawFile<RawSweep>, SpecError> {
    let located =
        |e: toml::de::Error| loc.error(e.span().map(|s| s.start), e.message().trim().to_string());
    let shape: Table = toml::from_str(text).map_err(located)?;
    let many = matches!(shape.get("sweep"), Some(Value::Array(_)));
    Ok(if many {
        let r: RawFile<Vec<SweepTable>> = toml::from_str(text).map_err(located)?;
        RawFile {
            experiment: r.experiment,
            params: r.params,
            sweep: r.sweep.map(RawSweep::Many),
            quick: r.quick,
            expect: r.expect,
        }
    } else {
        let r: RawFile<SweepTable> = toml::from_str(text).map_err(located)?;
        RawFile {
            experiment: r.experiment,
            params: r.params,
            sweep: r.sweep.map(RawSweep::One),
            quick: r.quick,
            expect: r.expect,
        }
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    name: Spanned<String>,
    description: String,
    kind: Spanned<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    seeds: Option<Spanned<Vec<u64>>>,
    #[serde(default = "one")]
    repeats: u32,
    #[serde(default)]
    expected_runtime: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuick {
    #[serde(default)]
    params: BTreeMap<Spanned<String>, Spanned<Value>>,
    #[serde(default)]
    sweep: BTreeMap<Spanned<String>, Spanned<Value>>,
    #[serde(default)]
    repeats: Option<u32>,
}

/// One run of an experiment: a point of the grid and a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Stable identifier, also the run's folder name (`kappa-100_method-gd_seed-0`).
    pub id: String,
    /// The values of the sweep axes at this point (for selectors and plots).
    pub axes: BTreeMap<String, Value>,
    /// All parameters of the run (params merged with the sweep point).
    pub params: Table,
    /// The run's seed.
    pub seed: u64,
}

/// A validated experiment: everything needed to run it.
#[derive(Debug)]
pub struct Experiment {
    /// The file it came from.
    pub file: PathBuf,
    /// `experiment.name` (the results folder name).
    pub name: String,
    /// One-line description.
    pub description: String,
    /// The study.
    pub study: &'static Study,
    /// Optional human estimate of the run time.
    pub expected_runtime: Option<String>,
    /// The sweep axes, in grid order.
    pub axes: Vec<String>,
    /// The runs, in stable order.
    pub runs: Vec<RunSpec>,
    /// The claims.
    pub claims: Vec<Claim>,
}

/// Options that change how a file is read.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Apply the file's `[quick]` overrides.
    pub quick: bool,
    /// `--set key=value` overrides (`params.lr=0.01`, `sweep.kappa=[1,10]`).
    pub sets: Vec<String>,
}

/// Reads and validates an experiment file.
///
/// # Errors
/// A [`SpecError`] locating the first problem.
pub fn load(file: &Path, options: &LoadOptions) -> Result<Experiment, SpecError> {
    let text = std::fs::read_to_string(file).map_err(|e| SpecError {
        file: file.to_path_buf(),
        line: 0,
        col: 0,
        message: format!("cannot read the experiment file: {e}"),
    })?;
    parse(file, &text, options)
}

/// Applies `--set` overrides to the document; returns the new text.
fn apply_sets(file: &Path, text: &str, sets: &[String]) -> Result<String, SpecError> {
    let loc = Locator::new(file, text);
    let mut doc: Table = toml::from_str(text)
        .map_err(|e| loc.error(e.span().map(|s| s.start), e.message().to_string()))?;
    for set in sets {
        let bad = |m: String| SpecError {
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            message: format!("--set {set}: {m}"),
        };
        let (key, value) = set
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE".into()))?;
        let (table, field) = key
            .trim()
            .split_once('.')
            .ok_or_else(|| bad("the key must be TABLE.KEY, e.g. params.lr".into()))?;
        if !["experiment", "params", "sweep"].contains(&table) {
            return Err(bad(format!(
                "unknown table `{table}`; valid: experiment, params, sweep"
            )));
        }
        let parsed: Table = toml::from_str(&format!("v = {}", value.trim()))
            .map_err(|e| bad(format!("not a TOML value: {}", e.message())))?;
        let v = parsed["v"].clone();
        let entry = doc
            .entry(table.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        let Value::Table(t) = entry else {
            return Err(bad(format!("`{table}` is not a table")));
        };
        t.insert(field.to_string(), v);
        // A key moved between params and sweep must not stay in the other table.
        let other = match table {
            "params" => Some("sweep"),
            "sweep" => Some("params"),
            _ => None,
        };
        if let Some(Value::Table(o)) = other.and_then(|o| doc.get_mut(o)) {
            o.remove(field);
        }
    }
    toml::to_string(&doc).map_err(|e| SpecError {
        file: file.to_path_buf(),
        line: 0,
        col: 0,
        message: format!("--set: {e}"),
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

/// Checks one value against a field's type; returns the value normalised (ints as floats for
/// float fields).
fn check_value(study: &Study, table: &str, name: &str, v: &Value) -> Result<Value, String> {
    let field = study.field(name).expect("checked by caller");
    match (&field.ty, v) {
        (FieldType::Float, Value::Float(_)) => Ok(v.clone()),
        (FieldType::Float, Value::Integer(i)) => Ok(Value::Float(*i as f64)),
        (FieldType::Int, Value::Integer(i)) if *i >= 0 => Ok(v.clone()),
        (FieldType::Int, Value::Integer(i)) => Err(format!(
            "{table}.{name} must be a non-negative integer, got {i}"
        )),
        (FieldType::Bool, Value::Boolean(_)) => Ok(v.clone()),
        (FieldType::Choice(options), Value::String(s)) => {
            if options.contains(&s.as_str()) {
                Ok(v.clone())
            } else {
                Err(format!(
                    "{table}.{name} = \"{s}\" is not one of: {}",
                    options.join(", ")
                ))
            }
        }
        (ty, v) => Err(format!(
            "{table}.{name} must be {}, got {}",
            ty.describe(),
            type_name(v)
        )),
    }
}

fn unknown_key(study: &Study, table: &str, key: &str) -> String {
    let valid: Vec<&str> = study.fields.iter().map(|f| f.name).collect();
    format!(
        "unknown key `{table}.{key}` for kind `{}`; valid keys: {}",
        study.kind,
        valid.join(", ")
    )
}

/// Parses and validates experiment text (`file` is used in messages).
///
/// # Errors
/// A [`SpecError`] locating the first problem.
pub fn parse(file: &Path, text: &str, options: &LoadOptions) -> Result<Experiment, SpecError> {
    let owned;
    let text = if options.sets.is_empty() {
        text
    } else {
        owned = apply_sets(file, text, &options.sets)?;
        &owned
    };
    let loc = Locator::new(file, text);
    let raw = read_raw(text, &loc)?;
    let meta = &raw.experiment;
    let no_params = BTreeMap::new();
    let raw_params = raw
        .params
        .as_ref()
        .map(|p| p.get_ref())
        .unwrap_or(&no_params);
    let params_at = raw.params.as_ref().map(|p| p.span().start);
    let study = registry::find(meta.kind.get_ref()).ok_or_else(|| {
        loc.error(
            Some(meta.kind.span().start),
            format!(
                "unknown experiment kind `{}`; valid kinds: {}",
                meta.kind.get_ref(),
                registry::STUDIES
                    .iter()
                    .map(|s| s.kind)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let name = meta.name.get_ref();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(loc.error(Some(meta.name.span().start), format!("experiment.name `{name}` must be non-empty letters, digits, '-' or '_' (it names the results folder)")));
    }

    let groups: Vec<&SweepTable> = match &raw.sweep {
        None => vec![],
        Some(RawSweep::One(t)) => vec![t],
        Some(RawSweep::Many(v)) => v.iter().collect(),
    };
    // With one grid, a key is a scalar parameter or a grid axis, never both.
    let single = matches!(raw.sweep, Some(RawSweep::One(_)));
    for k in groups.iter().filter(|_| single).flat_map(|g| g.keys()) {
        if raw_params.keys().any(|p| p.get_ref() == k.get_ref()) {
            return Err(loc.error(
                Some(k.span().start),
                format!("`{}` is set in both [params] and [sweep]", k.get_ref()),
            ));
        }
    }
    // --quick overrides: a quick param replaces an axis of the same name and vice versa.
    let quick = raw.quick.as_ref().filter(|_| options.quick);
    let empty = BTreeMap::new();
    let (quick_params, quick_sweep) = quick
        .map(|q| (&q.params, &q.sweep))
        .unwrap_or((&empty, &empty));
    let overridden = |k: &Spanned<String>| {
        quick_params
            .keys()
            .chain(quick_sweep.keys())
            .any(|q| q.get_ref() == k.get_ref())
    };

    // Parameters: known keys, right types, scalars only.
    let mut params = Table::new();
    let mut spans: BTreeMap<String, usize> = BTreeMap::new();
    let base_params = raw_params.iter().filter(|(k, _)| !overridden(k));
    for (k, v) in base_params.chain(quick_params.iter()) {
        let key = k.get_ref();
        if study.field(key).is_none() {
            return Err(loc.error(Some(k.span().start), unknown_key(study, "params", key)));
        }
        if let Value::Array(_) = v.get_ref() {
            return Err(loc.error(
                Some(v.span().start),
                format!("params.{key} is a list; grid axes go under [sweep]"),
            ));
        }
        let checked = check_value(study, "params", key, v.get_ref())
            .map_err(|m| loc.error(Some(v.span().start), m))?;
        params.insert(key.clone(), checked);
        spans.insert(key.clone(), v.span().start);
    }

    // Sweep axes, per grid: known keys, non-empty lists of the right type.
    let groups: Vec<&SweepTable> = if groups.is_empty() {
        vec![&empty]
    } else {
        groups
    };
    let mut grids: Vec<BTreeMap<String, Vec<Value>>> = Vec::new();
    for group in groups {
        let mut sweep: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let base_sweep = group.iter().filter(|(k, _)| !overridden(k));
        for (k, v) in base_sweep.chain(quick_sweep.iter()) {
            let key = k.get_ref();
            if study.field(key).is_none() {
                return Err(loc.error(Some(k.span().start), unknown_key(study, "sweep", key)));
            }
            let Value::Array(items) = v.get_ref() else {
                return Err(loc.error(
                    Some(v.span().start),
                    format!(
                        "sweep.{key} must be a list of values, got {}",
                        type_name(v.get_ref())
                    ),
                ));
            };
            if items.is_empty() {
                return Err(loc.error(
                    Some(v.span().start),
                    format!("sweep.{key} is an empty list: a grid axis needs at least one value"),
                ));
            }
            let checked = items
                .iter()
                .map(|item| check_value(study, "sweep", key, item))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| loc.error(Some(v.span().start), m))?;
            sweep.insert(key.clone(), checked);
            spans.insert(key.clone(), v.span().start);
        }
        grids.push(sweep);
    }
    // With several grids, [params] values are defaults that a grid's axes override per run.

    // Seeds.
    let repeats = quick.and_then(|q| q.repeats).unwrap_or(meta.repeats);
    if repeats == 0 {
        return Err(loc.error(None, "experiment.repeats must be >= 1"));
    }
    let seeds: Vec<u64> = match (&meta.seeds, meta.seed) {
        (Some(s), None) if s.get_ref().is_empty() => {
            return Err(loc.error(Some(s.span().start), "experiment.seeds is an empty list"))
        }
        (Some(s), None) => s
            .get_ref()
            .iter()
            .flat_map(|&b| (0..repeats as u64).map(move |r| b + r * 1000))
            .collect(),
        (None, seed) => (0..repeats as u64).map(|r| seed.unwrap_or(0) + r).collect(),
        (Some(s), Some(_)) => {
            return Err(loc.error(
                Some(s.span().start),
                "give either experiment.seed or experiment.seeds, not both",
            ))
        }
    };

    // Grid expansion (axes in sorted order; the last varies fastest), grids in file order,
    // then seeds.
    let mut axes: Vec<String> = grids.iter().flat_map(|g| g.keys().cloned()).collect();
    axes.sort();
    axes.dedup();
    let mut runs: Vec<RunSpec> = Vec::new();
    for sweep in &grids {
        let mut points: Vec<BTreeMap<String, Value>> = vec![BTreeMap::new()];
        for (axis, values) in sweep {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.insert(axis.clone(), v.clone());
                        q
                    })
                })
                .collect();
        }
        for point in &points {
            for &seed in &seeds {
                let mut merged = params.clone();
                for (k, v) in point {
                    merged.insert(k.clone(), v.clone());
                }
                // The study checks required fields and values (e.g. lr <= 0) for every run.
                study.validate(&merged).map_err(|e| {
                    let at = e
                        .field
                        .as_ref()
                        .and_then(|f| spans.get(f))
                        .copied()
                        .or(params_at);
                    loc.error(at, e.message)
                })?;
                let id = run_id(point, seed);
                if runs.iter().any(|r| r.id == id) {
                    return Err(loc.error(None, format!("two sweep grids both produce run `{id}`")));
                }
                runs.push(RunSpec {
                    id,
                    axes: point.clone(),
                    params: merged,
                    seed,
                });
            }
        }
    }

    let claims = raw
        .expect
        .iter()
        .map(|c| {
            Claim::from_raw(c.get_ref(), study, &axes, &params)
                .map_err(|m| loc.error(Some(c.span().start), m))
        })
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Experiment {
        file: file.to_path_buf(),
        name: name.clone(),
        description: meta.description.clone(),
        study,
        expected_runtime: meta.expected_runtime.clone(),
        axes,
        runs,
        claims,
    })
}

/// Formats a value for run ids and tables: strings bare, floats shortest.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

/// A stable folder-safe id for a grid point and seed.
fn run_id(point: &BTreeMap<String, Value>, seed: u64) -> String {
    let mut parts: Vec<String> = point
        .iter()
        .map(|(k, v)| format!("{k}-{}", show_value(v)))
        .collect();
    parts.push(format!("seed-{seed}"));
    parts
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

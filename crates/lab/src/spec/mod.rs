//! Experiment files: reading, strict validation and sweep expansion.
//!
//! An experiment file has these tables:
//!
//! ```toml
//! [experiment]            # name, description, kind (which study), seed/seeds, repeats,
//!                         # expected_runtime, expect_failures
//! [params]                # the study's parameters (scalars)
//! [sweep]                 # parameters given as lists: the grid axes (cartesian product);
//!                         # [[sweep]] several grids whose runs are pooled (their axes
//!                         # override [params] per run)
//! [quick]                 # optional overrides for --quick: params, sweep, repeats
//! [[expect]]              # claims checked against the results (see `claims`)
//! ```
//!
//! Everything is checked before anything runs, and every problem is reported, not only the
//! first: each names the file, line and column (`experiments/x.toml:7:1: ...`) or the
//! `--set` argument it came from, and an unknown name gets the nearest valid one. Values are
//! checked against the study's [`ParamSpec`](crate::params::ParamSpec)s (type and range),
//! `[quick]` always, claims' selectors against the values the runs actually take, and the
//! number of runs against a budget before any grid is expanded.

pub mod doc;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::{Table, Value};

use crate::claims::{Claim, ClaimContext};
use crate::params::{did_you_mean, show_value, type_name};
use crate::study::{AnyStudy, Registry};
use doc::{Errors, Located, Node, Origin};
pub use doc::{SpecError, SpecErrors};

/// Experiment files larger than this are refused before they are read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Grids larger than this many runs are refused unless [`LoadOptions::max_runs`] says more.
pub const DEFAULT_MAX_RUNS: usize = 100_000;

/// One run of an experiment: a point of the grid and a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Stable identifier, also the run's folder name (`kappa-100_method-gd_seed-0`).
    pub id: String,
    /// The values of the sweep axes at this point (for selectors and plots).
    pub axes: BTreeMap<String, Value>,
    /// The parameters the file gives this run (params merged with the sweep point).
    pub params: Table,
    /// Every parameter of the run, defaults included (what selectors match and what
    /// `config.toml` records).
    pub resolved: Table,
    /// The run's seed.
    pub seed: u64,
}

/// A validated experiment: everything needed to run it.
pub struct Experiment {
    /// The file it came from.
    pub file: PathBuf,
    /// The file's text.
    pub text: String,
    /// `experiment.name` (the results folder name).
    pub name: String,
    /// One-line description.
    pub description: String,
    /// The study.
    pub study: Arc<dyn AnyStudy>,
    /// Optional human estimate of the run time.
    pub expected_runtime: Option<String>,
    /// Failed runs are part of the design (the command still exits 0 when they fail).
    pub expect_failures: bool,
    /// The sweep axes, in grid order.
    pub axes: Vec<String>,
    /// The runs, in stable order.
    pub runs: Vec<RunSpec>,
    /// The claims.
    pub claims: Vec<Claim>,
}

impl std::fmt::Debug for Experiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Experiment({}, kind {}, {} runs)",
            self.name,
            self.study.kind(),
            self.runs.len()
        )
    }
}

/// Options that change how a file is read.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Apply the file's `[quick]` overrides.
    pub quick: bool,
    /// `--set key=value` overrides (`params.lr=0.01`, `sweep.kappa=[1,10]`).
    pub sets: Vec<String>,
    /// The largest number of runs accepted.
    pub max_runs: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            quick: false,
            sets: Vec::new(),
            max_runs: DEFAULT_MAX_RUNS,
        }
    }
}

/// Reads and validates an experiment file. Only a regular file of at most
/// [`MAX_FILE_BYTES`] is read (not a FIFO or a device), and it must be UTF-8.
///
/// # Errors
/// Every problem found, located.
pub fn load(
    file: &Path,
    registry: &Registry,
    options: &LoadOptions,
) -> Result<Experiment, SpecErrors> {
    let fail = |line_col: Option<(usize, usize)>, message: String| {
        SpecErrors(vec![SpecError {
            file: file.to_path_buf(),
            line_col,
            set: None,
            message,
        }])
    };
    let bytes = crate::files::read_regular(file, MAX_FILE_BYTES).map_err(|e| match e {
        crate::files::FileError::Io(e) => {
            fail(None, format!("cannot read the experiment file: {e}"))
        }
        crate::files::FileError::NotRegular => fail(
            None,
            "not a regular file (an experiment file is a TOML file)".into(),
        ),
        too_large => fail(None, format!("{too_large} for an experiment file")),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        fail(
            Some(doc::line_col(&before, valid)),
            format!(
                "byte 0x{:02x} is not UTF-8 (save the file as UTF-8)",
                e.as_bytes()[valid]
            ),
        )
    })?;
    parse(file, &text, registry, options)
}

/// `experiment.kind` of an experiment file, read without validating anything else (the same
/// regular-file and size rules as [`load`]); `None` when the file cannot be read or has none
/// (loading it then says why). For a caller that must pick a registry before loading.
pub fn peek_kind(file: &Path) -> Option<String> {
    let bytes = crate::files::read_regular(file, MAX_FILE_BYTES).ok()?;
    let doc: Table = std::str::from_utf8(&bytes).ok()?.parse().ok()?;
    Some(doc.get("experiment")?.get("kind")?.as_str()?.to_string())
}

const TOP: [&str; 5] = ["experiment", "params", "sweep", "quick", "expect"];
const META: [&str; 8] = [
    "name",
    "description",
    "kind",
    "seed",
    "seeds",
    "repeats",
    "expected_runtime",
    "expect_failures",
];

/// `[experiment]` as read.
struct Meta {
    name: Option<String>,
    description: String,
    study: Option<Arc<dyn AnyStudy>>,
    seed: Option<u64>,
    seeds: Option<Vec<u64>>,
    repeats: u32,
    expected_runtime: Option<String>,
    expect_failures: bool,
}

/// A parameter value with where it came from.
type Param = (Value, Origin);
/// A grid: axis -> (where the key is, the values with their origins).
type Grid = BTreeMap<String, (Origin, Vec<Param>)>;

/// Parses and validates experiment text (`file` is used in messages).
///
/// # Errors
/// Every problem found, located.
pub fn parse(
    file: &Path,
    text: &str,
    registry: &Registry,
    options: &LoadOptions,
) -> Result<Experiment, SpecErrors> {
    let mut errors = Errors::new(file, text, &options.sets);
    let mut root = match doc::parse_file(text) {
        Ok(d) => d,
        Err(list) => {
            for (offset, message) in list {
                errors.push(offset.map_or(Origin::Nowhere, Origin::File), message);
            }
            return Err(errors.finish());
        }
    };
    apply_sets(&mut root, &options.sets, &mut errors);
    for e in root.entries() {
        if !TOP.contains(&e.key.as_str()) {
            errors.push(
                e.at,
                format!(
                    "unknown table `{}`{}; valid: {}",
                    e.key,
                    did_you_mean(&e.key, TOP),
                    TOP.join(", ")
                ),
            );
        }
    }
    let meta = read_meta(root.get("experiment"), registry, &mut errors);
    let Some(study) = meta.study.clone() else {
        return Err(errors.finish());
    };
    let study = study.as_ref();
    let params_at = root.get("params").map_or(Origin::Nowhere, |e| e.at);
    // Keys whose values were refused: the runs' own checks would only repeat them as
    // "missing", so their errors about these keys are not reported again.
    let mut bad: Vec<String> = Vec::new();
    let params = root
        .get("params")
        .map(|e| read_params(&e.value, study, "params", &mut errors, &mut bad))
        .unwrap_or_default();
    let grids = read_sweep(
        root.get("sweep").map(|e| &e.value),
        study,
        "sweep",
        &mut errors,
        &mut bad,
    );
    if let Some(Node::Table(_)) = root.get("sweep").map(|e| &e.value.node) {
        for (key, (at, _)) in &grids[0] {
            if params.contains_key(key) {
                errors.push(*at, format!("`{key}` is set in both [params] and [sweep]"));
            }
        }
    }
    let quick = read_quick(root.get("quick"), study, &mut errors, &mut bad);
    // A misspelt table (`[parms]`) makes every parameter in it "missing": say it once.
    let unknown_table = root
        .entries()
        .iter()
        .any(|e| !TOP.contains(&e.key.as_str()));

    // The --quick overrides: a quick param replaces an axis of the same name and vice versa.
    let (params, grids, repeats) = if options.quick {
        let (qp, qs, qr) = quick;
        let overridden = |k: &String| qp.contains_key(k) || qs.contains_key(k);
        let mut p: BTreeMap<String, Param> =
            params.into_iter().filter(|(k, _)| !overridden(k)).collect();
        p.extend(qp.clone());
        let g: Vec<Grid> = grids
            .into_iter()
            .map(|g| {
                let mut g: Grid = g.into_iter().filter(|(k, _)| !overridden(k)).collect();
                g.extend(qs.clone());
                g
            })
            .collect();
        (p, g, qr.unwrap_or(meta.repeats))
    } else {
        (params, grids, meta.repeats)
    };
    let seeds: Vec<u64> = match (&meta.seeds, meta.seed) {
        (Some(s), _) => s
            .iter()
            .flat_map(|&b| (0..repeats as u64).map(move |r| b + r * 1000))
            .collect(),
        (None, seed) => (0..repeats as u64).map(|r| seed.unwrap_or(0) + r).collect(),
    };

    // The budget, from the axis lengths, before anything is expanded.
    let count = grids
        .iter()
        .map(|g| {
            g.values()
                .fold(1u128, |n, (_, v)| n.saturating_mul(v.len() as u128))
        })
        .fold(0u128, |n, g| n.saturating_add(g))
        .saturating_mul(seeds.len() as u128);
    if count > options.max_runs as u128 {
        errors.push(
            root.get("sweep").map_or(Origin::Nowhere, |e| e.at),
            format!(
                "the sweep makes {count} runs, more than the limit of {} (a deliberate larger \
                 sweep: raise it with --max-runs)",
                options.max_runs
            ),
        );
        return Err(errors.finish());
    }

    let mut axes: Vec<String> = grids.iter().flat_map(|g| g.keys().cloned()).collect();
    axes.sort();
    axes.dedup();
    let mut runs: Vec<RunSpec> = Vec::new();
    for grid in &grids {
        let mut points: Vec<BTreeMap<String, Param>> = vec![BTreeMap::new()];
        for (axis, (_, values)) in grid {
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
            let mut merged = params.clone();
            merged.extend(point.clone());
            let table: Table = merged
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect();
            let resolved = match study.resolve(&table) {
                Ok(r) => r,
                Err(list) => {
                    let cascade = |f: &Option<String>| {
                        unknown_table || f.as_ref().is_some_and(|f| bad.contains(f))
                    };
                    for e in list.into_iter().filter(|e| !cascade(&e.field)) {
                        let at = e
                            .field
                            .as_ref()
                            .and_then(|f| merged.get(f))
                            .map_or(params_at, |(_, at)| *at);
                        errors.push(at, e.message);
                    }
                    continue;
                }
            };
            let axes_here: BTreeMap<String, Value> = point
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect();
            for &seed in &seeds {
                let id = run_id(&axes_here, seed);
                if runs.iter().any(|r| r.id == id) {
                    errors.push(
                        Origin::Nowhere,
                        format!("two sweep grids both produce run `{id}`"),
                    );
                    continue;
                }
                runs.push(RunSpec {
                    id,
                    axes: axes_here.clone(),
                    params: table.clone(),
                    resolved: resolved.clone(),
                    seed,
                });
            }
        }
    }

    // Claims, checked against the values the runs of the whole file take (under --quick
    // too: a quick run that leaves out a seed makes a claim on it unverifiable, not wrong).
    let (full, full_ok) = if options.quick {
        let whole = LoadOptions {
            quick: false,
            ..options.clone()
        };
        match parse(file, text, registry, &whole) {
            Ok(e) => (e.runs, true),
            Err(_) => (Vec::new(), false),
        }
    } else {
        (Vec::new(), true)
    };
    // After an error that dropped runs or axes, the values the runs take are not known: a
    // selector is then not judged against them (it would only echo the first error).
    let complete = errors.is_empty() && full_ok;
    let mut values: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in runs.iter().chain(&full) {
        for (k, v) in &r.resolved {
            let seen = values.entry(k.clone()).or_default();
            if !seen.contains(v) {
                seen.push(v.clone());
            }
        }
        let seed = Value::Integer(r.seed as i64);
        let seen = values.entry("seed".into()).or_default();
        if !seen.contains(&seed) {
            seen.push(seed);
        }
    }
    let ctx = ClaimContext {
        study,
        axes: &axes,
        values: &values,
        complete,
    };
    let mut claims = Vec::new();
    if let Some(e) = root.get("expect") {
        match &e.value.node {
            Node::Array(items) => {
                for item in items {
                    if let Some(c) = Claim::parse(item, &ctx, &mut errors) {
                        claims.push(c);
                    }
                }
            }
            _ => errors.push(e.at, "claims are written as [[expect]] tables"),
        }
    }
    if !errors.is_empty() {
        return Err(errors.finish());
    }
    Ok(Experiment {
        file: file.to_path_buf(),
        text: text.to_string(),
        name: meta.name.unwrap_or_default(),
        description: meta.description,
        study: meta.study.expect("checked above"),
        expected_runtime: meta.expected_runtime,
        expect_failures: meta.expect_failures,
        axes,
        runs,
        claims,
    })
}

/// Applies `--set TABLE.KEY=VALUE` overrides to the tree; the values keep a `--set` origin.
fn apply_sets(root: &mut Located, sets: &[String], errors: &mut Errors<'_>) {
    for (i, set) in sets.iter().enumerate() {
        let at = Origin::Set(i);
        let Some((key, value)) = set.split_once('=') else {
            errors.push(at, "expected KEY=VALUE");
            continue;
        };
        let Some((table, field)) = key.trim().split_once('.') else {
            errors.push(at, "the key must be TABLE.KEY, e.g. params.lr");
            continue;
        };
        if !["experiment", "params", "sweep"].contains(&table) {
            errors.push(
                at,
                format!("unknown table `{table}`; valid: experiment, params, sweep"),
            );
            continue;
        }
        let value = match doc::parse_set_value(value.trim(), i) {
            Ok(v) => v,
            Err(m) => {
                errors.push(at, format!("not a TOML value: {m}"));
                continue;
            }
        };
        let sweep_grids = match root.get("sweep").map(|e| &e.value.node) {
            Some(Node::Array(grids)) => grids.len(),
            _ => 0,
        };
        if table == "sweep" && sweep_grids > 0 {
            // [[sweep]]: the axis is set in every grid.
            if let Node::Table(t) = &mut root.node {
                if let Some(Node::Array(grids)) = t
                    .iter_mut()
                    .find(|e| e.key == "sweep")
                    .map(|e| &mut e.value.node)
                {
                    for g in grids {
                        if let Node::Table(gt) = &mut g.node {
                            gt.retain(|e| e.key != field);
                            gt.push(doc::Entry {
                                key: field.to_string(),
                                at,
                                value: value.clone(),
                            });
                        }
                    }
                }
            }
        } else if !root.set(table, field, at, value) {
            errors.push(at, format!("`{table}` is not a table"));
            continue;
        }
        // A key moved between params and sweep must not stay in the other table.
        match table {
            "params" => root.remove("sweep", field),
            "sweep" => root.remove("params", field),
            _ => {}
        }
    }
}

fn read_meta(entry: Option<&doc::Entry>, registry: &Registry, errors: &mut Errors<'_>) -> Meta {
    let mut meta = Meta {
        name: None,
        description: String::new(),
        study: None,
        seed: None,
        seeds: None,
        repeats: 1,
        expected_runtime: None,
        expect_failures: false,
    };
    let Some(entry) = entry else {
        errors.push(
            Origin::Nowhere,
            "missing table [experiment] (name, description, kind)",
        );
        return meta;
    };
    let table = &entry.value;
    if !matches!(table.node, Node::Table(_)) {
        errors.push(entry.at, "[experiment] must be a table");
        return meta;
    }
    for e in table.entries() {
        if !META.contains(&e.key.as_str()) {
            errors.push(
                e.at,
                format!(
                    "unknown key `experiment.{}`{}; valid keys: {}",
                    e.key,
                    did_you_mean(&e.key, META),
                    META.join(", ")
                ),
            );
        }
    }
    let string = |key: &str, errors: &mut Errors<'_>| -> Option<(String, Origin)> {
        let e = table.get(key)?;
        match &e.value.node {
            Node::Scalar(Value::String(s)) => Some((s.clone(), e.value.at)),
            _ => {
                let got = type_name(&e.value.to_value());
                errors.push(
                    e.value.at,
                    format!("experiment.{key} must be a string, got {got}"),
                );
                None
            }
        }
    };
    let int =
        |v: &Located, what: &str, min: i64, max: i64, errors: &mut Errors<'_>| match v.to_value() {
            Value::Integer(i) if (min..=max).contains(&i) => Some(i),
            Value::Integer(i) => {
                errors.push(
                    v.at,
                    format!("{what} must be an integer in [{min}, {max}], got {i}"),
                );
                None
            }
            other => {
                errors.push(
                    v.at,
                    format!("{what} must be an integer, got {}", type_name(&other)),
                );
                None
            }
        };
    for key in ["name", "description", "kind"] {
        if table.get(key).is_none() {
            errors.push(entry.at, format!("[experiment] is missing `{key}`"));
        }
    }
    if let Some((name, at)) = string("name", errors) {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.push(at, format!("experiment.name `{name}` must be non-empty letters, digits, '-' or '_' (it names the results folder)"));
        } else {
            meta.name = Some(name);
        }
    }
    meta.description = string("description", errors)
        .map(|d| d.0)
        .unwrap_or_default();
    meta.expected_runtime = string("expected_runtime", errors).map(|d| d.0);
    if let Some((kind, at)) = string("kind", errors) {
        meta.study = registry.find(&kind);
        if meta.study.is_none() {
            let kinds = registry.kinds();
            errors.push(
                at,
                format!(
                    "unknown experiment kind `{kind}`{}; valid kinds: {}",
                    did_you_mean(&kind, kinds.iter().copied()),
                    kinds.join(", ")
                ),
            );
        }
    }
    if let Some(e) = table.get("seed") {
        meta.seed = int(&e.value, "experiment.seed", 0, i64::MAX, errors).map(|s| s as u64);
    }
    if let Some(e) = table.get("seeds") {
        match &e.value.node {
            Node::Array(items) if items.is_empty() => {
                errors.push(e.value.at, "experiment.seeds is an empty list")
            }
            Node::Array(items) => {
                let seeds: Vec<Option<u64>> = items
                    .iter()
                    .map(|v| {
                        int(v, "each of experiment.seeds", 0, i64::MAX / 2, errors)
                            .map(|s| s as u64)
                    })
                    .collect();
                meta.seeds = seeds.into_iter().collect();
            }
            _ => errors.push(e.value.at, "experiment.seeds must be a list of integers"),
        }
        if table.get("seed").is_some() {
            errors.push(
                e.at,
                "give either experiment.seed or experiment.seeds, not both",
            );
        }
    }
    if let Some(e) = table.get("repeats") {
        meta.repeats = int(&e.value, "experiment.repeats", 1, 1000, errors).unwrap_or(1) as u32;
    }
    if let Some(e) = table.get("expect_failures") {
        match e.value.to_value() {
            Value::Boolean(b) => meta.expect_failures = b,
            other => errors.push(
                e.value.at,
                format!(
                    "experiment.expect_failures must be true or false, got {}",
                    type_name(&other)
                ),
            ),
        }
    }
    meta
}

/// Checks every key and value of a params-like table; returns the good ones.
fn read_params(
    table: &Located,
    study: &dyn AnyStudy,
    what: &str,
    errors: &mut Errors<'_>,
    bad: &mut Vec<String>,
) -> BTreeMap<String, Param> {
    let Node::Table(entries) = &table.node else {
        errors.push(table.at, format!("[{what}] must be a table"));
        return BTreeMap::new();
    };
    let specs = study.params();
    let mut out = BTreeMap::new();
    for e in entries {
        let Some(spec) = specs.iter().find(|s| s.name == e.key) else {
            errors.push(e.at, unknown_key(study, what, &e.key));
            continue;
        };
        if let Node::Array(_) = e.value.node {
            errors.push(
                e.value.at,
                format!("{what}.{} is a list; grid axes go under [sweep]", e.key),
            );
            bad.push(e.key.clone());
            continue;
        }
        match spec.check_value(&e.value.to_value()) {
            Ok(v) => {
                out.insert(e.key.clone(), (v, e.value.at));
            }
            Err(m) => {
                errors.push(e.value.at, format!("{what}.{m}"));
                bad.push(e.key.clone());
            }
        }
    }
    out
}

/// Reads `[sweep]` (one grid) or `[[sweep]]` (several); no sweep is one empty grid.
fn read_sweep(
    node: Option<&Located>,
    study: &dyn AnyStudy,
    what: &str,
    errors: &mut Errors<'_>,
    bad: &mut Vec<String>,
) -> Vec<Grid> {
    let Some(node) = node else {
        return vec![Grid::new()];
    };
    let tables: Vec<&Located> = match &node.node {
        Node::Table(_) => vec![node],
        Node::Array(items) if !items.is_empty() => items.iter().collect(),
        _ => {
            errors.push(
                node.at,
                format!("[{what}] must be a table or [[{what}]] tables"),
            );
            return vec![Grid::new()];
        }
    };
    tables
        .into_iter()
        .map(|t| read_grid(t, study, what, errors, bad))
        .collect()
}

fn read_grid(
    table: &Located,
    study: &dyn AnyStudy,
    what: &str,
    errors: &mut Errors<'_>,
    bad: &mut Vec<String>,
) -> Grid {
    let specs = study.params();
    let mut grid = Grid::new();
    let Node::Table(entries) = &table.node else {
        errors.push(table.at, format!("each [[{what}]] must be a table"));
        return grid;
    };
    for e in entries {
        let Some(spec) = specs.iter().find(|s| s.name == e.key) else {
            errors.push(e.at, unknown_key(study, what, &e.key));
            continue;
        };
        let Node::Array(items) = &e.value.node else {
            let got = type_name(&e.value.to_value());
            errors.push(
                e.value.at,
                format!("{what}.{} must be a list of values, got {got}", e.key),
            );
            bad.push(e.key.clone());
            continue;
        };
        if items.is_empty() {
            errors.push(
                e.value.at,
                format!(
                    "{what}.{} is an empty list: a grid axis needs at least one value",
                    e.key
                ),
            );
            bad.push(e.key.clone());
            continue;
        }
        let mut values = Vec::new();
        for item in items {
            match spec.check_value(&item.to_value()) {
                Ok(v) => values.push((v, item.at)),
                Err(m) => errors.push(item.at, format!("{what}.{m}")),
            }
        }
        if values.len() == items.len() {
            grid.insert(e.key.clone(), (e.at, values));
        } else {
            bad.push(e.key.clone());
        }
    }
    grid
}

/// `[quick]`: always validated, applied only with `--quick`.
fn read_quick(
    entry: Option<&doc::Entry>,
    study: &dyn AnyStudy,
    errors: &mut Errors<'_>,
    bad: &mut Vec<String>,
) -> (BTreeMap<String, Param>, Grid, Option<u32>) {
    let mut out = (BTreeMap::new(), Grid::new(), None);
    let Some(entry) = entry else { return out };
    let Node::Table(entries) = &entry.value.node else {
        errors.push(entry.at, "[quick] must be a table");
        return out;
    };
    for e in entries {
        match e.key.as_str() {
            "params" => out.0 = read_params(&e.value, study, "quick.params", errors, bad),
            "sweep" => out.1 = read_grid(&e.value, study, "quick.sweep", errors, bad),
            "repeats" => match e.value.to_value() {
                Value::Integer(i) if (1..=1000).contains(&i) => out.2 = Some(i as u32),
                other => errors.push(
                    e.value.at,
                    format!(
                        "quick.repeats must be an integer in [1, 1000], got {}",
                        show_value(&other)
                    ),
                ),
            },
            other => errors.push(
                e.at,
                format!(
                    "unknown key `quick.{other}`{}; valid keys: params, sweep, repeats",
                    did_you_mean(other, ["params", "sweep", "repeats"])
                ),
            ),
        }
    }
    out
}

fn unknown_key(study: &dyn AnyStudy, table: &str, key: &str) -> String {
    let specs = study.params();
    let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
    format!(
        "unknown key `{table}.{key}` for kind `{}`{}; valid keys: {}",
        study.kind(),
        did_you_mean(key, names.iter().copied()),
        names.join(", ")
    )
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

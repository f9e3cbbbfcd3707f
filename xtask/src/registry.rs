//! The study registry: which `experiment.kind` runs which study. Adding a study is one entry
//! in [`STUDIES`] plus an adapter module under `studies/` that turns the study crate's typed
//! config and result into parameters, metrics, series and report sections.

use std::collections::BTreeMap;

use toml::Table;

use crate::report::Section;
use crate::studies;

/// The type a parameter must have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    /// A number (integers accepted).
    Float,
    /// A non-negative integer.
    Int,
    /// `true` / `false`.
    Bool,
    /// One of the listed strings.
    Choice(&'static [&'static str]),
}

impl FieldType {
    /// How the type reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            FieldType::Float => "a number".into(),
            FieldType::Int => "a non-negative integer".into(),
            FieldType::Bool => "true or false".into(),
            FieldType::Choice(o) => format!("one of the strings {}", o.join(", ")),
        }
    }
}

/// One parameter of a study.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The key in `[params]` / `[sweep]`.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// What it means.
    pub doc: &'static str,
}

/// A parameter problem found by a study's validation; `field` locates it in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The offending parameter, when known.
    pub field: Option<String>,
    /// The message.
    pub message: String,
}

/// Progress of a running study.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Current step.
    pub step: u64,
    /// Step budget.
    pub total: u64,
    /// Current loss (or the study's main quantity).
    pub loss: f64,
}

/// What one run produced.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    /// Final scalars (`metrics.json`); NaN means "not measured" and is written as null.
    pub metrics: BTreeMap<String, f64>,
    /// Column names of the time series (`series.csv`).
    pub columns: Vec<String>,
    /// Rows of the time series.
    pub rows: Vec<Vec<f64>>,
    /// Study-specific data for the report (`data.json`).
    pub extra: serde_json::Value,
    /// Step at which the run diverged, if it did.
    pub diverged_at: Option<u64>,
}

/// A finished run as the report sees it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// Run id (folder name).
    pub id: String,
    /// Sweep-axis values.
    pub axes: BTreeMap<String, toml::Value>,
    /// All parameters.
    pub params: Table,
    /// Seed.
    pub seed: u64,
    /// `ok`, `diverged` or `failed`.
    pub status: String,
    /// Metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Series columns.
    pub columns: Vec<String>,
    /// Series rows.
    pub rows: Vec<Vec<f64>>,
    /// Study-specific data.
    pub extra: serde_json::Value,
}

impl RunRecord {
    /// A parameter as a display string.
    pub fn param(&self, key: &str) -> String {
        self.params
            .get(key)
            .map(crate::spec::show_value)
            .unwrap_or_default()
    }

    /// A metric (NaN when absent).
    pub fn metric(&self, key: &str) -> f64 {
        self.metrics.get(key).copied().unwrap_or(f64::NAN)
    }

    /// One series column.
    pub fn column(&self, name: &str) -> Vec<f64> {
        match self.columns.iter().position(|c| c == name) {
            Some(i) => self.rows.iter().map(|r| r[i]).collect(),
            None => Vec::new(),
        }
    }
}

/// Runs one configuration: `(params, seed, progress) -> output`.
pub type RunFn = fn(&Table, u64, &mut dyn FnMut(Progress)) -> Result<RunOutput, String>;

/// A study: its parameters, metrics, runner and report.
pub struct Study {
    /// The `experiment.kind` that selects it.
    pub kind: &'static str,
    /// One line on what it answers.
    pub description: &'static str,
    /// Its parameters.
    pub fields: &'static [FieldSpec],
    /// The metrics each run produces (claims may name only these).
    pub metrics: &'static [&'static str],
    /// Full validation of one run's parameters.
    pub validate_fn: fn(&Table) -> Result<(), FieldError>,
    /// Runs one configuration.
    pub run_fn: RunFn,
    /// Builds the study's report sections from all finished runs.
    pub report_fn: fn(&[RunRecord]) -> Vec<Section>,
}

impl Study {
    /// The parameter called `name`.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Validates one run's parameters.
    ///
    /// # Errors
    /// The study's [`FieldError`].
    pub fn validate(&self, params: &Table) -> Result<(), FieldError> {
        (self.validate_fn)(params)
    }
}

impl std::fmt::Debug for Study {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Study({})", self.kind)
    }
}

/// Every study xtask can run.
pub static STUDIES: &[Study] = &[
    studies::quadratic::STUDY,
    studies::paths::STUDY,
    studies::classifier::STUDY,
];

/// The study for `kind`.
pub fn find(kind: &str) -> Option<&'static Study> {
    STUDIES.iter().find(|s| s.kind == kind)
}

/// Converts a serde error from deserialising a study config into a [`FieldError`], pulling
/// the field name out of messages such as "missing field `kappa`".
pub fn field_error_from_serde(message: &str) -> FieldError {
    let field = message.split('`').nth(1).map(str::to_string);
    FieldError {
        field,
        message: format!("params: {}", message.trim()),
    }
}

/// Converts a study crate's validation error into a [`FieldError`] naming the parameter.
pub fn field_error_from_optim(e: &optim::OptimError) -> FieldError {
    match e {
        optim::OptimError::InvalidParameter { field, .. } => FieldError {
            field: Some(field.to_string()),
            message: format!("params: {e}"),
        },
        other => FieldError {
            field: None,
            message: other.to_string(),
        },
    }
}

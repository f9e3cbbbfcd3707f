//! The study interface: what a study is to the engine, typed for the people who write one.
//!
//! A study implements [`Study`]: a [`Params`] configuration, a serialisable output, `run`
//! (the science — usually one call into the study's domain crate), `record` (which scalars
//! claims may test, and an optional CSV time series) and `report` (which tables and plots,
//! as data). The engine works with the type-erased [`AnyStudy`], which every `Study` is,
//! and a [`Registry`] maps an experiment's `kind` to one.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::params::{show_value, ParamError, Params, Table, Value};
use crate::report::Section;

/// Progress of a running study: `update(step, total, value)`, drawn as a bar by the runner.
pub struct Progress<'a>(Option<&'a mut dyn FnMut(u64, u64, f64)>);

impl<'a> Progress<'a> {
    /// Progress reported to `f(step, total, value)`.
    pub fn new(f: &'a mut dyn FnMut(u64, u64, f64)) -> Self {
        Progress(Some(f))
    }

    /// Progress that goes nowhere.
    pub fn none() -> Progress<'static> {
        Progress(None)
    }

    /// Reports `step` of `total`, with the study's main quantity (a loss).
    pub fn update(&mut self, step: u64, total: u64, value: f64) {
        if let Some(f) = &mut self.0 {
            f(step, total, value);
        }
    }

    /// A closure form, for domain functions that take `&mut dyn FnMut(step, total, value)`.
    pub fn as_fn(&mut self) -> impl FnMut(u64, u64, f64) + use<'_, 'a> {
        move |s, t, v| self.update(s, t, v)
    }
}

/// A time series: named columns of numbers (written as `series.csv`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, one value per column; NaN is written empty.
    pub rows: Vec<Vec<f64>>,
}

/// What the engine keeps of one run besides its output: the scalars claims test, a series,
/// and whether it diverged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Final scalars (`metrics.json`); NaN means "not measured" and is written as null.
    pub metrics: BTreeMap<String, f64>,
    /// The time series.
    pub series: Series,
    /// Step at which the run diverged, if it did (recorded as its status).
    pub diverged_at: Option<u64>,
    /// Files the run leaves in its folder beside the results, by name (a trained model's
    /// checkpoint, `model.safetensors`).
    pub files: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// Adds a metric.
    pub fn metric(mut self, name: &str, value: f64) -> Record {
        self.metrics.insert(name.to_string(), value);
        self
    }

    /// Adds an optional metric (NaN when absent).
    pub fn maybe(self, name: &str, value: Option<f64>) -> Record {
        self.metric(name, value.unwrap_or(f64::NAN))
    }

    /// Adds a yes/no metric as 1/0 (NaN when unknown), so claims can compare it.
    pub fn flag(self, name: &str, value: Option<bool>) -> Record {
        self.maybe(name, value.map(|b| if b { 1.0 } else { 0.0 }))
    }

    /// Sets the time series.
    pub fn series(mut self, columns: &[&str], rows: Vec<Vec<f64>>) -> Record {
        self.series = Series {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        };
        self
    }

    /// Adds a file to write into the run's folder (atomically, before its `status`). `name`
    /// is a plain file name that is not one of the runner's own (`config.toml`,
    /// `metrics.json`, `series.csv`, `data.json`, `status`); others are not written, and the
    /// run's status says why.
    pub fn file(mut self, name: &str, bytes: Vec<u8>) -> Record {
        self.files.push((name.to_string(), bytes));
        self
    }

    /// Marks the run as diverged at `step` (when `Some`).
    pub fn diverged_at(mut self, step: Option<u64>) -> Record {
        self.diverged_at = step;
        self
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Finished.
    Ok,
    /// Stopped because its quantity blew up at this step (still a result: claims see it).
    Diverged(u64),
    /// Failed with this message (claims do not see it).
    Failed(String),
}

impl Status {
    /// `ok`, `diverged` or `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Diverged(_) => "diverged",
            Status::Failed(_) => "failed",
        }
    }

    /// Reads the line a `status` file holds.
    pub fn parse(line: &str) -> Status {
        let line = line.trim();
        if line == "ok" {
            Status::Ok
        } else if let Some(step) = line
            .strip_prefix("diverged at step ")
            .and_then(|s| s.parse().ok())
        {
            Status::Diverged(step)
        } else {
            Status::Failed(line.strip_prefix("failed: ").unwrap_or(line).to_string())
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Ok => write!(f, "ok"),
            Status::Diverged(step) => write!(f, "diverged at step {step}"),
            Status::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

/// A finished run as a study's report sees it: typed configuration and output.
#[derive(Debug, Clone)]
pub struct Run<S: Study> {
    /// Run id (folder name).
    pub id: String,
    /// The sweep-axis values of this run.
    pub axes: BTreeMap<String, Value>,
    /// The parameters as the file gave them (for labels and selectors).
    pub params: Table,
    /// The configuration.
    pub config: S::Config,
    /// Seed.
    pub seed: u64,
    /// How it ended.
    pub status: Status,
    /// Its metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Its output (`None` for a failed run, or one whose `data.json` could not be read).
    pub output: Option<S::Output>,
}

impl<S: Study> Run<S> {
    /// A metric (NaN when absent).
    pub fn metric(&self, name: &str) -> f64 {
        self.metrics.get(name).copied().unwrap_or(f64::NAN)
    }

    /// A parameter as the file wrote it (empty when not given).
    pub fn param(&self, key: &str) -> String {
        self.params.get(key).map(show_value).unwrap_or_default()
    }
}

/// Why a run failed: any error, its sources kept until the runner records the message.
pub type RunError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `e`'s message followed by each of its sources' that adds something (`": "`-separated): a
/// source whose message the text already ends with — a transparent wrapper's — is skipped.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !m.is_empty() && !text.ends_with(&m) {
            text.push_str(": ");
            text.push_str(&m);
        }
        source = s.source();
    }
    text
}

/// A study: its parameters, how it runs, what it records and how it reports.
pub trait Study: Send + Sync + 'static {
    /// The configuration of one run (defined with [`params!`](crate::params!)).
    type Config: Params + Send + Sync;
    /// What one run produces (saved as `data.json`, read back for the report).
    type Output: Serialize + DeserializeOwned + Send;

    /// The `experiment.kind` that selects the study.
    const KIND: &'static str;
    /// One line on what it answers.
    const DESCRIPTION: &'static str;
    /// The metrics [`Study::record`] produces: the names claims may use.
    const METRICS: &'static [&'static str];
    /// Runs must not overlap: they measure time (throughput, latency) and a run beside them
    /// would take their cores. The runner then runs one at a time whatever `--jobs` says.
    const EXCLUSIVE: bool = false;
    /// The version of the study's code, part of every run's identity: bump it when a change
    /// to the study changes what a run with the same parameters produces, and `--resume`
    /// reruns the runs recorded under another version instead of mixing the two.
    const VERSION: u32 = 1;

    /// Checks that need several parameters at once (ranges are checked already).
    ///
    /// # Errors
    /// A [`ParamError`] naming the field to point at.
    fn check(&self, _config: &Self::Config) -> Result<(), ParamError> {
        Ok(())
    }

    /// Runs one configuration with `seed`.
    ///
    /// # Errors
    /// Any error (`?` converts the study's own, and a `String`); the run is recorded as failed
    /// with its message and its sources', and the sweep goes on.
    fn run(
        &self,
        config: &Self::Config,
        seed: u64,
        progress: &mut Progress<'_>,
    ) -> Result<Self::Output, RunError>;

    /// The metrics (exactly [`Study::METRICS`]) and series of a finished run.
    fn record(&self, config: &Self::Config, output: &Self::Output) -> Record;

    /// The report's sections, from every finished run.
    fn report(&self, _runs: &[Run<Self>]) -> Vec<Section>
    where
        Self: Sized,
    {
        Vec::new()
    }
}

#[cfg(feature = "engine")]
pub use erased::{params_markdown, AnyStudy, Executed, Registry, RunRecord};

/// The engine's side: studies with their types erased, and the registry (the `engine`
/// feature).
#[cfg(feature = "engine")]
mod erased {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::{Progress, Record, Run, Status, Study};
    use crate::params::{show_value, ParamError, ParamSpec, Params, Table, Value};
    use crate::report::Section;

    /// A run as stored on disk, before its study gives it types.
    #[derive(Debug, Clone)]
    pub struct RunRecord {
        /// Run id.
        pub id: String,
        /// Sweep-axis values.
        pub axes: BTreeMap<String, Value>,
        /// The parameters the file gave.
        pub params: Table,
        /// Every parameter, defaults included.
        pub resolved: Table,
        /// Seed.
        pub seed: u64,
        /// How it ended.
        pub status: Status,
        /// Metrics.
        pub metrics: BTreeMap<String, f64>,
        /// The output as JSON (`None` when `data.json` was missing or unreadable).
        pub data: Option<serde_json::Value>,
    }

    impl RunRecord {
        /// A parameter as a display string.
        pub fn param(&self, key: &str) -> String {
            self.params.get(key).map(show_value).unwrap_or_default()
        }

        /// A metric (NaN when absent).
        pub fn metric(&self, key: &str) -> f64 {
            self.metrics.get(key).copied().unwrap_or(f64::NAN)
        }
    }

    /// What [`AnyStudy::execute`] returns for a run that finished.
    #[derive(Debug, Clone)]
    pub struct Executed {
        /// Metrics, series, divergence.
        pub record: Record,
        /// The output as JSON.
        pub data: serde_json::Value,
    }

    /// A [`Study`] with its types erased: what the engine holds.
    pub trait AnyStudy: Send + Sync {
        /// [`Study::KIND`].
        fn kind(&self) -> &'static str;
        /// [`Study::DESCRIPTION`].
        fn description(&self) -> &'static str;
        /// The configuration's parameters.
        fn params(&self) -> Vec<ParamSpec>;
        /// [`Study::METRICS`].
        fn metrics(&self) -> &'static [&'static str];
        /// [`Study::EXCLUSIVE`].
        fn exclusive(&self) -> bool;
        /// [`Study::VERSION`].
        fn version(&self) -> u32;
        /// Builds and checks one run's configuration; returns it resolved (defaults included).
        ///
        /// # Errors
        /// Every problem found.
        fn resolve(&self, params: &Table) -> Result<Table, Vec<ParamError>>;
        /// Runs one configuration.
        ///
        /// # Errors
        /// The study's message.
        fn execute(
            &self,
            params: &Table,
            seed: u64,
            progress: &mut Progress<'_>,
        ) -> Result<Executed, String>;
        /// The report's sections from the stored runs.
        fn report(&self, runs: &[RunRecord]) -> Vec<Section>;
    }

    fn config<C: Params>(params: &Table) -> Result<C, Vec<ParamError>> {
        C::from_table(params)
    }

    impl<S: Study> AnyStudy for S {
        fn kind(&self) -> &'static str {
            S::KIND
        }

        fn description(&self) -> &'static str {
            S::DESCRIPTION
        }

        fn params(&self) -> Vec<ParamSpec> {
            S::Config::specs()
        }

        fn version(&self) -> u32 {
            S::VERSION
        }

        fn metrics(&self) -> &'static [&'static str] {
            S::METRICS
        }

        fn exclusive(&self) -> bool {
            S::EXCLUSIVE
        }

        fn resolve(&self, params: &Table) -> Result<Table, Vec<ParamError>> {
            let cfg: S::Config = config(params)?;
            self.check(&cfg).map_err(|e| vec![e])?;
            Ok(cfg.to_table())
        }

        fn execute(
            &self,
            params: &Table,
            seed: u64,
            progress: &mut Progress<'_>,
        ) -> Result<Executed, String> {
            let cfg: S::Config = config(params).map_err(|errs| {
                errs.iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
            let output = self
                .run(&cfg, seed, progress)
                .map_err(|e| super::error_chain(&*e))?;
            let record = self.record(&cfg, &output);
            debug_assert!(
                record
                    .metrics
                    .keys()
                    .all(|k| S::METRICS.contains(&k.as_str())),
                "{}: record() produced a metric missing from METRICS",
                S::KIND
            );
            let data =
                serde_json::to_value(&output).map_err(|e| format!("saving the output: {e}"))?;
            Ok(Executed { record, data })
        }

        fn report(&self, runs: &[RunRecord]) -> Vec<Section> {
            let typed: Vec<Run<S>> = runs
                .iter()
                .filter_map(|r| {
                    let config = config(&r.params).ok()?;
                    let output = r
                        .data
                        .as_ref()
                        .and_then(|d| crate::data::from_value(d.clone()).ok());
                    Some(Run {
                        id: r.id.clone(),
                        axes: r.axes.clone(),
                        params: r.params.clone(),
                        config,
                        seed: r.seed,
                        status: r.status.clone(),
                        metrics: r.metrics.clone(),
                        output,
                    })
                })
                .collect();
            Study::report(self, &typed)
        }
    }

    /// The studies an engine can run, by `kind`.
    #[derive(Clone, Default)]
    pub struct Registry {
        studies: Vec<Arc<dyn AnyStudy>>,
    }

    impl Registry {
        /// An empty registry.
        pub fn new() -> Registry {
            Registry::default()
        }

        /// The registry with `study` added.
        pub fn with(mut self, study: impl Study) -> Registry {
            self.studies.push(Arc::new(study));
            self
        }

        /// The study for `kind`.
        pub fn find(&self, kind: &str) -> Option<Arc<dyn AnyStudy>> {
            self.studies.iter().find(|s| s.kind() == kind).cloned()
        }

        /// Every study, in registration order.
        pub fn studies(&self) -> impl Iterator<Item = &Arc<dyn AnyStudy>> {
            self.studies.iter()
        }

        /// Every kind, in registration order.
        pub fn kinds(&self) -> Vec<&'static str> {
            self.studies.iter().map(|s| s.kind()).collect()
        }
    }

    impl std::fmt::Debug for Registry {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Registry({})", self.kinds().join(", "))
        }
    }

    /// A study's parameters as a markdown table (the docs `cargo xtask docs` writes).
    pub fn params_markdown(study: &dyn AnyStudy) -> String {
        let mut s = format!(
            "## `{}`\n\n{}.\n\n| parameter | type | default | range | meaning |\n|---|---|---|---|---|\n",
            study.kind(),
            study.description()
        );
        for p in study.params() {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                p.name,
                p.ty.describe(),
                p.default,
                p.bounds
                    .describe()
                    .map(|r| r.trim_start_matches("must be ").to_string())
                    .unwrap_or_else(|| "-".into()),
                p.doc.replace('|', "\\|")
            ));
        }
        s.push_str(&format!(
            "\nMetrics: {}.\n",
            study
                .metrics()
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug)]
    struct Wrapped(&'static str, Option<Box<Wrapped>>);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|w| w as _)
        }
    }

    #[test]
    fn a_runs_error_keeps_what_its_sources_add() {
        let io = Wrapped("permission denied", None);
        let file = Wrapped("data/x.idx: cannot read", Some(Box::new(io)));
        assert_eq!(
            error_chain(&file),
            "data/x.idx: cannot read: permission denied"
        );
        // A source that repeats the end of the text (a transparent wrapper's) adds nothing.
        let inner = Wrapped("cannot read", None);
        let outer = Wrapped("data/x.idx: cannot read", Some(Box::new(inner)));
        assert_eq!(error_chain(&outer), "data/x.idx: cannot read");
    }
}

//! The `serving` study as `lab` runs it ([`ServingStudy`]): latency percentiles against
//! offered load per server setting (the ramp and the derived quantities are the parent
//! module's), the knee and the sustainable loads as a table.

use super::{run_serving, Batching, ServingConfig, ServingRun};
use lab::report::{fixed, header, Line, LinePlot, Plot, Section, TableData};
use lab::study::{Progress, Record, Run, Study};

/// The serving study.
pub struct ServingStudy;

fn setting(c: &ServingConfig) -> String {
    let batching = match c.batching {
        Batching::None => "no batching".to_string(),
        Batching::Idle => format!("idle, max {}", c.max_batch),
        Batching::Timer => format!("timer {} ms, max {}", c.max_wait_ms, c.max_batch),
    };
    format!("{}, {batching}", if c.int8 { "INT8" } else { "FP32" })
}

impl Study for ServingStudy {
    type Config = ServingConfig;
    type Output = ServingRun;
    const KIND: &'static str = "serving";
    const DESCRIPTION: &'static str =
        "groundwork-serve under open-loop Poisson load: latency percentiles against offered load per batching setting";
    const METRICS: &'static [&'static str] = &[
        "knee",
        "sustained_50ms",
        "sustained_200ms",
        "best_achieved",
        "library_best",
        "fraction_of_library",
        "errors_below_knee",
        "count_mismatch",
        "p99_at_knee_ms",
        "mean_batch_at_knee",
    ];
    const EXCLUSIVE: bool = true;

    fn check(&self, cfg: &ServingConfig) -> Result<(), lab::params::ParamError> {
        cfg.validate()
            .map_err(|(field, m)| lab::params::ParamError::field(field, m))
    }

    fn run(
        &self,
        cfg: &ServingConfig,
        seed: u64,
        progress: &mut Progress<'_>,
    ) -> Result<ServingRun, lab::study::RunError> {
        run_serving(cfg, seed, &mut |s, t| progress.update(s, t, 0.0))
    }

    fn record(&self, _cfg: &ServingConfig, r: &ServingRun) -> Record {
        let knee = r.at_knee();
        Record::new()
            .metric("knee", r.knee())
            .metric("sustained_50ms", r.sustained(50.0))
            .metric("sustained_200ms", r.sustained(200.0))
            .metric("best_achieved", r.best_achieved())
            .metric("library_best", r.library_best)
            .metric("fraction_of_library", r.sustained(200.0) / r.library_best)
            .metric("errors_below_knee", r.errors_below_knee() as f64)
            .metric("count_mismatch", r.count_mismatch() as f64)
            .maybe("p99_at_knee_ms", knee.map(|l| l.p99_ms))
            .maybe("mean_batch_at_knee", knee.map(|l| l.mean_batch))
    }

    fn report(&self, runs: &[Run<Self>]) -> Vec<Section> {
        let done: Vec<(&Run<Self>, &ServingRun)> = runs
            .iter()
            .filter_map(|r| r.output.as_ref().map(|o| (r, o)))
            .collect();
        if done.is_empty() {
            return Vec::new();
        }
        let mut plots = Vec::new();
        for int8 in [true, false] {
            let these: Vec<_> = done.iter().filter(|(r, _)| r.config.int8 == int8).collect();
            if these.is_empty() {
                continue;
            }
            for (q, name) in [(0, "p50"), (1, "p99")] {
                let lines = these
                    .iter()
                    .enumerate()
                    .map(|(i, (r, o))| {
                        let points = o
                            .levels
                            .iter()
                            .map(|l| (l.offered, if q == 0 { l.p50_ms } else { l.p99_ms }))
                            .collect();
                        Line::new(setting(&r.config), points, i)
                    })
                    .collect();
                plots.push(Plot::Lines(LinePlot {
                    title: format!(
                        "{name} latency against offered load, {}",
                        if int8 { "INT8" } else { "FP32" }
                    ),
                    x_label: "offered load (requests / s)".into(),
                    y_label: format!("{name} latency (ms, log)"),
                    log_x: false,
                    log_y: true,
                    lines,
                }));
            }
        }
        let rows = done
            .iter()
            .map(|(r, o)| {
                let k = o.at_knee();
                vec![
                    setting(&r.config),
                    fixed(o.knee(), 0),
                    k.map_or("-".into(), |l| fixed(l.p99_ms, 1)),
                    k.map_or("-".into(), |l| fixed(l.mean_batch, 1)),
                    fixed(o.sustained(50.0), 0),
                    fixed(o.sustained(200.0), 0),
                    fixed(o.best_achieved(), 0),
                    fixed(o.library_best, 0),
                    format!("{:.0}%", 100.0 * o.sustained(200.0) / o.library_best),
                    o.errors_below_knee().to_string(),
                    o.count_mismatch().to_string(),
                ]
            })
            .collect();
        let levels: Vec<Vec<String>> = done
            .iter()
            .flat_map(|(r, o)| {
                o.levels.iter().map(|l| {
                    vec![
                        setting(&r.config),
                        fixed(l.offered, 0),
                        fixed(l.achieved, 1),
                        l.sent.to_string(),
                        l.rejected.to_string(),
                        l.failed.to_string(),
                        fixed(l.p50_ms, 1),
                        fixed(l.p95_ms, 1),
                        fixed(l.p99_ms, 1),
                        fixed(l.p999_ms, 1),
                        fixed(l.mean_batch, 1),
                    ]
                })
            })
            .collect();
        vec![
            Section {
                title: "Latency against offered load".into(),
                text: "Each run serves one setting on a loopback port and is driven by an open-loop generator: one sentence per request, Poisson arrivals at the offered rate, latency from each request's scheduled send time (a server that falls behind is charged for the wait it causes). The ramp stops one level after the server saturates (p99 > 1 s, or more than 1% of requests refused or failed). The generator shares the machine's cores with the server.".into(),
                table: None,
                plots,
            },
            Section {
                title: "Sustainable load per setting".into(),
                text: "Knee: the highest offered rate before the first saturated level. Sustained (p99 < L ms): the highest offered rate with p99 under L and nothing refused or failed. Library: the encoder alone in process on the same sentences (batches of 32, best of three) — what the server would reach with no HTTP, JSON or queueing. Counts: |requests the server saw - requests sent| + |sentences it answered - OK answers|, over all levels.".into(),
                table: Some(TableData {
                    header: header(&[
                        "setting",
                        "knee req/s",
                        "p99 at knee ms",
                        "mean batch at knee",
                        "sustained p99<50ms",
                        "sustained p99<200ms",
                        "best achieved",
                        "library sent/s",
                        "sustained 200 / library",
                        "errors below knee",
                        "count mismatch",
                    ]),
                    rows,
                }),
                plots: Vec::new(),
            },
            Section {
                title: "Every level".into(),
                text: "Sent, refused (429) and failed requests, achieved rate, latency percentiles (ms) and the mean batch the server ran, per offered load.".into(),
                table: Some(TableData {
                    header: header(&[
                        "setting", "offered", "achieved", "sent", "429", "failed", "p50", "p95",
                        "p99", "p99.9", "mean batch",
                    ]),
                    rows: levels,
                }),
                plots: Vec::new(),
            },
        ]
    }
}

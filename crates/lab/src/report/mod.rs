//! Reports: `report.md` and a self-contained `report.html` (plots inlined as SVG) per
//! experiment — the claims table first, a contents list, then the study's sections — and
//! `results/index.html` listing every experiment run with its PASS/FAIL count and date.
//!
//! Studies build [`Section`]s of data (text, a [`TableData`], [`Plot`]s); only this module
//! turns them into files.

pub mod plot;
#[cfg(feature = "engine")]
pub mod render;
#[cfg(feature = "engine")]
mod write;

pub use plot::{BarPlot, Bars, Heatmap, ImagePlot, Line, LinePlot, Plot};
#[cfg(feature = "engine")]
pub use write::{write_index, write_report, ReportMeta};

/// A table of strings.
#[derive(Debug, Clone, Default)]
pub struct TableData {
    /// Column headers.
    pub header: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<String>>,
}

/// A header row from column names (`TableData { header: header(&["a", "b"]), rows }`).
pub fn header(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|s| s.to_string()).collect()
}

/// `v` with `digits` decimals, or `-` when it is not finite (a table cell).
pub fn fixed(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

/// One part of a study's report.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// A paragraph of explanation (plain text).
    pub text: String,
    /// An optional table.
    pub table: Option<TableData>,
    /// Plots.
    pub plots: Vec<Plot>,
}

/// The mean of each window of `window` points, placed at the window's middle x plus one (a
/// step count starting at 0 then has a place on a logarithmic axis): a smoothed training
/// curve for a plot.
pub fn smooth(pts: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    pts.chunks(window.max(1))
        .map(|c| {
            (
                c[c.len() / 2].0 + 1.0,
                c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64,
            )
        })
        .collect()
}

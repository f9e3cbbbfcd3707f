//! Plots as data ([`Plot`]): what to draw (lines, points, bands, heat maps, bars, images,
//! with their labels and units). Studies build them without the engine; the engine's
//! renderer (`render`, behind the `engine` feature) decides how they look.

/// One line (or point set) of a plot.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points; non-finite values break the line.
    pub points: Vec<(f64, f64)>,
    /// Draw dashed (theory lines).
    pub dashed: bool,
    /// Draw markers at the points instead of (or as well as) a line.
    pub markers: bool,
    /// Colour index into the palette (lines with equal index share a colour).
    pub color: usize,
    /// A shaded band `(x, low, high)` around the line (e.g. min-max over seeds).
    pub band: Vec<(f64, f64, f64)>,
}

impl Line {
    /// A solid line.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, color: usize) -> Line {
        Line {
            label: label.into(),
            points,
            dashed: false,
            markers: false,
            color,
            band: Vec::new(),
        }
    }

    /// The mean of several curves (over repeats or seeds) with their min-max band. Curves are
    /// aligned point by point (they share x values) and cut to the shortest; one curve gives
    /// a plain line. The label gains "(mean of n, band min-max)" when n > 1.
    pub fn mean_band(label: impl Into<String>, curves: &[Vec<(f64, f64)>], color: usize) -> Line {
        let label = label.into();
        let n = curves.len();
        if n <= 1 {
            return Line::new(label, curves.first().cloned().unwrap_or_default(), color);
        }
        let len = curves.iter().map(Vec::len).min().unwrap_or(0);
        let mut points = Vec::with_capacity(len);
        let mut band = Vec::with_capacity(len);
        for i in 0..len {
            let x = curves[0][i].0;
            let ys = curves.iter().map(|c| c[i].1);
            let (lo, hi, sum) = ys.fold((f64::INFINITY, f64::NEG_INFINITY, 0.0), |(a, b, s), y| {
                (a.min(y), b.max(y), s + y)
            });
            points.push((x, sum / n as f64));
            band.push((x, lo, hi));
        }
        Line {
            band,
            ..Line::new(
                format!("{label} (mean of {n}, band min-max)"),
                points,
                color,
            )
        }
    }

    /// The same line, dashed.
    pub fn dashed(mut self) -> Line {
        self.dashed = true;
        self
    }

    /// The same line, with point markers.
    pub fn markers(mut self) -> Line {
        self.markers = true;
        self
    }
}

/// A line/scatter plot.
#[derive(Debug, Clone, Default)]
pub struct LinePlot {
    /// Title.
    pub title: String,
    /// x-axis label with unit.
    pub x_label: String,
    /// y-axis label with unit.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// The lines.
    pub lines: Vec<Line>,
}

/// A heat map over a regular grid, with optional lines drawn on top (trajectories, points).
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// x range of the grid.
    pub x_range: (f64, f64),
    /// y range of the grid.
    pub y_range: (f64, f64),
    /// Columns.
    pub nx: usize,
    /// Rows.
    pub ny: usize,
    /// Row-major values, `ny * nx`, row 0 at the bottom (lowest y).
    pub values: Vec<f64>,
    /// For categorical maps: (value, label) pairs; values are matched exactly.
    pub categories: Vec<(f64, String)>,
    /// Overlaid lines.
    pub overlay: Vec<Line>,
}

/// One series of a bar plot: a value per category (NaN: no bar).
#[derive(Debug, Clone)]
pub struct Bars {
    /// Legend label.
    pub label: String,
    /// One value per category.
    pub values: Vec<f64>,
    /// Colour index into the palette.
    pub color: usize,
}

/// Bars over named categories, series side by side within each category (histograms,
/// per-layer statistics).
#[derive(Debug, Clone, Default)]
pub struct BarPlot {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label with unit.
    pub y_label: String,
    /// The categories, left to right.
    pub categories: Vec<String>,
    /// The series.
    pub series: Vec<Bars>,
}

/// A picture (reconstructions, latent traversals): written as a PNG beside the report and
/// embedded in `report.html`.
#[derive(Debug, Clone, Default)]
pub struct ImagePlot {
    /// Title.
    pub title: String,
    /// The image.
    pub image: crate::image::GrayImage,
    /// Each pixel drawn `scale × scale` (1 = as is).
    pub scale: usize,
    /// What the rows and columns show, printed under the image.
    pub caption: String,
}

/// A plot of any kind.
#[derive(Debug, Clone)]
pub enum Plot {
    /// Lines and points.
    Lines(LinePlot),
    /// A heat map.
    Heatmap(Heatmap),
    /// Bars.
    Bars(BarPlot),
    /// A picture.
    Image(ImagePlot),
}

impl Plot {
    /// The plot's title.
    pub fn title(&self) -> &str {
        match self {
            Plot::Lines(l) => &l.title,
            Plot::Heatmap(h) => &h.title,
            Plot::Bars(b) => &b.title,
            Plot::Image(i) => &i.title,
        }
    }
}

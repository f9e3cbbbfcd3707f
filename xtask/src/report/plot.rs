//! Plots as data ([`Plot`]) and their SVG rendering with plotters.
//!
//! Study adapters describe *what* to draw (lines, points, heat maps with their labels and
//! units); this module decides how. Logarithmic axes are drawn by plotting `log10` of the
//! values on a linear axis with `10^k` tick labels, which keeps one code path for every axis
//! combination.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// A plot of either kind.
#[derive(Debug, Clone)]
pub enum Plot {
    /// Lines and points.
    Lines(LinePlot),
    /// A heat map.
    Heatmap(Heatmap),
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn transform(v: f64, log: bool) -> f64 {
    if log {
        if v > 0.0 {
            v.log10()
        } else {
            f64::NAN
        }
    } else {
        v
    }
}

fn tick(v: f64, log: bool) -> String {
    if !log && v.abs() < 1e-9 {
        return "0".into();
    }
    if log {
        let r = v.round();
        if (v - r).abs() < 1e-6 {
            format!("1e{}", r as i64)
        } else {
            // Between decades: two significant digits.
            let x = 10f64.powf(v);
            let mag = 10f64.powi(x.log10().floor() as i32 - 1);
            let x = (x / mag).round() * mag;
            if x.abs() >= 1e4 || x.abs() < 1e-2 {
                format!("{x:.1e}")
            } else {
                format!("{}", (x * 1e4).round() / 1e4)
            }
        }
    } else if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-2) {
        format!("{v:.1e}")
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi {
        return None;
    }
    let pad = if hi > lo {
        0.04 * (hi - lo)
    } else {
        0.5 * lo.abs().max(1.0)
    };
    Some((lo - pad, hi + pad))
}

/// Renders a plot to a standalone SVG document.
pub fn render_svg(plot: &Plot) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 440)).into_drawing_area();
        let result = match plot {
            Plot::Lines(p) => draw_lines(&root, p),
            Plot::Heatmap(h) => draw_heatmap(&root, h),
        };
        if let Err(e) = result {
            let _ = root.fill(&WHITE);
            let _ = root.draw(&Text::new(
                format!("plot failed: {e}"),
                (20, 20),
                ("sans-serif", 14),
            ));
        }
        let _ = root.present();
    }
    svg
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    p: &LinePlot,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let pts = || p.lines.iter().flat_map(|l| l.points.iter());
    let xr = bounds(pts().map(|q| transform(q.0, p.log_x))).unwrap_or((0.0, 1.0));
    let yr = bounds(pts().map(|q| transform(q.1, p.log_y))).unwrap_or((0.0, 1.0));
    let mut chart = ChartBuilder::on(root)
        .caption(&p.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
    let (lx, ly) = (p.log_x, p.log_y);
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .x_label_formatter(&|v| tick(*v, lx))
        .y_label_formatter(&|v| tick(*v, ly))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for line in &p.lines {
        let c = color(line.color);
        let style = ShapeStyle {
            color: c.to_rgba(),
            filled: false,
            stroke_width: if line.dashed { 1 } else { 2 },
        };
        let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for &(x, y) in &line.points {
            let (tx, ty) = (transform(x, lx), transform(y, ly));
            if tx.is_finite() && ty.is_finite() {
                segments.last_mut().expect("non-empty").push((tx, ty));
            } else if !segments.last().expect("non-empty").is_empty() {
                segments.push(Vec::new());
            }
        }
        let mut labelled = false;
        for seg in segments.into_iter().filter(|s| !s.is_empty()) {
            let anno = if line.markers && line.dashed {
                chart.draw_series(seg.iter().map(|&q| Circle::new(q, 3, style)))?
            } else if line.markers {
                chart.draw_series(seg.iter().map(|&q| Circle::new(q, 3, style.filled())))?
            } else if line.dashed {
                chart.draw_series(DashedLineSeries::new(seg.clone(), 6, 4, style))?
            } else {
                chart.draw_series(LineSeries::new(seg.clone(), style))?
            };
            if !labelled {
                labelled = true;
                anno.label(line.label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            }
        }
    }
    if p.lines.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 12))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}

/// A blue-to-yellow ramp for continuous values in [0, 1].
fn ramp(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t) as u8;
    RGBColor(lerp(40.0, 250.0), lerp(30.0, 230.0), lerp(120.0, 60.0))
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    h: &Heatmap,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(&h.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(h.x_range.0..h.x_range.1, h.y_range.0..h.y_range.1)?;
    chart
        .configure_mesh()
        .x_desc(&h.x_label)
        .y_desc(&h.y_label)
        .x_label_formatter(&|v| tick(*v, false))
        .y_label_formatter(&|v| tick(*v, false))
        .disable_mesh()
        .draw()?;
    let (dx, dy) = (
        (h.x_range.1 - h.x_range.0) / h.nx as f64,
        (h.y_range.1 - h.y_range.0) / h.ny as f64,
    );
    let finite = h.values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let cat_color = |v: f64| {
        h.categories
            .iter()
            .position(|(c, _)| *c == v)
            .map(|i| color(i + 7))
    };
    chart.draw_series(
        (0..h.ny)
            .flat_map(|r| (0..h.nx).map(move |c| (r, c)))
            .map(|(r, c)| {
                let v = h.values[r * h.nx + c];
                let fill = if !h.categories.is_empty() {
                    cat_color(v).unwrap_or(WHITE)
                } else if v.is_finite() && hi > lo {
                    ramp((v - lo) / (hi - lo))
                } else {
                    WHITE
                };
                let x0 = h.x_range.0 + c as f64 * dx;
                let y0 = h.y_range.0 + r as f64 * dy;
                Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], fill.filled())
            }),
    )?;
    for (i, (_, label)) in h.categories.iter().enumerate() {
        let c = color(i + 7);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(h.x_range.0, h.y_range.0), (h.x_range.0, h.y_range.0)],
                c.filled(),
            )))?
            .label(label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    for line in &h.overlay {
        let c = color(line.color);
        let style = ShapeStyle {
            color: c.to_rgba(),
            filled: true,
            stroke_width: 2,
        };
        let pts: Vec<(f64, f64)> = line
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if pts.is_empty() {
            continue;
        }
        if !line.markers {
            // Start (circle) and end (cross) marks of a trajectory.
            chart.draw_series(std::iter::once(Circle::new(pts[0], 5, style)))?;
            chart.draw_series(std::iter::once(Cross::new(
                *pts.last().expect("non-empty"),
                6,
                style,
            )))?;
        }
        let anno = if line.markers {
            chart.draw_series(pts.iter().map(|&q| Circle::new(q, 4, style)))?
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))?
        };
        anno.label(line.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    if !h.categories.is_empty() || !h.overlay.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 12))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    if h.categories.is_empty() && hi > lo {
        let style =
            TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Left, VPos::Top));
        root.draw(&Text::new(
            format!(
                "colour: {} (dark) .. {} (light)",
                tick(lo, false),
                tick(hi, false)
            ),
            (8, 424),
            style,
        ))?;
    }
    Ok(())
}

//! SVG rendering of [`Plot`]s with plotters (the `engine` feature).
//!
//! Logarithmic axes are drawn by plotting `log10` of the values on a linear axis with `10^k`
//! tick labels, which keeps one code path for every axis combination. Legends are drawn in a
//! panel beside the plot area, so they never cover data.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::*;

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

/// Width of the legend panel right of the plot area, when there is a legend.
const LEGEND_WIDTH: u32 = 300;

/// The legend entries of a plot: (label, colour index, dashed, swatch).
fn legend_entries(plot: &Plot) -> Vec<(String, usize, bool, bool)> {
    let lines = match plot {
        // One plain line needs no legend; several lines, or a band, do.
        Plot::Lines(p) if p.lines.len() > 1 || p.lines.iter().any(|l| !l.band.is_empty()) => {
            p.lines.iter().collect()
        }
        Plot::Lines(_) => Vec::new(),
        Plot::Heatmap(h) => h.overlay.iter().collect::<Vec<_>>(),
        Plot::Bars(b) if b.series.len() > 1 => {
            return b
                .series
                .iter()
                .map(|s| (s.label.clone(), s.color, false, true))
                .collect();
        }
        Plot::Bars(_) | Plot::Image(_) => Vec::new(),
    };
    let mut entries: Vec<(String, usize, bool, bool)> = lines
        .iter()
        .map(|l| (l.label.clone(), l.color, l.dashed, false))
        .collect();
    if let Plot::Heatmap(h) = plot {
        entries.extend(
            h.categories
                .iter()
                .enumerate()
                .map(|(i, (_, label))| (label.clone(), i + 7, false, true)),
        );
    }
    entries
}

/// Draws the legend as a column of entries in its own area (never over the data).
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(String, usize, bool, bool)],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let style =
        TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, c, dashed, swatch)) in entries.iter().enumerate() {
        let y = 40 + 18 * i as i32;
        if y > 430 {
            area.draw(&Text::new(
                format!("... {} more", entries.len() - i),
                (8, y),
                style.clone(),
            ))?;
            break;
        }
        let colour = color(*c);
        if *swatch {
            area.draw(&Rectangle::new([(8, y - 5), (24, y + 5)], colour.filled()))?;
        } else if *dashed {
            area.draw(&PathElement::new(
                vec![(8, y), (13, y)],
                colour.stroke_width(2),
            ))?;
            area.draw(&PathElement::new(
                vec![(18, y), (24, y)],
                colour.stroke_width(2),
            ))?;
        } else {
            area.draw(&PathElement::new(
                vec![(8, y), (24, y)],
                colour.stroke_width(2),
            ))?;
        }
        let text: String = if label.chars().count() > 44 {
            label.chars().take(43).chain(std::iter::once('…')).collect()
        } else {
            label.clone()
        };
        area.draw(&Text::new(text, (30, y), style.clone()))?;
    }
    Ok(())
}

/// Renders a plot to a standalone SVG document (a picture: its PNG inside an `<image>`).
pub fn render_svg(plot: &Plot) -> String {
    if let Plot::Image(p) = plot {
        let img = p.image.upscale(p.scale);
        return format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\"><image width=\"{w}\" height=\"{h}\" href=\"{}\"/></svg>\n",
            png_data_uri(&img.to_png()),
            w = img.width,
            h = img.height
        );
    }
    let mut svg = String::new();
    let legend = legend_entries(plot);
    let width = 760 + if legend.is_empty() { 0 } else { LEGEND_WIDTH };
    {
        let root = SVGBackend::with_string(&mut svg, (width, 440)).into_drawing_area();
        let (chart_area, legend_area) = root.split_horizontally(760);
        let result = match plot {
            Plot::Lines(p) => draw_lines(&chart_area, p),
            Plot::Heatmap(h) => draw_heatmap(&chart_area, h),
            Plot::Bars(b) => draw_bars(&chart_area, b),
            Plot::Image(_) => Ok(()),
        }
        .and_then(|()| {
            legend_area.fill(&WHITE)?;
            draw_legend(&legend_area, &legend)
        });
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
    let band_y = || {
        p.lines
            .iter()
            .flat_map(|l| l.band.iter().flat_map(|&(_, lo, hi)| [lo, hi]))
    };
    let xr = bounds(pts().map(|q| transform(q.0, p.log_x))).unwrap_or((0.0, 1.0));
    let yr = bounds(
        pts()
            .map(|q| q.1)
            .chain(band_y())
            .map(|y| transform(y, p.log_y)),
    )
    .unwrap_or((0.0, 1.0));
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
        let band: Vec<(f64, f64, f64)> = line
            .band
            .iter()
            .map(|&(x, lo, hi)| (transform(x, lx), transform(lo, ly), transform(hi, ly)))
            .filter(|(x, lo, hi)| x.is_finite() && lo.is_finite() && hi.is_finite())
            .collect();
        if band.len() > 1 {
            let outline: Vec<(f64, f64)> = band
                .iter()
                .map(|&(x, lo, _)| (x, lo))
                .chain(band.iter().rev().map(|&(x, _, hi)| (x, hi)))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(outline, c.mix(0.18).filled())))?;
        }
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
        for seg in segments.into_iter().filter(|s| !s.is_empty()) {
            if line.markers && line.dashed {
                chart.draw_series(seg.iter().map(|&q| Circle::new(q, 3, style)))?
            } else if line.markers {
                chart.draw_series(seg.iter().map(|&q| Circle::new(q, 3, style.filled())))?
            } else if line.dashed {
                chart.draw_series(DashedLineSeries::new(seg.clone(), 6, 4, style))?
            } else {
                chart.draw_series(LineSeries::new(seg.clone(), style))?
            };
        }
    }
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    p: &BarPlot,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let n = p.categories.len().max(1);
    let values = || p.series.iter().flat_map(|s| s.values.iter().copied());
    let yr = bounds(values().chain(std::iter::once(0.0))).unwrap_or((0.0, 1.0));
    // Long or many labels stand vertically.
    let longest = p
        .categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0);
    let vertical = n * (longest + 1) * 7 > 640;
    let mut chart = ChartBuilder::on(root)
        .caption(&p.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(if vertical {
            30 + 7 * longest as u32
        } else {
            44
        })
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, yr.0..yr.1)?;
    let cats = &p.categories;
    let label = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < cats.len() {
            let c = &cats[i as usize];
            if vertical {
                // plotters centres a label on its tick, rotated or not: lead with blanks
                // (no-break spaces, which SVG keeps) as wide as the text, so the text itself
                // starts below the axis.
                format!("{}{c}", "\u{a0}".repeat(2 * c.chars().count() + 2))
            } else {
                c.clone()
            }
        } else {
            String::new()
        }
    };
    let style = TextStyle::from(("sans-serif", 12).into_font());
    let style = if vertical {
        style.transform(FontTransform::Rotate90)
    } else {
        style
    };
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .x_labels(n + 1)
        .x_label_formatter(&label)
        .x_label_style(style)
        .y_label_formatter(&|v| tick(*v, false))
        .disable_x_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let k = p.series.len().max(1) as f64;
    let width = 0.8 / k;
    for (si, s) in p.series.iter().enumerate() {
        let c = color(s.color);
        chart.draw_series(
            s.values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, &v)| {
                    let x0 = i as f64 - 0.4 + si as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v)], c.filled())
                }),
        )?;
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
        if line.markers {
            chart.draw_series(pts.iter().map(|&q| Circle::new(q, 4, style)))?;
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))?;
        }
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

/// `data:image/png;base64,…` for PNG bytes.
pub fn png_data_uri(png: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_draw_each_finite_value_label_each_category_and_list_series() {
        let plot = Plot::Bars(BarPlot {
            title: "per layer".into(),
            x_label: "layer".into(),
            y_label: "dB".into(),
            categories: vec!["L0 qkv".into(), "L0 ffn-down".into(), "L1 qkv".into()],
            series: vec![
                Bars {
                    label: "sqnr".into(),
                    values: vec![30.0, 20.0, f64::NAN],
                    color: 0,
                },
                Bars {
                    label: "other".into(),
                    values: vec![1.0, 2.0, 3.0],
                    color: 1,
                },
            ],
        });
        let svg = render_svg(&plot);
        for label in [
            "L0 qkv",
            "L0 ffn-down",
            "L1 qkv",
            "sqnr",
            "other",
            "per layer",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
        // Five bars in the two palette colours (the NaN is skipped).
        let fill = |c: RGBColor| format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
        assert_eq!(svg.matches(&fill(color(0))).count() - 1, 2, "{svg}");
        assert!(svg.matches(&fill(color(1))).count() >= 3);
    }
}

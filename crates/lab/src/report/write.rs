//! `report.md`, `report.html` and `results/index.html` from sections (the `engine` feature).

use std::fmt::Write as _;
use std::path::Path;

use super::{render, Plot, Section};
use crate::claims::ClaimResult;
use crate::fsutil::write_atomic;

/// What the report says about the experiment as a whole.
#[derive(Debug, Clone)]
pub struct ReportMeta {
    /// Experiment name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Study kind.
    pub kind: String,
    /// Runs by status: (ok, diverged, failed, missing).
    pub counts: (usize, usize, usize, usize),
    /// One line about the machine and commit.
    pub environment: String,
    /// Runs whose stored files could not be read (listed so nobody mistakes a gap for data).
    pub unreadable: Vec<String>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Writes `report.md`, `report.html` and `plots/*.svg` into `dir`.
///
/// # Errors
/// I/O errors.
pub fn write_report(
    dir: &Path,
    meta: &ReportMeta,
    claims: &[ClaimResult],
    sections: &[Section],
) -> std::io::Result<()> {
    let (ok, diverged, failed, missing) = meta.counts;
    let passed = claims.iter().filter(|c| c.pass).count();
    let mut md = String::new();
    let mut html = String::new();
    let _ = writeln!(md, "# {}\n\n{}\n", meta.name, meta.description);
    let _ = writeln!(
        md,
        "Study `{}` — runs: {ok} ok, {diverged} diverged, {failed} failed, {missing} not run. {}\n",
        meta.kind, meta.environment
    );
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{name}</title><style>\
         body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0;font-size:13px}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f3f3f3}}\
         td.l{{text-align:left}}.pass{{color:#0a0;font-weight:bold}}.fail{{color:#c00;font-weight:bold}}\
         svg{{display:block;margin:1em 0;max-width:100%;height:auto}}\
         figure{{margin:1em 0}}figure img{{image-rendering:pixelated;max-width:100%;height:auto}}figcaption{{font-size:13px;color:#555}}.ftitle{{font-size:15px;font-weight:bold;margin:4px 0}}nav li{{margin:2px 0}}</style></head><body>\
         <h1>{name}</h1><p>{desc}</p><p>Study <code>{kind}</code> — runs: {ok} ok, {diverged} diverged, \
         {failed} failed, {missing} not run. {env}</p>",
        name = esc(&meta.name),
        desc = esc(&meta.description),
        kind = esc(&meta.kind),
        env = esc(&meta.environment),
    );

    if !meta.unreadable.is_empty() {
        let line = format!(
            "Unreadable run files (left out of the sections below): {}",
            meta.unreadable.join("; ")
        );
        let _ = writeln!(md, "**{line}**\n");
        let _ = write!(html, "<p class=\"fail\">{}</p>", esc(&line));
    }
    if !claims.is_empty() {
        let _ = writeln!(md, "## Claims ({passed}/{} pass)\n", claims.len());
        let _ = writeln!(
            md,
            "| result | claim | measured | expected |\n|---|---|---|---|"
        );
        let _ = write!(
        html,
        "<h2>Claims ({passed}/{} pass)</h2><table><tr><th>result</th><th>claim</th><th>measured</th><th>expected</th></tr>",
        claims.len()
    );
        for c in claims {
            let verdict = if c.pass { "PASS" } else { "FAIL" };
            let _ = writeln!(
                md,
                "| **{verdict}** | {} | {} | {} |",
                md_cell(&c.description),
                md_cell(&c.lhs),
                md_cell(&c.rhs)
            );
            let _ = write!(
            html,
            "<tr><td class=\"{}\">{verdict}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            if c.pass { "pass" } else { "fail" },
            esc(&c.description),
            esc(&c.lhs),
            esc(&c.rhs)
        );
        }
        html.push_str("</table>");
    }
    // Contents.
    if !sections.is_empty() {
        let _ = writeln!(md, "\n## Contents\n");
        html.push_str("<nav><h2>Contents</h2><ol>");
        for s in sections {
            let _ = writeln!(md, "- [{}](#{})", md_cell(&s.title), slug(&s.title));
            let _ = write!(
                html,
                "<li><a href=\"#{}\">{}</a></li>",
                slug(&s.title),
                esc(&s.title)
            );
        }
        html.push_str("</ol></nav>");
    }

    std::fs::create_dir_all(dir.join("plots"))?;
    let mut plot_no = 0;
    for s in sections {
        let _ = writeln!(md, "\n## {}\n", s.title);
        let _ = write!(html, "<h2 id=\"{}\">{}</h2>", slug(&s.title), esc(&s.title));
        if !s.text.is_empty() {
            let _ = writeln!(md, "{}\n", s.text);
            for para in s.text.split("\n\n") {
                let _ = write!(html, "<p>{}</p>", esc(para));
            }
        }
        if let Some(t) = &s.table {
            let _ = writeln!(
                md,
                "| {} |",
                t.header
                    .iter()
                    .map(|h| md_cell(h))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            let _ = writeln!(md, "|{}", "---|".repeat(t.header.len()));
            html.push_str("<table><tr>");
            for h in &t.header {
                let _ = write!(html, "<th>{}</th>", esc(h));
            }
            html.push_str("</tr>");
            for r in &t.rows {
                let _ = writeln!(
                    md,
                    "| {} |",
                    r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                );
                html.push_str("<tr>");
                for (i, c) in r.iter().enumerate() {
                    let _ = write!(
                        html,
                        "<td{}>{}</td>",
                        if i == 0 { " class=\"l\"" } else { "" },
                        esc(c)
                    );
                }
                html.push_str("</tr>");
            }
            html.push_str("</table>");
            md.push('\n');
        }
        for p in &s.plots {
            plot_no += 1;
            let title = p.title();
            if let Plot::Image(img) = p {
                let file = format!("plots/{plot_no:02}-{}.png", slug(title));
                let big = img.image.upscale(img.scale);
                // Encoded once: the file and the page carry the same bytes.
                let png = big.to_png();
                write_atomic(&dir.join(&file), &png)?;
                let _ = writeln!(md, "![{}]({file})\n", md_cell(title));
                let _ = write!(
                    html,
                    "<figure><div class=\"ftitle\">{}</div><img alt=\"{alt}\" title=\"{alt}\" width=\"{}\" height=\"{}\" src=\"{}\">",
                    esc(title),
                    big.width,
                    big.height,
                    render::png_data_uri(&png),
                    alt = esc(title)
                );
                if !img.caption.is_empty() {
                    let _ = writeln!(md, "{}\n", img.caption);
                    let _ = write!(html, "<figcaption>{}</figcaption>", esc(&img.caption));
                }
                html.push_str("</figure>");
                continue;
            }
            let file = format!("plots/{plot_no:02}-{}.svg", slug(title));
            let svg = render::render_svg(p);
            write_atomic(&dir.join(&file), svg.as_bytes())?;
            let _ = writeln!(md, "![{}]({file})\n", md_cell(title));
            // Inline: drop the XML prolog if any, keep the <svg> element.
            let start = svg.find("<svg").unwrap_or(0);
            html.push_str(&svg[start..]);
        }
    }
    html.push_str("</body></html>\n");
    write_atomic(&dir.join("report.md"), md.as_bytes())?;
    write_atomic(&dir.join("report.html"), html.as_bytes())
}

/// Rewrites `results/index.html`: every experiment folder with a report, its claims' PASS
/// and FAIL counts and when it was finalised (`environment.json`'s `finished`).
///
/// # Errors
/// I/O errors.
pub fn write_index(results: &Path) -> std::io::Result<()> {
    let mut entries: Vec<(String, String, String)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir(results) {
        for e in dir.flatten() {
            let p = e.path();
            if !p.join("report.html").exists() {
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            let read = |f: &str| {
                std::fs::read_to_string(p.join(f))
                    .ok()
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            };
            let claims = read("claims.json")
                .map(|v| {
                    let list = v.as_array().cloned().unwrap_or_default();
                    let pass = list
                        .iter()
                        .filter(|c| c["pass"].as_bool() == Some(true))
                        .count();
                    format!("{pass} PASS, {} FAIL", list.len() - pass)
                })
                .unwrap_or_else(|| "no claims".into());
            let date = read("environment.json")
                .and_then(|v| v["finished"].as_str().map(str::to_string))
                .unwrap_or_default();
            entries.push((name, claims, date));
        }
    }
    entries.sort();
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>groundwork results</title>\
         <style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}\
         th{background:#f3f3f3}</style></head><body><h1>groundwork results</h1>\
         <table><tr><th>experiment</th><th>claims</th><th>finished (UTC)</th></tr>",
    );
    for (name, claims, date) in &entries {
        let _ = write!(
            html,
            "<tr><td><a href=\"{0}/report.html\">{0}</a></td><td>{1}</td><td>{2}</td></tr>",
            esc(name),
            esc(claims),
            esc(date)
        );
    }
    html.push_str("</table></body></html>\n");
    write_atomic(&results.join("index.html"), html.as_bytes())
}

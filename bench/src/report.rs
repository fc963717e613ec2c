//! The results: a table on the terminal, and the same as Markdown, JSON and a self-contained HTML
//! page with latency-over-time charts (inline SVG: nothing is fetched when it is opened).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::load::Stats;

/// One measured scenario.
#[derive(Serialize, Clone)]
pub struct Row {
    pub scenario: String,
    pub requests: u64,
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// The matching ceiling's name and value, measured in the same run.
    pub ceiling: Option<(String, f64)>,
    /// Per second: requests, p50 and p99 in ms.
    pub timeline: Vec<(u64, f64, f64)>,
    /// CPU milliseconds per request, per process group.
    pub cpu_ms_per_request: BTreeMap<String, f64>,
    pub error_samples: Vec<String>,
}

impl Row {
    pub fn from_stats(scenario: &str, stats: &Stats) -> Self {
        Self {
            scenario: scenario.to_owned(),
            requests: stats.requests(),
            rate: stats.rate(),
            p50_ms: stats.ms(0.5),
            p99_ms: stats.ms(0.99),
            errors: stats.errors(),
            ceiling: None,
            timeline: stats
                .timeline
                .iter()
                .map(|h| {
                    (
                        h.len(),
                        h.value_at_quantile(0.5) as f64 / 1000.0,
                        h.value_at_quantile(0.99) as f64 / 1000.0,
                    )
                })
                .collect(),
            cpu_ms_per_request: BTreeMap::new(),
            error_samples: stats.error_samples.clone(),
        }
    }

    /// A row for a figure measured elsewhere (pgbench, delays): no latency timeline.
    pub fn figure(scenario: &str, requests: u64, rate: f64) -> Self {
        Self {
            scenario: scenario.to_owned(),
            requests,
            rate,
            p50_ms: 0.0,
            p99_ms: 0.0,
            errors: 0,
            ceiling: None,
            timeline: Vec::new(),
            cpu_ms_per_request: BTreeMap::new(),
            error_samples: Vec::new(),
        }
    }

    pub fn ratio(&self) -> Option<f64> {
        self.ceiling
            .as_ref()
            .map(|(_, ceiling)| self.rate / ceiling.max(1e-9))
    }
}

/// A target of the issue, checked against this run.
#[derive(Serialize, Clone)]
pub struct Check {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Serialize, Default)]
pub struct Report {
    pub title: String,
    pub rows: Vec<Row>,
    pub checks: Vec<Check>,
    /// Other figures: memory, commits per order, the load generator's own check.
    pub facts: Vec<(String, String)>,
}

fn fmt_rate(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!("# {}\n\n", self.title);
        md.push_str("| scenario | requests | req/s | p50 ms | p99 ms | errors | ceiling (same run) | ratio |\n");
        md.push_str("|---|---:|---:|---:|---:|---:|---|---:|\n");
        for row in &self.rows {
            let (ceiling, ratio) = match (&row.ceiling, row.ratio()) {
                (Some((name, value)), Some(ratio)) => (
                    format!("{name} {}", fmt_rate(*value)),
                    format!("{:.1}%", ratio * 100.0),
                ),
                _ => ("".to_owned(), "".to_owned()),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.2} | {:.2} | {} | {} | {} |",
                row.scenario,
                row.requests,
                fmt_rate(row.rate),
                row.p50_ms,
                row.p99_ms,
                row.errors,
                ceiling,
                ratio
            );
        }
        if !self.checks.is_empty() {
            md.push_str("\n| target | measured | met |\n|---|---|---|\n");
            for check in &self.checks {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} |",
                    check.target,
                    check.measured,
                    if check.met { "yes" } else { "**no**" }
                );
            }
        }
        if !self.facts.is_empty() {
            md.push_str("\n| figure | value |\n|---|---|\n");
            for (name, value) in &self.facts {
                let _ = writeln!(md, "| {name} | {value} |");
            }
        }
        let groups: Vec<&String> = self
            .rows
            .iter()
            .flat_map(|r| r.cpu_ms_per_request.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !groups.is_empty() {
            md.push_str("\nCPU milliseconds per request, by process (from /proc, same run):\n\n| scenario |");
            for g in &groups {
                let _ = write!(md, " {g} |");
            }
            md.push_str(" total |\n|---|");
            for _ in &groups {
                md.push_str("---:|");
            }
            md.push_str("---:|\n");
            for row in self
                .rows
                .iter()
                .filter(|r| !r.cpu_ms_per_request.is_empty())
            {
                let _ = write!(md, "| {} |", row.scenario);
                let mut total = 0.0;
                for g in &groups {
                    let v = row.cpu_ms_per_request.get(*g).copied().unwrap_or(0.0);
                    total += v;
                    let _ = write!(md, " {v:.3} |");
                }
                let _ = writeln!(md, " {total:.3} |");
            }
        }
        for row in self.rows.iter().filter(|r| !r.error_samples.is_empty()) {
            let _ = writeln!(md, "\nErrors of {}:", row.scenario);
            for sample in &row.error_samples {
                let _ = writeln!(md, "- `{}`", sample.replace('`', "'"));
            }
        }
        md
    }

    pub fn html(&self) -> String {
        let mut html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
             <style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
             table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:4px 8px;text-align:right}}\
             td:first-child,th:first-child{{text-align:left}}h2{{margin-top:2em}}\
             .legend span{{margin-right:1.5em}}</style></head><body>",
            escape(&self.title)
        );
        html.push_str(&markdown_tables_to_html(&self.markdown()));
        for row in self.rows.iter().filter(|r| r.timeline.len() > 1) {
            let _ = write!(html, "<h2>{}</h2>", escape(&row.scenario));
            html.push_str(&chart(row));
        }
        html.push_str("</body></html>\n");
        html
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        std::fs::write(dir.join("report.html"), self.html())?;
        std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(self)?)?;
        Ok(())
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Markdown report's tables and lines as HTML (only the subset `markdown()` writes).
fn markdown_tables_to_html(md: &str) -> String {
    let mut out = String::new();
    let mut in_table = false;
    let mut header = true;
    for line in md.lines() {
        if line.starts_with('|') {
            if line.starts_with("|---") {
                continue;
            }
            if !in_table {
                out.push_str("<table>");
                in_table = true;
                header = true;
            }
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            out.push_str("<tr>");
            for cell in cells {
                let tag = if header { "th" } else { "td" };
                let text = escape(cell).replace("**", "");
                let _ = write!(out, "<{tag}>{text}</{tag}>");
            }
            out.push_str("</tr>");
            header = false;
            continue;
        }
        if in_table {
            out.push_str("</table>");
            in_table = false;
        }
        if let Some(title) = line.strip_prefix("# ") {
            let _ = write!(out, "<h1>{}</h1>", escape(title));
        } else if let Some(item) = line.strip_prefix("- ") {
            let _ = write!(
                out,
                "<div><code>{}</code></div>",
                escape(item.trim_matches('`'))
            );
        } else if !line.is_empty() {
            let _ = write!(out, "<p>{}</p>", escape(line));
        }
    }
    if in_table {
        out.push_str("</table>");
    }
    out
}

/// Requests per second (grey bars) and p50/p99 latency (lines) over the run, as SVG.
fn chart(row: &Row) -> String {
    let (w, h, pad) = (900.0, 260.0, 50.0);
    let n = row.timeline.len() as f64;
    let max_rate = row.timeline.iter().map(|t| t.0).max().unwrap_or(1).max(1) as f64;
    let max_ms = row
        .timeline
        .iter()
        .map(|t| t.2)
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let x = |i: f64| pad + (w - 2.0 * pad) * i / n;
    let y_rate = |v: f64| h - pad + -(h - 2.0 * pad) * v / max_rate;
    let y_ms = |v: f64| h - pad + -(h - 2.0 * pad) * v / max_ms;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-label=\"{} over time\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>",
        escape(&row.scenario)
    );
    let bar = (w - 2.0 * pad) / n * 0.8;
    for (i, t) in row.timeline.iter().enumerate() {
        let top = y_rate(t.0 as f64);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"#ddd\"/>",
            x(i as f64),
            (h - pad - top).max(0.0)
        );
    }
    for (color, pick) in [("#1f77b4", 1usize), ("#d62728", 2usize)] {
        let points: Vec<String> = row
            .timeline
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let v = if pick == 1 { t.1 } else { t.2 };
                format!("{:.1},{:.1}", x(i as f64 + 0.4), y_ms(v))
            })
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#333\"/>\
         <text x=\"{pad}\" y=\"{2}\" font-size=\"12\">0 s</text>\
         <text x=\"{1}\" y=\"{2}\" font-size=\"12\" text-anchor=\"end\">{3} s</text>\
         <text x=\"5\" y=\"{4}\" font-size=\"12\">{5:.1} ms</text>\
         <text x=\"{6}\" y=\"{4}\" font-size=\"12\" text-anchor=\"end\">{7} req/s</text></svg>",
        h - pad,
        w - pad,
        h - pad + 16.0,
        row.timeline.len(),
        pad - 8.0,
        max_ms,
        w - 5.0,
        max_rate as u64,
    );
    format!(
        "{svg}<div class=\"legend\"><span style=\"color:#1f77b4\">p50 latency</span>\
         <span style=\"color:#d62728\">p99 latency</span><span style=\"color:#999\">requests per second (bars)</span></div>"
    )
}

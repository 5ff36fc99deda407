//! The scorecard's files: `scorecard.csv` (every task, point and row), `scorecard.md`
//! (medians over points, per task and over the suite) and `bias_variance.svg` / `.png`.

use super::estimators::Row;
use super::stats::{Scores, median};
use super::suite::{CRITIC_ERRORS, TRAINING_UPDATES, Task};
use super::{Cell, Options};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

const CSV_HEADER: &str = "task,point,critic_error,estimator,status,rel_bias,bias_se,rel_variance,rel_mse,mean_cosine,cosine_of_mean,gap_closed\n";

fn csv(cells: &[Cell]) -> String {
    let mut out = String::from(CSV_HEADER);
    for c in cells {
        let _ = write!(out, "{},{},{},{},", c.task, c.point, c.critic_error, c.row);
        let _ = match &c.result {
            Ok(s) => writeln!(
                out,
                "ok,{},{},{},{},{},{},{}",
                s.rel_bias,
                s.bias_se,
                s.rel_variance,
                s.rel_mse,
                s.mean_cosine,
                s.cosine_of_mean,
                s.gap_closed.map(|g| g.to_string()).unwrap_or_default()
            ),
            Err(e) => writeln!(out, "\"failed: {}\",,,,,,,", e.replace('"', "'")),
        };
    }
    out
}

/// Medians over the cells of one row (and task, if given); `None` if any of them failed.
fn medians<'a>(cells: impl Iterator<Item = &'a Cell>) -> Result<[f64; 7], String> {
    let mut cols: [Vec<f64>; 7] = Default::default();
    for c in cells {
        let s: &Scores = c.result.as_ref().map_err(|e| e.clone())?;
        let v = [
            s.rel_bias,
            s.rel_variance,
            s.rel_mse,
            s.mean_cosine,
            s.cosine_of_mean,
            s.gap_closed.unwrap_or(0.0),
            s.bias_se,
        ];
        for (col, x) in cols.iter_mut().zip(v) {
            col.push(x);
        }
    }
    Ok(cols.map(median))
}

/// The table of medians, one line per row label (over every task, or one).
pub fn table(out: &mut String, labels: &[String], cells: &[Cell], task: Option<&str>) {
    out.push_str("| estimator | rel. bias (s.e.) | rel. variance | rel. MSE | mean cos | cos of mean | gap closed |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for label in labels {
        let mine = cells
            .iter()
            .filter(|c| &c.row == label && task.is_none_or(|t| c.task == t));
        let _ = match medians(mine) {
            Ok(m) => writeln!(
                out,
                "| {label} | {:.3} ({:.3}) | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                m[0], m[6], m[1], m[2], m[3], m[4], m[5]
            ),
            Err(e) => writeln!(
                out,
                "| {label} | failed: {} | | | | | |",
                e.replace('|', "/")
            ),
        };
    }
}

/// Write the three files; returns the Markdown.
pub fn write(
    dir: &Path,
    tasks: &[Task],
    rows: &[Row],
    cells: &[Cell],
    o: &Options,
    seconds: f64,
) -> Result<String, String> {
    let mut md = String::from("# Scorecard: gap estimators against the exact policy gradient\n\n");
    let points = 2 * CRITIC_ERRORS.len() + TRAINING_UPDATES.len();
    let (warmup, batches) = super::tabular_counts(o);
    let _ = writeln!(
        md,
        "Suite `{}`, seed {}, sampling `{:?}`: {} tasks x {points} points x {} rows; {} scored batches of {} transitions per point after {} warm-up batches. {seconds:.1} s.\n",
        o.suite,
        o.seed,
        o.sampling,
        tasks.len(),
        rows.len(),
        batches,
        super::suite::BATCH_LEN,
        warmup,
    );
    md.push_str("Medians over points. Relative to |PG| (|PG|^2 for variance and MSE); gap closed = 1 - |E[base + c] - PG| / |E[base] - PG| on the same batches (0 for the plain rows).\n\n");
    md.push_str("## Whole suite\n\n");
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    table(&mut md, &labels, cells, None);
    let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
    for t in &names {
        let _ = writeln!(md, "\n## {t}\n");
        table(&mut md, &labels, cells, Some(t));
    }
    write_files(dir, &md, &names, &labels, cells)?;
    Ok(md)
}

/// `scorecard.md` (the Markdown `md`), `scorecard.csv` (every cell) and the bias-variance plot.
pub fn write_files(
    dir: &Path,
    md: &str,
    tasks: &[String],
    labels: &[String],
    cells: &[Cell],
) -> Result<(), String> {
    let put = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("cannot write `{}`: {e}", dir.join(name).display()))
    };
    put("scorecard.csv", &csv(cells))?;
    put("scorecard.md", md)?;
    plot(dir, "bias_variance", tasks, labels, cells)
        .map_err(|e| format!("cannot draw the bias-variance plot: {e}"))
}

/// Smallest value drawn on the log axes (the oracle's bias and variance are ~1e-16).
const FLOOR: f64 = 1e-4;

/// One point per row per task: median relative variance (x) and bias (y), log-log; colour
/// is the row, the marker the task (circle, triangle, cross, square in suite order).
/// Written as `<stem>.svg` and `<stem>.png`.
fn plot(
    dir: &Path,
    stem: &str,
    tasks: &[String],
    labels: &[String],
    cells: &[Cell],
) -> Result<(), String> {
    crate::output::plot::register_font();
    let mut pts: Vec<(usize, usize, f64, f64)> = Vec::new();
    for (ri, label) in labels.iter().enumerate() {
        for (ti, t) in tasks.iter().enumerate() {
            let mine = cells.iter().filter(|c| &c.row == label && &c.task == t);
            if let Ok(m) = medians(mine) {
                pts.push((ri, ti, m[1].max(FLOOR), m[0].max(FLOOR)));
            }
        }
    }
    let size = (900, 600);
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    chart(
        SVGBackend::new(&svg, size).into_drawing_area(),
        labels,
        &pts,
    )?;
    chart(
        BitMapBackend::new(&png, size).into_drawing_area(),
        labels,
        &pts,
    )
}

fn chart<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    labels: &[String],
    pts: &[(usize, usize, f64, f64)],
) -> Result<(), String> {
    let hi =
        |f: fn(&(usize, usize, f64, f64)) -> f64| pts.iter().map(f).fold(1.0f64, f64::max) * 2.0;
    let (xmax, ymax) = (hi(|p| p.2), hi(|p| p.3));
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Gap estimators: bias vs variance (median over points)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((FLOOR..xmax).log_scale(), (FLOOR..ymax).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("relative variance of one batch's direction (trace cov / |PG|^2)")
        .y_desc("relative bias |E[x] - PG| / |PG|")
        .draw()
        .map_err(e)?;
    for (ri, label) in labels.iter().enumerate() {
        let color = crate::output::plot::COLORS[ri % crate::output::plot::COLORS.len()];
        let style = color.filled();
        for (i, &(_, ti, x, y)) in pts.iter().filter(|p| p.0 == ri).enumerate() {
            let drawn = match ti % 4 {
                0 => chart.draw_series(std::iter::once(Circle::new((x, y), 6, style))),
                1 => chart.draw_series(std::iter::once(TriangleMarker::new((x, y), 7, style))),
                2 => chart.draw_series(std::iter::once(Cross::new(
                    (x, y),
                    6,
                    color.stroke_width(3),
                ))),
                _ => chart.draw_series(std::iter::once(
                    EmptyElement::at((x, y)) + Rectangle::new([(-5, -5), (5, 5)], style),
                )),
            }
            .map_err(e)?;
            if i == 0 {
                drawn
                    .label(label.clone())
                    .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
            }
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

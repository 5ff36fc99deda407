//! Learning curves drawn with plotters from the runs' own CSV files, so they can be
//! redrawn for any run directory: one run (`learning_curve.svg`), or several runs of
//! one configuration (`host plot`), or a comparison of plugins (a session's `curves.svg`
//! and `curves.png`).

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

type Chart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Rows of a numeric CSV file (header skipped; unparsable rows dropped).
pub fn read_csv(path: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            l.split(',')
                .map(|x| x.parse::<f64>().ok())
                .collect::<Option<Vec<f64>>>()
        })
        .collect()
}

/// A band `(x, y +- half_width)` as a closed polygon.
fn band(rows: &[(f64, f64, f64)]) -> Polygon<(f64, f64)> {
    let points = rows
        .iter()
        .map(|r| (r.0, r.1 + r.2))
        .chain(rows.iter().rev().map(|r| (r.0, r.1 - r.2)))
        .collect::<Vec<_>>();
    Polygon::new(points, BLUE.mix(0.15))
}

/// Returns vs environment steps on axes that fit `ys`; `series` draws into the chart.
fn draw(
    out: &Path,
    title: &str,
    y_desc: &str,
    xmax: f64,
    ys: impl Iterator<Item = f64>,
    series: impl FnOnce(&mut Chart<'_>) -> DrawResult,
) -> Result<(), String> {
    let (ymin, ymax) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !ymin.is_finite() {
        return Err("nothing to plot yet".into());
    }
    let pad = ((ymax - ymin) * 0.05).max(1.0);
    register_font();
    let render = || -> DrawResult {
        let root = SVGBackend::new(out, (800, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xmax.max(1.0), (ymin - pad)..(ymax + pad))?;
        chart
            .configure_mesh()
            .x_desc("environment steps")
            .y_desc(y_desc)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        series(&mut chart)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    render().map_err(|e| format!("cannot draw `{}`: {e}", out.display()))
}

/// One run: eval mean with a +-1 std band (over its episodes), and training episode returns.
pub fn learning_curve(run_dir: &Path, title: &str) -> Result<PathBuf, String> {
    let evals: Vec<(f64, f64, f64)> = read_csv(&run_dir.join("eval.csv"))
        .iter()
        .map(|r| (r[0], r[1], r[2]))
        .collect();
    let episodes: Vec<(f64, f64)> = read_csv(&run_dir.join("episodes.csv"))
        .iter()
        .map(|r| (r[0], r[1]))
        .collect();
    let out = run_dir.join("learning_curve.svg");
    let ys = evals
        .iter()
        .flat_map(|r| [r.1 - r.2, r.1 + r.2])
        .chain(episodes.iter().map(|r| r.1));
    let xmax = evals
        .iter()
        .map(|r| r.0)
        .chain(episodes.iter().map(|r| r.0))
        .fold(1.0, f64::max);
    let grey = RGBColor(160, 160, 160);
    draw(&out, title, "episode return", xmax, ys, |chart| {
        chart.draw_series(std::iter::once(band(&evals)))?;
        chart
            .draw_series(LineSeries::new(episodes.iter().copied(), grey))?
            .label("training episodes")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        chart
            .draw_series(LineSeries::new(
                evals.iter().map(|r| (r.0, r.1)),
                BLUE.stroke_width(2),
            ))?
            .label("deterministic eval (mean +- std)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        Ok(())
    })?;
    Ok(out)
}

/// Several runs of one configuration (e.g. seeds): each run's eval curve thin, and the
/// mean across runs with a +-1 std band (over runs) at the evaluation steps all runs share.
pub fn runs_curve(run_dirs: &[PathBuf], out: &Path, title: &str) -> Result<(), String> {
    super::folder::check_output_file("the plot", out)?;
    if let Some(d) = run_dirs.iter().find(|d| !d.join("eval.csv").is_file()) {
        return Err(format!(
            "`{}` is not a run folder (it has no eval.csv)",
            d.display()
        ));
    }
    let curves: Vec<Vec<(f64, f64)>> = run_dirs
        .iter()
        .map(|d| {
            read_csv(&d.join("eval.csv"))
                .iter()
                .map(|r| (r[0], r[1]))
                .collect()
        })
        .collect();
    if let Some(i) = curves.iter().position(|c| c.is_empty()) {
        return Err(format!(
            "`{}` has no evaluation in eval.csv",
            run_dirs[i].display()
        ));
    }
    let value_at = |c: &[(f64, f64)], step: f64| c.iter().find(|r| r.0 == step).map(|r| r.1);
    let stats: Vec<(f64, f64, f64)> = curves[0]
        .iter()
        .filter_map(|&(step, _)| {
            let values: Option<Vec<f64>> = curves.iter().map(|c| value_at(c, step)).collect();
            let s = crate::output::run_dir::summary(&values?);
            Some((step, s.mean, s.std))
        })
        .collect();
    let xmax = stats.iter().map(|r| r.0).fold(1.0, f64::max);
    let ys = curves.iter().flatten().map(|r| r.1);
    let thin = RGBColor(170, 170, 200);
    draw(out, title, "episode return", xmax, ys, |chart| {
        chart.draw_series(std::iter::once(band(&stats)))?;
        for c in &curves {
            chart.draw_series(LineSeries::new(c.iter().copied(), thin))?;
        }
        chart
            .draw_series(LineSeries::new(
                stats.iter().map(|r| (r.0, r.1)),
                BLUE.stroke_width(2),
            ))?
            .label(format!(
                "mean over {} runs (+- std across runs)",
                curves.len()
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        Ok(())
    })
}

/// The gap diagnostics of a run (`gap.svg`): each value estimator's mean bias against
/// Monte-Carlo soft returns, `estimate - q_MC`, versus env steps. `None` without diagnostics.
pub fn gap_curve(run_dir: &Path, title: &str) -> Option<Result<PathBuf, String>> {
    let text = std::fs::read_to_string(run_dir.join("gap.csv")).ok()?;
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(step), Some(name), Some(bias)) = (
            f.first().and_then(|x| x.parse().ok()),
            f.get(1),
            f.get(4).and_then(|x| x.parse().ok()),
        ) else {
            continue;
        };
        match series.iter_mut().find(|(n, _)| n == name) {
            Some((_, points)) => points.push((step, bias)),
            None => series.push((name.to_string(), vec![(step, bias)])),
        }
    }
    if series.is_empty() {
        return None;
    }
    let out = run_dir.join("gap.svg");
    let xmax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(1.0, f64::max);
    let ys = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .chain([0.0]);
    let drawn = draw(
        &out,
        title,
        "mean bias: estimate - Monte-Carlo soft return",
        xmax,
        ys,
        |chart| {
            chart.draw_series(LineSeries::new([(0.0, 0.0), (xmax, 0.0)], BLACK.mix(0.4)))?;
            for (i, (name, points)) in series.iter().enumerate() {
                let color = Palette99::pick(i).stroke_width(2);
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), color))?
                    .label(name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(
                            vec![(x, y), (x + 20, y)],
                            Palette99::pick(i).stroke_width(2),
                        )
                    });
            }
            Ok(())
        },
    );
    Some(drawn.map(|()| out))
}

/// Text is laid out with an embedded DejaVu Sans (ab_glyph), so PNGs render the same on a
/// machine without system fonts.
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bytes are a valid TrueType font; a failure here would only lose text.
            let _ = plotters::style::register_font("sans-serif", style, dejavu::sans::regular());
        }
    });
}

/// One plugin's curve: (step, mean, CI low, CI high).
pub struct Band {
    pub label: String,
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// Tableau 10: distinguishable, also in print and for most colour-vision deficiencies.
pub const COLORS: [RGBColor; 10] = [
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

/// Axis descriptions.
pub struct Axes {
    pub x: String,
    pub y: String,
}

impl Default for Axes {
    fn default() -> Self {
        Self {
            x: "environment steps".into(),
            y: "deterministic eval return (mean, 95% CI)".into(),
        }
    }
}

/// Several curves (e.g. plugins' mean eval returns) with shaded bands into `<dir>/<stem>.svg`
/// and `<dir>/<stem>.png`.
pub fn comparison(
    dir: &Path,
    stem: &str,
    title: &str,
    axes: &Axes,
    bands: &[Band],
) -> Result<(), String> {
    register_font();
    // Drawn under temporary names and renamed: shards of a session may redraw at once, and a
    // reader must never see half a picture.
    let tmp = |ext: &str| dir.join(format!(".{stem}.{}.tmp.{ext}", std::process::id()));
    let (svg, png) = (tmp("svg"), tmp("png"));
    let size = (960, 560);
    comparison_chart(
        SVGBackend::new(&svg, size).into_drawing_area(),
        title,
        axes,
        bands,
    )
    .map_err(|e| format!("cannot draw `{}`: {e}", svg.display()))?;
    comparison_chart(
        BitMapBackend::new(&png, size).into_drawing_area(),
        title,
        axes,
        bands,
    )
    .map_err(|e| format!("cannot draw `{}`: {e}", png.display()))?;
    for (from, ext) in [(svg, "svg"), (png, "png")] {
        let to = dir.join(format!("{stem}.{ext}"));
        std::fs::rename(&from, &to).map_err(|e| format!("cannot write `{}`: {e}", to.display()))?;
    }
    Ok(())
}

fn comparison_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    axes: &Axes,
    bands: &[Band],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let points = || bands.iter().flat_map(|b| b.points.iter());
    let xmax = points().map(|p| p.0).fold(1.0, f64::max);
    let (ymin, ymax) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.2).min(p.1), b.max(p.3).max(p.1))
    });
    let pad = ((ymax - ymin) * 0.05).max(1e-3);
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..xmax, (ymin - pad)..(ymax + pad))?;
    chart
        .configure_mesh()
        .x_desc(axes.x.as_str())
        .y_desc(axes.y.as_str())
        .x_label_formatter(&|x| {
            // Env steps are integers; a sweep's value or a normalised score is not.
            if xmax < 10.0 {
                format!("{x:.2}")
            } else {
                format!("{x:.0}")
            }
        })
        .y_label_formatter(&|y| {
            if (ymax - ymin).abs() < 10.0 {
                format!("{y:.2}")
            } else {
                format!("{y:.0}")
            }
        })
        .draw()?;
    for (i, b) in bands.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let outline = b
            .points
            .iter()
            .map(|p| (p.0, p.3))
            .chain(b.points.iter().rev().map(|p| (p.0, p.2)))
            .collect::<Vec<_>>();
        chart.draw_series(std::iter::once(Polygon::new(outline, color.mix(0.18))))?;
        chart
            .draw_series(LineSeries::new(
                b.points.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))?
            .label(b.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()?;
    root.present()?;
    Ok(())
}

/// A tabular run's d_theta-averaged values (`tabular_values.svg`/`.png`, paper Fig. 2): the
/// critic, the critic plus the res-critic (if any) and the true q_theta. `None` without data.
pub fn tabular_values(run_dir: &Path, title: &str) -> Option<Result<(), String>> {
    let text = std::fs::read_to_string(run_dir.join("tabular.csv")).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let rows: Vec<Vec<Option<f64>>> = lines
        .map(|l| l.split(',').map(|x| x.parse().ok()).collect())
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let mut bands = Vec::new();
    for (name, label) in [
        ("critic_mean", "critic  E_d[q_phi]"),
        ("corrected_mean", "critic + res-critic  E_d[q_phi + w]"),
        ("true_mean", "true  E_d[q_theta]"),
    ] {
        let Some(c) = col(name) else { continue };
        let points: Vec<(f64, f64, f64, f64)> = rows
            .iter()
            .filter_map(|r| Some((r.first().copied()??, r.get(c).copied()??)))
            .map(|(x, y)| (x, y, y, y))
            .collect();
        if !points.is_empty() {
            bands.push(Band {
                label: label.into(),
                points,
            });
        }
    }
    if bands.is_empty() {
        return None;
    }
    let axes = Axes {
        y: "value averaged over d_theta".into(),
        ..Default::default()
    };
    Some(comparison(run_dir, "tabular_values", title, &axes, &bands))
}

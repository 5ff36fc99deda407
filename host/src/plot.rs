//! The learning curve of a run (`learning_curve.svg`), drawn with plotters from
//! the run's own CSV files, so it can be redrawn for any run directory.

use plotters::prelude::*;
use std::path::Path;

fn read_csv(path: &Path) -> Vec<Vec<f64>> {
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

type Chart<'a> = ChartContext<
    'a,
    SVGBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn configure_mesh(chart: &mut Chart<'_>) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .configure_mesh()
        .x_desc("environment steps")
        .y_desc("episode return")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    Ok(())
}

/// Several runs of one configuration (e.g. seeds): each run's eval curve thin, and the
/// mean across runs with a +-1 std band (over runs) at the evaluation steps all runs share.
pub fn runs_curve(run_dirs: &[std::path::PathBuf], out: &Path, title: &str) -> Result<(), String> {
    let curves: Vec<Vec<Vec<f64>>> = run_dirs
        .iter()
        .map(|d| read_csv(&d.join("eval.csv")))
        .collect();
    if curves.iter().any(|c| c.is_empty()) {
        return Err("every run needs at least one evaluation in eval.csv".into());
    }
    let steps: Vec<f64> = curves[0]
        .iter()
        .map(|r| r[0])
        .filter(|s| curves.iter().all(|c| c.iter().any(|r| r[0] == *s)))
        .collect();
    let at = |c: &Vec<Vec<f64>>, s: f64| {
        c.iter()
            .find(|r| r[0] == s)
            .map(|r| r[1])
            .unwrap_or(f64::NAN)
    };
    let stats: Vec<(f64, f64, f64)> = steps
        .iter()
        .map(|&s| {
            let v: Vec<f64> = curves.iter().map(|c| at(c, s)).collect();
            let m = crate::run_dir::summary(&v);
            (s, m.mean, m.std)
        })
        .collect();
    let ys = curves.iter().flatten().map(|r| r[1]);
    let (ymin, ymax) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let pad = ((ymax - ymin) * 0.05).max(1.0);
    let xmax = steps.iter().copied().fold(1.0, f64::max);
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(out, (800, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xmax, (ymin - pad)..(ymax + pad))?;
        configure_mesh(&mut chart)?;
        let band: Vec<(f64, f64)> = stats
            .iter()
            .map(|r| (r.0, r.1 + r.2))
            .chain(stats.iter().rev().map(|r| (r.0, r.1 - r.2)))
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.15))))?;
        for c in &curves {
            chart.draw_series(LineSeries::new(
                c.iter().map(|r| (r[0], r[1])),
                RGBColor(170, 170, 200),
            ))?;
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
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("cannot draw `{}`: {e}", out.display()))
}

/// Eval mean with a +-1 std band, and training episode returns, versus env steps.
pub fn learning_curve(run_dir: &Path, title: &str) -> Result<std::path::PathBuf, String> {
    let evals = read_csv(&run_dir.join("eval.csv"));
    let episodes = read_csv(&run_dir.join("episodes.csv"));
    let out = run_dir.join("learning_curve.svg");
    let all_y = evals
        .iter()
        .flat_map(|r| [r[1] - r[2], r[1] + r[2]])
        .chain(episodes.iter().map(|r| r[1]));
    let (ymin, ymax) = all_y.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !ymin.is_finite() {
        return Err("nothing to plot yet".into());
    }
    let pad = ((ymax - ymin) * 0.05).max(1.0);
    let xmax = evals
        .iter()
        .map(|r| r[0])
        .chain(episodes.iter().map(|r| r[0]))
        .fold(1.0, f64::max);
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(&out, (800, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xmax, (ymin - pad)..(ymax + pad))?;
        chart
            .configure_mesh()
            .x_desc("environment steps")
            .y_desc("episode return")
            .draw()?;
        let band: Vec<(f64, f64)> = evals
            .iter()
            .map(|r| (r[0], r[1] + r[2]))
            .chain(evals.iter().rev().map(|r| (r[0], r[1] - r[2])))
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.15))))?;
        chart
            .draw_series(LineSeries::new(
                episodes.iter().map(|r| (r[0], r[1])),
                RGBColor(160, 160, 160),
            ))?
            .label("training episodes")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(160, 160, 160)));
        chart
            .draw_series(LineSeries::new(
                evals.iter().map(|r| (r[0], r[1])),
                BLUE.stroke_width(2),
            ))?
            .label("deterministic eval (mean +- std)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("cannot draw `{}`: {e}", out.display()))?;
    Ok(out)
}

//! The report's figures, drawn with plotters as SVG and PNG: panels side by
//! side, each with lines (mean over seeds, error bars of one standard
//! deviation) or scatter points.

use nml_study::{Split, Variant};
use std::path::Path;

use nml_plot::{write_figure, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

use nml_study::catalogue::real::Modality;

use crate::claims::heads::units;
use crate::claims::Context;
use crate::collect::Results;
use crate::run::RunInfo;
use crate::stats::{self, Stat};
use crate::Result;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Points joined by a line, with error bars.
    Line,
    /// Points only.
    Scatter,
    /// Points with error bars, not joined.
    Points,
}

/// One named series: (x, y, error) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub style: Style,
    pub points: Vec<(f64, f64, f64)>,
}

/// One chart.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x: String,
    pub y: String,
    pub series: Vec<Series>,
}

/// Panels side by side.
#[derive(Debug, Clone)]
pub struct Panels(pub Vec<Panel>);

const PANEL: (u32, u32) = (560, 420);

/// Series colours: distinguishable on white, in print and for common colour blindness (Okabe–Ito).
const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
];

impl Figure for Panels {
    fn size(&self) -> (u32, u32) {
        (PANEL.0 * self.0.len().max(1) as u32, PANEL.1)
    }

    fn draw<B: DrawingBackend>(
        &self,
        root: DrawingArea<B, Shift>,
    ) -> std::result::Result<(), String> {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let areas = root.split_evenly((1, self.0.len().max(1)));
        for (panel, area) in self.0.iter().zip(&areas) {
            draw_panel(panel, area).map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    (lo - pad, hi + pad)
}

fn draw_panel<B: DrawingBackend>(
    panel: &Panel,
    area: &DrawingArea<B, Shift>,
) -> std::result::Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let points = || panel.series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = range(points().map(|p| p.0));
    let (y0, y1) = range(points().flat_map(|p| [p.1 - p.2, p.1 + p.2]));
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc(panel.x.as_str())
        .y_desc(panel.y.as_str())
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|x| e(&x))?;
    for (k, s) in panel.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()].to_rgba();
        let style = colour.stroke_width(2);
        // Error bars, a joining line, and the points' radius, by style.
        let (bars, joined, radius) = match s.style {
            Style::Line => (true, true, 3),
            Style::Points => (true, false, 4),
            Style::Scatter => (false, false, 5),
        };
        if bars {
            chart
                .draw_series(
                    s.points.iter().filter(|p| p.2 > 0.0).map(|&(x, y, err)| {
                        ErrorBar::new_vertical(x, y - err, y, y + err, style, 8)
                    }),
                )
                .map_err(|x| e(&x))?;
        }
        if joined {
            chart
                .draw_series(LineSeries::new(s.points.iter().map(|p| (p.0, p.1)), style))
                .map_err(|x| e(&x))?;
        }
        let anno = chart
            .draw_series(
                s.points
                    .iter()
                    .map(|p| Circle::new((p.0, p.1), radius, colour.filled())),
            )
            .map_err(|x| e(&x))?;
        anno.label(s.name.as_str()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3))
        });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(|x| e(&x))?;
    Ok(())
}

fn line(name: &str, run: &RunInfo, stat: impl Fn(u32) -> Stat, scale: f64) -> Series {
    Series {
        name: name.to_owned(),
        style: Style::Line,
        points: run
            .shape
            .ratios
            .iter()
            .map(|&r| {
                let s = stat(r);
                (f64::from(r), scale * s.mean, scale * s.std)
            })
            .collect(),
    }
}

/// The figures of the report, by file stem under `figures/`.
pub fn figures(run: &RunInfo, results: &Results) -> Vec<(&'static str, Panels)> {
    let acc =
        |variant: Variant, split: Split| move |r: u32| stats::accuracy(results, r, variant, split);
    let noise = "pre-training noise ratio (%)".to_owned();
    let fig1 = Panels(
        Split::TRANSFER
            .iter()
            .map(|&split| Panel {
                title: format!("{split} linear probing vs pre-training noise"),
                x: noise.clone(),
                y: "accuracy (%)".to_owned(),
                series: vec![line("LP", run, acc(Variant::Lp, split), 100.0)],
            })
            .collect(),
    );
    let fig3 = Panels(vec![
        Panel {
            title: "SVE of ID features vs noise".to_owned(),
            x: noise.clone(),
            y: "SVE".to_owned(),
            series: vec![line(
                "SVE (ID)",
                run,
                |r| stats::spectral(results, r, Split::Id, stats::sve),
                1.0,
            )],
        },
        Panel {
            title: "LSVR of OOD features vs noise".to_owned(),
            x: noise.clone(),
            y: "LSVR".to_owned(),
            series: vec![line(
                "LSVR (OOD)",
                run,
                |r| stats::spectral(results, r, Split::Ood, stats::lsvr),
                1.0,
            )],
        },
    ]);
    let scatter = |split: Split, metric: fn(&crate::collect::SpectralRecord) -> f64| {
        let points = stats::scatter(run, results, split, metric);
        run.shape
            .ratios
            .iter()
            .map(|&ratio| Series {
                name: format!("{ratio}%"),
                style: Style::Scatter,
                points: points
                    .iter()
                    .filter(|p| p.0 == ratio)
                    .map(|p| (p.1, 100.0 * p.2, 0.0))
                    .collect(),
            })
            .collect()
    };
    let fig5 = Panels(vec![
        Panel {
            title: "SVE vs ID accuracy".to_owned(),
            x: "SVE (ID features)".to_owned(),
            y: "LP ID accuracy (%)".to_owned(),
            series: scatter(Split::Id, stats::sve),
        },
        Panel {
            title: "LSVR vs OOD accuracy".to_owned(),
            x: "LSVR (OOD features)".to_owned(),
            y: "LP OOD accuracy (%)".to_owned(),
            series: scatter(Split::Ood, stats::lsvr),
        },
    ]);
    let tuning = Panels(
        Split::TRANSFER
            .iter()
            .map(|&split| Panel {
                title: format!("{split}: LP vs MLP vs NMTune"),
                x: noise.clone(),
                y: "accuracy (%)".to_owned(),
                series: vec![
                    line("LP", run, acc(Variant::Lp, split), 100.0),
                    line("MLP", run, acc(Variant::Mlp, split), 100.0),
                    line("NMTune", run, acc(Variant::Nmtune, split), 100.0),
                ],
            })
            .collect(),
    );
    vec![
        ("fig1-lp-vs-noise", fig1),
        ("fig3-spectrum-vs-noise", fig3),
        ("fig5-spectrum-vs-accuracy", fig5),
        ("nmtune-vs-noise", tuning),
    ]
}

/// Linear probing against noise in both pre-training settings, ID and OOD
/// panels: the analogue of the paper's ImageNet-1K vs YFCC15M panels.
pub fn settings(run: &RunInfo, supervised: &Results, contrastive: &Results) -> Panels {
    Panels(
        Split::TRANSFER
            .iter()
            .map(|&split| Panel {
                title: format!("{split} linear probing, both settings"),
                x: "pre-training noise ratio (%)".to_owned(),
                y: "accuracy (%)".to_owned(),
                series: vec![
                    line(
                        "supervised (label noise)",
                        run,
                        |r| stats::accuracy(supervised, r, Variant::Lp, split),
                        100.0,
                    ),
                    line(
                        "contrastive (caption swaps)",
                        run,
                        |r| stats::accuracy(contrastive, r, Variant::Lp, split),
                        100.0,
                    ),
                ],
            })
            .collect(),
    )
}

/// The published models' figure (`real-models`): per comparison (task and eval
/// set), NMTune − LP in points against LP's accuracy, mean over head seeds with
/// an error bar of one standard error (the seed spread of the paired
/// differences and both sides' test-set binomial variance, as claim 6 pools
/// them); ID and OOD side by side, vision and text as two series.
pub fn published(run: &RunInfo, results: &Results) -> Panels {
    let c = Context::new(run, results);
    Panels(
        Split::TRANSFER
            .iter()
            .map(|&split| {
                let mut series: Vec<Series> = Modality::ALL
                    .iter()
                    .map(|&m| Series {
                        name: m.name().to_owned(),
                        style: Style::Points,
                        points: units(&c, (Variant::Nmtune, Variant::Lp), split, Some(m))
                            .iter()
                            .map(|(_, u)| {
                                let lp: Vec<f64> = u.pairs.iter().map(|p| p.1).collect();
                                let d: Vec<f64> = u.pairs.iter().map(|p| p.0 - p.1).collect();
                                let (lp, d) = (Stat::of(&lp), Stat::of(&d));
                                let se = (d.std.powi(2) / d.n.max(1) as f64 + u.known_var).sqrt();
                                (100.0 * lp.mean, 100.0 * d.mean, 100.0 * se)
                            })
                            .collect(),
                    })
                    .collect();
                let xs: Vec<f64> = series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.0))
                    .collect();
                let (lo, hi) = range(xs.into_iter());
                series.push(Series {
                    name: "no difference".to_owned(),
                    style: Style::Line,
                    points: vec![(lo, 0.0, 0.0), (hi, 0.0, 0.0)],
                });
                Panel {
                    title: format!("{split}: NMTune − LP per comparison"),
                    x: "LP accuracy (%)".to_owned(),
                    y: "NMTune − LP (points)".to_owned(),
                    series,
                }
            })
            .collect(),
    )
}

/// Writes every figure as `dir/<stem>.svg` and `.png`; returns the stems.
pub fn write_all(run: &RunInfo, results: &Results, dir: &Path) -> Result<Vec<&'static str>> {
    let mut stems = Vec::new();
    for (stem, figure) in figures(run, results) {
        write_figure(&figure, &dir.join(stem))?;
        stems.push(stem);
    }
    Ok(stems)
}

//! The spectrum plot: σ_i/Σσ against rank, both axes logarithmic, one line
//! per group of tables (the part of a table's name before `/`, e.g. the
//! noise ratio in `n20/task-0`), averaged over the group's tables.
//! Written as SVG and as PNG (rendered in memory, encoded with `image`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::tables::Analysis;
use crate::{Result, SpectralError};

/// DejaVu Sans (see `assets/DejaVuSans.LICENSE`): text renders the same on every machine.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

const SIZE: (u32, u32) = (800, 520);

/// Mean share per rank for each group, in name order.
pub fn group_spectra(analyses: &[Analysis]) -> Vec<(String, Vec<f64>)> {
    let mut groups: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    for a in analyses {
        let group = a.name.split('/').next().unwrap_or(&a.name).to_owned();
        let total: f64 = a.sigma.iter().sum();
        let shares = a
            .sigma
            .iter()
            .map(|s| if total > 0.0 { s / total } else { 0.0 })
            .collect();
        groups.entry(group).or_default().push(shares);
    }
    groups
        .into_iter()
        .map(|(name, members)| {
            let r = members.iter().map(Vec::len).min().unwrap_or(0);
            let mean = (0..r)
                .map(|i| members.iter().map(|m| m[i]).sum::<f64>() / members.len() as f64)
                .collect();
            (name, mean)
        })
        .collect()
}

/// Writes `stem.svg` and `stem.png` with the groups' spectra.
pub fn write_spectrum_plot(analyses: &[Analysis], stem: &Path, title: &str) -> Result<()> {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is compiled in and known to parse; a failure would only lose the text.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
    let groups = group_spectra(analyses);
    let mut svg = String::new();
    draw(SVGBackend::with_string(&mut svg, SIZE), &groups, title)?;
    nml_core::write_atomic(stem.with_extension("svg"), svg.as_bytes())?;
    let mut rgb = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
    draw(BitMapBackend::with_buffer(&mut rgb, SIZE), &groups, title)?;
    let mut png = Vec::new();
    {
        use image::ImageEncoder;
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&rgb, SIZE.0, SIZE.1, image::ExtendedColorType::Rgb8)
            .map_err(|e| SpectralError::Invalid(format!("cannot encode the plot: {e}")))?;
    }
    nml_core::write_atomic(stem.with_extension("png"), &png)?;
    Ok(())
}

fn draw<B: DrawingBackend>(backend: B, groups: &[(String, Vec<f64>)], title: &str) -> Result<()> {
    let fail =
        |e: &dyn std::fmt::Display| SpectralError::Invalid(format!("cannot draw the plot: {e}"));
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let r = groups
        .iter()
        .map(|(_, s)| s.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let positive = groups
        .iter()
        .flat_map(|(_, s)| s.iter().copied())
        .filter(|v| *v > 0.0);
    let low = positive.clone().fold(f64::INFINITY, f64::min).max(1e-8);
    let high = positive.fold(0.0f64, f64::max).max(low * 10.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (1f64..r as f64).log_scale(),
            (low * 0.8..high * 1.25).log_scale(),
        )
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("rank i")
        .y_desc("σ_i / Σσ")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| fail(&e))?;
    for (k, (name, shares)) in groups.iter().enumerate() {
        let colour = Palette99::pick(k).to_rgba();
        let points = shares
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0.0)
            .map(|(i, v)| ((i + 1) as f64, *v));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

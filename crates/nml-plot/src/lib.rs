//! Figures as files: anything that draws itself on a plotters backend
//! ([`Figure`]) is written as SVG and as PNG (rendered in memory, encoded
//! with `image`), with a bundled font so text renders the same everywhere;
//! and the spectrum plot (σ_i/Σσ against rank, both axes logarithmic, one
//! line per group).
//!
//! Only the crates that draw (the `nml-spectral` binary, `nml-report`)
//! depend on this one, so the libraries that compute stay free of plotters.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// Why a figure cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Writing the file failed.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
    /// Drawing or encoding failed.
    #[error("{0}")]
    Draw(String),
}

/// Result alias of this crate.
pub type Result<T, E = PlotError> = std::result::Result<T, E>;

/// DejaVu Sans (see `assets/DejaVuSans.LICENSE`): text renders the same on every machine.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

const SIZE: (u32, u32) = (800, 520);

/// Registers the bundled font as `sans-serif` (once per process).
pub fn register_bundled_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is compiled in and known to parse; a failure would only lose the text.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A figure that can draw itself on any plotters backend.
pub trait Figure {
    /// Pixel size of the figure.
    fn size(&self) -> (u32, u32);
    /// Draws on `root`; errors are messages.
    fn draw<B: DrawingBackend>(
        &self,
        root: DrawingArea<B, plotters::coord::Shift>,
    ) -> std::result::Result<(), String>;
}

/// Writes `stem.svg` and `stem.png` (rendered in memory, encoded with `image`), each atomically.
pub fn write_figure(figure: &impl Figure, stem: &Path) -> Result<()> {
    register_bundled_font();
    let size = figure.size();
    let fail = |e: String| PlotError::Draw(format!("cannot draw {}: {e}", stem.display()));
    let mut svg = String::new();
    figure
        .draw(SVGBackend::with_string(&mut svg, size).into_drawing_area())
        .map_err(fail)?;
    nml_core::write_atomic(stem.with_extension("svg"), svg.as_bytes())?;
    let mut rgb = vec![255u8; (size.0 * size.1 * 3) as usize];
    figure
        .draw(BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area())
        .map_err(fail)?;
    let mut png = Vec::new();
    {
        use image::ImageEncoder;
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&rgb, size.0, size.1, image::ExtendedColorType::Rgb8)
            .map_err(|e| PlotError::Draw(format!("cannot encode the plot: {e}")))?;
    }
    nml_core::write_atomic(stem.with_extension("png"), &png)?;
    Ok(())
}

struct SpectrumFigure<'a> {
    groups: &'a [(String, Vec<f64>)],
    title: &'a str,
}

impl Figure for SpectrumFigure<'_> {
    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn draw<B: DrawingBackend>(
        &self,
        root: DrawingArea<B, plotters::coord::Shift>,
    ) -> std::result::Result<(), String> {
        draw(root, self.groups, self.title).map_err(|e| e.to_string())
    }
}

/// Writes `stem.svg` and `stem.png` with the spectra of `groups`: (name,
/// share of each singular value by rank).
pub fn write_spectrum_plot(groups: &[(String, Vec<f64>)], stem: &Path, title: &str) -> Result<()> {
    write_figure(&SpectrumFigure { groups, title }, stem)
}

fn draw<B: DrawingBackend>(
    root: DrawingArea<B, plotters::coord::Shift>,
    groups: &[(String, Vec<f64>)],
    title: &str,
) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| PlotError::Draw(format!("cannot draw the plot: {e}"));
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

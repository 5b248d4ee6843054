//! Labelled line plots of a run's logs (the loss curves, the evaluation scores), drawn as PNG with
//! a bundled font (DejaVu Sans), so that a machine without any system font renders their text.

use std::path::Path;
use std::sync::Once;

use enco_data::image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::TrainError;

/// Width of a plot, in pixels.
pub const PLOT_WIDTH: u32 = 1000;
/// Height of one panel of a plot, in pixels.
pub const PANEL_HEIGHT: u32 = 230;

/// The font family every plot and sample caption is drawn in (registered from the bundled
/// DejaVu Sans by [`register_bundled_font`]).
pub const FONT_FAMILY: &str = "sans-serif";

/// Registers the bundled DejaVu Sans (regular and bold) as plotters' `sans-serif` family; runs
/// once per process, and every drawing function of this crate calls it first.
pub fn register_bundled_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // Both fonts are valid TrueType files shipped by the `dejavu` crate; a failure here would
        // be a broken build of that crate, and plotting then reports its own font error.
        let _ = register_font(FONT_FAMILY, FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font(FONT_FAMILY, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// How a panel draws its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelStyle {
    /// Per-iteration values: the raw trace faintly, with its moving average in full colour.
    RawAndSmoothed,
    /// A few values (evaluations): a line through marked points.
    Points,
    /// A step-like schedule (the learning-rate factor): one plain line.
    Line,
}

/// One panel of [`draw_panels`]: a titled chart of (iteration, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotPanel {
    /// The title above the panel.
    pub title: String,
    /// The y axis' label.
    pub y_label: String,
    /// The colour of the trace.
    pub colour: (u8, u8, u8),
    /// The points; non-finite values are left out.
    pub points: Vec<(u64, f64)>,
    /// How the points are drawn.
    pub style: PanelStyle,
}

/// Room left for a panel's legend at its top right, in pixels.
const LEGEND_WIDTH: i32 = 175;

/// The first iteration of each epoch, drawn as a vertical mark labelled with the epoch.
pub type EpochMarks = Vec<(u64, usize)>;

/// The moving-average window of a trace of `n` points: 2 % of it, at least 1.
pub fn smoothing_window(n: usize) -> usize {
    (n / 50).max(1)
}

/// The trailing moving average of `points` over `window` points (the first `window − 1` points
/// average what there is so far).
pub fn moving_average(points: &[(u64, f64)], window: usize) -> Vec<(u64, f64)> {
    let window = window.max(1);
    let mut sum = 0.0;
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, v))| {
            sum += v;
            if i >= window {
                sum -= points[i - window].1;
            }
            (x, sum / (i + 1).min(window) as f64)
        })
        .collect()
}

/// Draws `panels` top to bottom as one PNG at `path` (written atomically): each panel has its
/// title, a y axis scaled to its own values with ticks and label, and the shared x axis
/// (iteration, 0 to `x_max`) with ticks; `epochs` adds a labelled vertical mark at the start of
/// each epoch (thinned out to about ten labels).
pub fn draw_panels(
    panels: &[PlotPanel],
    x_max: u64,
    epochs: &[(u64, usize)],
    path: &Path,
) -> Result<(), TrainError> {
    register_bundled_font();
    let height = PANEL_HEIGHT * panels.len().max(1) as u32;
    let mut buffer = vec![0u8; (PLOT_WIDTH * height * 3) as usize];
    {
        let root =
            BitMapBackend::with_buffer(&mut buffer, (PLOT_WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| TrainError::output(path, e))?;
        if panels.is_empty() {
            root.draw(&Text::new(
                "nothing to plot yet",
                (20, 20),
                (FONT_FAMILY, 18).into_font(),
            ))
            .map_err(|e| TrainError::output(path, e))?;
        }
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (area, panel) in areas.iter().zip(panels) {
            draw_panel(area, panel, x_max.max(1), epochs)
                .map_err(|e| TrainError::output(path, e))?;
        }
        root.present().map_err(|e| TrainError::output(path, e))?;
    }
    let image = RgbImage::from_raw(PLOT_WIDTH, height, buffer)
        .ok_or_else(|| TrainError::output(path, "plot buffer of the wrong size"))?;
    save_png_atomically(&image, path)
}

type DrawResult =
    Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &PlotPanel,
    x_max: u64,
    epochs: &[(u64, usize)],
) -> DrawResult {
    let values: Vec<(u64, f64)> = panel
        .points
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &(_, v)| {
            (lo.min(v), hi.max(v))
        });
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        let pad = 0.06 * (hi - lo);
        (lo - pad, hi + pad)
    };
    let (r, g, b) = panel.colour;
    let colour = RGBColor(r, g, b);
    let mut chart = ChartBuilder::on(area)
        .margin_top(6)
        .margin_left(10)
        .margin_right(24)
        .margin_bottom(4)
        .caption(&panel.title, (FONT_FAMILY, 17, FontStyle::Bold))
        .x_label_area_size(40)
        .y_label_area_size(78)
        .build_cartesian_2d(0u64..x_max, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("iteration")
        .y_desc(panel.y_label.as_str())
        .x_labels(10)
        .y_labels(6)
        .label_style((FONT_FAMILY, 13))
        .axis_desc_style((FONT_FAMILY, 14))
        .y_label_formatter(&|v| format_tick(*v))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;

    // Epoch marks: a thin line at each epoch's first iteration, about ten of them labelled.
    let label_every = epochs.len().div_ceil(10).max(1);
    for (i, &(x, epoch)) in epochs.iter().enumerate() {
        if x == 0 || x > x_max {
            continue;
        }
        chart.draw_series(LineSeries::new(
            [(x, lo), (x, hi)],
            RGBColor(160, 160, 200).mix(0.5),
        ))?;
        if i % label_every == 0 {
            chart.draw_series(std::iter::once(Text::new(
                format!("epoch {epoch}"),
                (x, hi),
                (FONT_FAMILY, 11).into_font().color(&RGBColor(90, 90, 140)),
            )))?;
        }
    }

    if values.is_empty() {
        chart.draw_series(std::iter::once(Text::new(
            "no values yet",
            (x_max / 2, (lo + hi) / 2.0),
            (FONT_FAMILY, 14).into_font(),
        )))?;
        return Ok(());
    }
    match panel.style {
        PanelStyle::RawAndSmoothed => {
            let window = smoothing_window(values.len());
            chart
                .draw_series(LineSeries::new(values.iter().copied(), colour.mix(0.3)))?
                .label("raw")
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.mix(0.3)));
            chart
                .draw_series(LineSeries::new(
                    moving_average(&values, window),
                    colour.stroke_width(2),
                ))?
                .label(format!("moving average of {window}"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        PanelStyle::Points | PanelStyle::Line => {
            chart
                .draw_series(LineSeries::new(
                    values.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(panel.y_label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            if panel.style == PanelStyle::Points {
                chart.draw_series(
                    values
                        .iter()
                        .map(|&(x, v)| Circle::new((x, v), 4, colour.filled())),
                )?;
            }
        }
    }
    // Top right, below the row of epoch labels.
    let (plot_width, _) = chart.plotting_area().dim_in_pixel();
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::Coordinate(
            plot_width as i32 - LEGEND_WIDTH,
            16,
        ))
        .label_font((FONT_FAMILY, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()?;
    Ok(())
}

/// A tick label: up to four significant digits, scientific notation for very small or large
/// magnitudes.
pub fn format_tick(v: f64) -> String {
    let magnitude = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&magnitude) {
        format!("{v:.2e}")
    } else {
        let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 6) as usize;
        let text = format!("{v:.decimals$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    }
}

/// Saves a PNG through a temporary file and a rename, so a crash never leaves half an image.
pub(crate) fn save_png_atomically(image: &RgbImage, path: &Path) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp.png");
    enco_data::save_rgb(image, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::output(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_is_trailing_and_starts_on_what_there_is() {
        let points: Vec<(u64, f64)> = [1.0, 3.0, 5.0, 7.0]
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as u64, v))
            .collect();
        let smooth = moving_average(&points, 2);
        assert_eq!(smooth, vec![(0, 1.0), (1, 2.0), (2, 4.0), (3, 6.0)]);
        assert_eq!(moving_average(&points, 1), points);
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(1234.4), "1234");
        assert_eq!(format_tick(12.0), "12");
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(2.5e-5), "2.50e-5");
    }
}

//! plotters-canvas charts: sized in device pixels for crisp HiDPI output, coloured for the
//! current light or dark theme, redrawn at most once per animation frame.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

pub struct Theme {
    pub background: RGBColor,
    pub text: RGBColor,
    pub grid: RGBColor,
    pub train: RGBColor,
    pub train_epoch: RGBColor,
    pub validation: RGBColor,
    pub bar: RGBColor,
    pub highlight: RGBColor,
}

pub fn theme() -> Theme {
    let dark = web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches());
    if dark {
        Theme {
            background: RGBColor(24, 27, 33),
            text: RGBColor(220, 223, 228),
            grid: RGBColor(52, 57, 66),
            train: RGBColor(110, 160, 230),
            train_epoch: RGBColor(150, 195, 255),
            validation: RGBColor(255, 170, 80),
            bar: RGBColor(110, 160, 230),
            highlight: RGBColor(255, 170, 80),
        }
    } else {
        Theme {
            background: RGBColor(255, 255, 255),
            text: RGBColor(33, 37, 41),
            grid: RGBColor(225, 228, 232),
            train: RGBColor(120, 160, 220),
            train_epoch: RGBColor(31, 90, 180),
            validation: RGBColor(220, 100, 20),
            bar: RGBColor(60, 110, 190),
            highlight: RGBColor(220, 100, 20),
        }
    }
}

/// Match the canvas' pixel size to its CSS size times the device pixel ratio; returns the ratio.
fn fit_to_display(canvas: &HtmlCanvasElement) -> f64 {
    let ratio = web_sys::window()
        .map_or(1.0, |w| w.device_pixel_ratio())
        .max(1.0);
    let width = (canvas.client_width().max(200) as f64 * ratio).round() as u32;
    let height = (canvas.client_height().max(120) as f64 * ratio).round() as u32;
    if canvas.width() != width || canvas.height() != height {
        canvas.set_width(width);
        canvas.set_height(height);
    }
    ratio
}

type Area = DrawingArea<CanvasBackend, plotters::coord::Shift>;

/// Size the canvas for the display, clear it in the theme's background; returns the drawing
/// area, the theme and the device pixel ratio (to scale fonts and lines).
fn begin(canvas: &HtmlCanvasElement) -> Result<(Area, Theme, f64), String> {
    let scale = fit_to_display(canvas);
    let theme = theme();
    let root = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or("no 2d canvas")?
        .into_drawing_area();
    root.fill(&theme.background).map_err(|e| e.to_string())?;
    Ok((root, theme, scale))
}

pub struct Series<'a> {
    pub name: &'a str,
    pub color: RGBColor,
    pub points: &'a [(f64, f64)],
    pub markers: bool,
}

/// A line chart over epochs. `y_range` defaults to the data's range.
pub fn draw_lines(
    canvas: &HtmlCanvasElement,
    y_label: &str,
    x_max: f64,
    y_range: Option<(f64, f64)>,
    legend: SeriesLabelPosition,
    series: &[Series],
) -> Result<(), String> {
    let (root, theme, scale) = begin(canvas)?;
    let (y_min, y_max) = y_range.unwrap_or_else(|| {
        let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
        let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo > hi {
            (0.0, 1.0)
        } else {
            (lo.min(0.0), (hi * 1.05).max(1e-3))
        }
    });
    let font = (12.0 * scale) as u32;
    let mut chart = ChartBuilder::on(&root)
        .margin((10.0 * scale) as u32)
        .x_label_area_size((30.0 * scale) as u32)
        .y_label_area_size((48.0 * scale) as u32)
        .build_cartesian_2d(0.0..x_max.max(1.0), y_min..y_max)
        .map_err(|e| e.to_string())?;
    let label_style = ("sans-serif", font).into_font().color(&theme.text);
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .label_style(label_style.clone())
        .axis_desc_style(label_style.clone())
        .bold_line_style(theme.grid.stroke_width(1))
        .light_line_style(theme.background)
        .axis_style(theme.text.stroke_width(1))
        .draw()
        .map_err(|e| e.to_string())?;
    let line_width = (2.0 * scale).round() as u32;
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let color = s.color;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(line_width),
            ))
            .map_err(|e| e.to_string())?
            .label(s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(line_width))
            });
        if s.markers {
            let radius = (3.0 * scale) as i32;
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|&p| Circle::new(p, radius, color.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
    }
    chart
        .configure_series_labels()
        .position(legend)
        .label_font(label_style)
        .background_style(theme.background.mix(0.85))
        .border_style(theme.grid)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Vertical bars for classes 0..n with their values written above.
pub fn draw_bars(
    canvas: &HtmlCanvasElement,
    values: &[f64],
    highlight: Option<usize>,
    format: fn(f64) -> String,
) -> Result<(), String> {
    let (root, theme, scale) = begin(canvas)?;
    let max = values.iter().copied().fold(0.0, f64::max).max(1e-9) * 1.15;
    let font = (12.0 * scale) as u32;
    let mut chart = ChartBuilder::on(&root)
        .margin((8.0 * scale) as u32)
        .x_label_area_size((22.0 * scale) as u32)
        .build_cartesian_2d(-0.5..values.len() as f64 - 0.5, 0.0..max)
        .map_err(|e| e.to_string())?;
    let label_style = ("sans-serif", font).into_font().color(&theme.text);
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_labels(values.len())
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .label_style(label_style.clone())
        .axis_style(theme.text.stroke_width(1))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, &v)| {
            let color = if Some(i) == highlight {
                theme.highlight
            } else {
                theme.bar
            };
            Rectangle::new(
                [(i as f64 - 0.38, 0.0), (i as f64 + 0.38, v)],
                color.filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, &v)| {
            Text::new(
                format(v),
                (i as f64 - 0.3, v + max * 0.08),
                ("sans-serif", (10.0 * scale) as u32)
                    .into_font()
                    .color(&theme.text),
            )
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

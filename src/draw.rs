//! Turns a free-hand drawing into the 28x28 image the model sees, preprocessed the way MNIST
//! was: the ink's bounding box is scaled to fit a 20x20 box (keeping its aspect ratio, with
//! area averaging), then placed so that its intensity-weighted centre of mass sits at the
//! centre of the 28x28 image.
//!
//! Coordinate conventions:
//! - Internally we use *continuous* coordinates: pixel `i` covers `[i, i + 1)`, so its centre is
//!   `i + 0.5` and the centre of the 28x28 image is `14.0`.
//! - [`center_of_mass`] reports *pixel-centre* coordinates (pixel `i`'s centre is `i`), where the
//!   image centre is `(13.5, 13.5)`. The two differ by exactly 0.5.
//!
//! Unlike MNIST (integer shift, so the centre is only within ±0.5 px), the placement is
//! sub-pixel: the fractional offset is folded into the area-averaging resample itself, so it
//! costs no extra blur and the centre of mass lands at the image centre up to rounding.

/// Side of the model's input image.
pub const SIDE: usize = 28;
/// Side of the box the ink is scaled to fit in.
pub const FIT: usize = 20;
/// Coverage values at or below this are not ink (UI anti-aliasing fringes, stray noise).
const INK_THRESHOLD: u8 = 10;

/// For each output pixel along one axis: the source pixels it overlaps and their weights.
type Taps = Vec<Vec<(usize, f32)>>;

/// Converts a grayscale ink coverage image (`width * height`, 0 = background, 255 = full ink)
/// into a centred, MNIST-style 28x28 image. `None` when there is no ink at all or when
/// `coverage.len() != width * height`.
pub fn preprocess_drawing(coverage: &[u8], width: usize, height: usize) -> Option<[u8; 784]> {
    let (x0, y0, x1, y1) = ink_bounds(coverage, width, height, INK_THRESHOLD)?;
    let (box_w, box_h) = (x1 - x0, y1 - y0);
    let longer = box_w.max(box_h) as f64;
    // At least one output pixel per side, so a 1 px line keeps its full intensity instead of
    // being averaged down to a faint smear.
    let fit_side = |len: usize| ((len as f64 * FIT as f64 / longer).round() as usize).clamp(1, FIT);
    let (fit_w, fit_h) = (fit_side(box_w), fit_side(box_h));
    // Source pixels per output pixel along each axis.
    let (step_x, step_y) = (box_w as f64 / fit_w as f64, box_h as f64 / fit_h as f64);

    let box_rows = || {
        coverage
            .chunks_exact(width)
            .skip(y0)
            .take(box_h)
            .map(|row| &row[x0..x1])
    };
    let (mass_x, mass_y) = box_center_of_mass(box_rows());
    // Offset of the scaled box inside the output image so its centre of mass lands on the centre.
    let centre = SIDE as f64 / 2.0;
    let taps_x = footprint_taps(box_w, step_x, centre - mass_x / step_x);
    let taps_y = footprint_taps(box_h, step_y, centre - mass_y / step_y);

    // The box filter is separable: resample every box row horizontally, then the columns.
    let narrowed_rows: Vec<[f32; SIDE]> = box_rows()
        .map(|row| {
            let mut narrowed = [0.0; SIDE];
            for (value, taps) in narrowed.iter_mut().zip(&taps_x) {
                *value = taps.iter().map(|&(x, w)| w * f32::from(row[x])).sum();
            }
            narrowed
        })
        .collect();
    let mut image = [0u8; SIDE * SIDE];
    for (out_row, taps) in image.chunks_exact_mut(SIDE).zip(&taps_y) {
        for (x, pixel) in out_row.iter_mut().enumerate() {
            let value: f32 = taps.iter().map(|&(y, w)| w * narrowed_rows[y][x]).sum();
            *pixel = value.round().clamp(0.0, 255.0) as u8;
        }
    }
    Some(image)
}

/// Intensity-weighted centre of mass `(x, y)` of a 28x28 image in pixel-centre coordinates
/// (pixel (0,0)'s centre is (0.0, 0.0), the image centre is (13.5, 13.5)); `None` if blank.
pub fn center_of_mass(image: &[u8; 784]) -> Option<(f32, f32)> {
    let (mut mass, mut moment_x, mut moment_y) = (0u64, 0u64, 0u64);
    for (i, &value) in image.iter().enumerate() {
        let value = u64::from(value);
        mass += value;
        moment_x += value * (i % SIDE) as u64;
        moment_y += value * (i / SIDE) as u64;
    }
    (mass > 0).then(|| {
        let mass = mass as f32;
        (moment_x as f32 / mass, moment_y as f32 / mass)
    })
}

/// Bounding box `(x0, y0, x1_exclusive, y1_exclusive)` of the pixels `> threshold`; `None` if
/// there are none or `image.len() != width * height`.
pub fn ink_bounds(
    image: &[u8],
    width: usize,
    height: usize,
    threshold: u8,
) -> Option<(usize, usize, usize, usize)> {
    if width == 0 || width.checked_mul(height) != Some(image.len()) {
        return None;
    }
    let mut bounds: Option<(usize, usize, usize, usize)> = None;
    for (y, row) in image.chunks_exact(width).enumerate() {
        let Some(first) = row.iter().position(|&v| v > threshold) else {
            continue;
        };
        // `first` exists, so `rposition` finds at least that pixel.
        let last = row.iter().rposition(|&v| v > threshold).unwrap_or(first);
        bounds = Some(match bounds {
            None => (first, y, last + 1, y + 1),
            Some((x0, y0, x1, _)) => (x0.min(first), y0, x1.max(last + 1), y + 1),
        });
    }
    bounds
}

/// Centre of mass of the box's ink in box-relative continuous coordinates (pixel centres at
/// `i + 0.5`). The box holds ink by construction, so the mass is never zero.
fn box_center_of_mass<'a>(rows: impl Iterator<Item = &'a [u8]>) -> (f64, f64) {
    let (mut mass, mut moment_x, mut moment_y) = (0.0, 0.0, 0.0);
    for (y, row) in rows.enumerate() {
        // Integer sums per row stay exact; f64 only accumulates the (few thousand) row totals.
        let row_mass: u64 = row.iter().map(|&v| u64::from(v)).sum();
        let row_moment: u64 = row
            .iter()
            .enumerate()
            .map(|(x, &v)| x as u64 * u64::from(v))
            .sum();
        mass += row_mass as f64;
        moment_x += row_moment as f64 + 0.5 * row_mass as f64;
        moment_y += (y as f64 + 0.5) * row_mass as f64;
    }
    let mass = mass.max(f64::MIN_POSITIVE);
    (moment_x / mass, moment_y / mass)
}

/// Area-averaging weights along one axis. Output pixel `k` covers `[k, k + 1)`; the scaled box
/// starts at `offset`, so in source coordinates the pixel's footprint is
/// `[(k - offset) * step, (k + 1 - offset) * step)`. Each source pixel `i` (covering
/// `[i, i + 1)`) weighs its overlap with that footprint divided by the footprint's length;
/// parts of the footprint outside the box count as background, and parts of the box outside the
/// output image are clipped away.
fn footprint_taps(len: usize, step: f64, offset: f64) -> Taps {
    (0..SIDE)
        .map(|k| {
            let start = ((k as f64 - offset) * step).max(0.0);
            let end = ((k as f64 + 1.0 - offset) * step).min(len as f64);
            if end <= start {
                return Vec::new();
            }
            (start.floor() as usize..end.ceil() as usize)
                .map(|i| {
                    let overlap = end.min(i as f64 + 1.0) - start.max(i as f64);
                    (i, (overlap / step) as f32)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANVAS: usize = 280;
    const CENTRE: f32 = 13.5;

    fn blank() -> Vec<u8> {
        vec![0; CANVAS * CANVAS]
    }

    /// Paints every pixel whose centre lies within `radius` of the segment `a`-`b`.
    fn stroke(canvas: &mut [u8], width: usize, a: (f32, f32), b: (f32, f32), radius: f32) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = (dx * dx + dy * dy).max(f32::EPSILON);
        for (i, pixel) in canvas.iter_mut().enumerate() {
            let (px, py) = ((i % width) as f32 + 0.5, (i / width) as f32 + 0.5);
            let t = (((px - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0);
            let (ex, ey) = (px - a.0 - t * dx, py - a.1 - t * dy);
            if ex * ex + ey * ey <= radius * radius {
                *pixel = 255;
            }
        }
    }

    /// A "7": a top bar and a diagonal, `size` px tall with its top-left corner at `(x, y)`.
    fn seven(x: f32, y: f32, size: f32) -> Vec<u8> {
        let mut canvas = blank();
        let r = size * 0.08;
        let (top, right) = ((x + r, y + r), (x + 0.7 * size - r, y + r));
        stroke(&mut canvas, CANVAS, top, right, r);
        stroke(
            &mut canvas,
            CANVAS,
            right,
            (x + 0.3 * size, y + size - r),
            r,
        );
        canvas
    }

    /// A thick ring (a "0") centred at `(cx, cy)`.
    fn ring(cx: f32, cy: f32, outer: f32, inner: f32) -> Vec<u8> {
        let mut canvas = blank();
        for (i, pixel) in canvas.iter_mut().enumerate() {
            let (dx, dy) = (
                (i % CANVAS) as f32 + 0.5 - cx,
                (i / CANVAS) as f32 + 0.5 - cy,
            );
            let d2 = dx * dx + dy * dy;
            if d2 <= outer * outer && d2 >= inner * inner {
                *pixel = 255;
            }
        }
        canvas
    }

    fn size_of(bounds: (usize, usize, usize, usize)) -> (usize, usize) {
        (bounds.2 - bounds.0, bounds.3 - bounds.1)
    }

    fn ink_sum(image: &[u8]) -> f64 {
        image.iter().map(|&v| f64::from(v)).sum()
    }

    fn assert_centred(image: &[u8; 784]) {
        let (x, y) = center_of_mass(image).expect("ink");
        assert!(
            (x - CENTRE).abs() < 0.5 && (y - CENTRE).abs() < 0.5,
            "centre ({x}, {y})"
        );
    }

    #[test]
    fn small_off_centre_shapes_are_scaled_to_20_and_centred() {
        for canvas in [ring(40.0, 45.0, 30.0, 18.0), seven(8.0, 5.0, 70.0)] {
            let image = preprocess_drawing(&canvas, CANVAS, CANVAS).unwrap();
            // Threshold 0 counts faint partial pixels too: with sub-pixel placement a 20 px
            // long side generally straddles pixel boundaries, touching 21 output pixels.
            let (w, h) = size_of(ink_bounds(&image, SIDE, SIDE, 0).unwrap());
            assert!((20..=21).contains(&w.max(h)), "size {w}x{h}");
            assert_centred(&image);
        }
    }

    #[test]
    fn same_shape_at_different_sizes_and_places_gives_nearly_the_same_image() {
        let small = preprocess_drawing(&seven(10.0, 12.0, 60.0), CANVAS, CANVAS).unwrap();
        let large = preprocess_drawing(&seven(100.0, 70.0, 180.0), CANVAS, CANVAS).unwrap();
        assert_centred(&small);
        assert_centred(&large);
        let diff: f64 = small
            .iter()
            .zip(&large)
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum();
        let mean = diff / (SIDE * SIDE) as f64;
        assert!(mean < 3.0, "mean absolute difference {mean}");
    }

    #[test]
    fn aspect_ratio_is_kept() {
        let mut canvas = blank();
        for y in 50..150 {
            canvas[y * CANVAS + 200..y * CANVAS + 210].fill(255);
        }
        let image = preprocess_drawing(&canvas, CANVAS, CANVAS).unwrap();
        // 10x100 scales to 2x20.
        let solid = size_of(ink_bounds(&image, SIDE, SIDE, 127).unwrap());
        assert_eq!(solid, (2, 20));
        let (w, h) = size_of(ink_bounds(&image, SIDE, SIDE, 0).unwrap());
        assert!(w <= 3 && h <= 21, "size {w}x{h}");
    }

    #[test]
    fn edges_are_anti_aliased() {
        let image = preprocess_drawing(&ring(150.0, 150.0, 100.0, 60.0), CANVAS, CANVAS).unwrap();
        let grey = image.iter().filter(|&&v| v > 0 && v < 255).count();
        assert!(grey >= 20, "only {grey} intermediate pixels");
    }

    #[test]
    fn no_ink_or_bad_sizes_give_none() {
        assert_eq!(preprocess_drawing(&blank(), CANVAS, CANVAS), None);
        // Faint noise below the ink threshold is not a drawing.
        assert_eq!(preprocess_drawing(&[INK_THRESHOLD; 100], 10, 10), None);
        assert_eq!(preprocess_drawing(&[255; 99], 10, 10), None);
        assert_eq!(preprocess_drawing(&[], 0, 0), None);
        assert_eq!(preprocess_drawing(&[], 0, 5), None);
        assert_eq!(preprocess_drawing(&[255; 4], usize::MAX, 2), None);
    }

    #[test]
    fn single_dot_becomes_a_centred_blob() {
        let mut canvas = blank();
        canvas[270 * CANVAS + 5] = 255;
        let image = preprocess_drawing(&canvas, CANVAS, CANVAS).unwrap();
        assert_centred(&image);
        // Like MNIST, the dot is scaled up to fill the 20x20 box, centred in the image.
        assert_eq!(ink_bounds(&image, SIDE, SIDE, 0), Some((4, 4, 24, 24)));
        assert_eq!(preprocess_drawing(&[255], 1, 1), Some(image));
    }

    #[test]
    fn full_canvas_becomes_the_centred_20x20_square() {
        let image = preprocess_drawing(&[255; CANVAS * CANVAS], CANVAS, CANVAS).unwrap();
        for (i, &v) in image.iter().enumerate() {
            let inside = |c: usize| (4..24).contains(&c);
            let expected = if inside(i % SIDE) && inside(i / SIDE) {
                255
            } else {
                0
            };
            assert_eq!(v, expected, "pixel ({}, {})", i % SIDE, i / SIDE);
        }
    }

    #[test]
    fn ink_is_conserved_up_to_the_area_ratio() {
        // A 100x50 box of value 200 scales to 20x10: every output pixel averages 25 sources.
        let mut canvas = blank();
        for y in 30..80 {
            canvas[y * CANVAS + 17..y * CANVAS + 117].fill(200);
        }
        let image = preprocess_drawing(&canvas, CANVAS, CANVAS).unwrap();
        let expected = ink_sum(&canvas) / 25.0;
        let relative_error = (ink_sum(&image) - expected).abs() / expected;
        assert!(relative_error < 0.01, "relative error {relative_error}");
    }

    #[test]
    fn one_pixel_line_stays_visible() {
        let mut canvas = blank();
        canvas[100 * CANVAS + 40..100 * CANVAS + 240].fill(255);
        let image = preprocess_drawing(&canvas, CANVAS, CANVAS).unwrap();
        assert_centred(&image);
        // The line keeps its full ink (20 px of 255), split over at most two rows.
        // Rounding costs at most half a level on each of the 40 touched pixels.
        assert!((ink_sum(&image) - 20.0 * 255.0).abs() <= 20.0);
        let (w, h) = size_of(ink_bounds(&image, SIDE, SIDE, 100).unwrap());
        assert!(w >= 20 && h <= 2, "size {w}x{h}");
    }

    #[test]
    fn lopsided_ink_is_clipped_without_panicking() {
        // A faint long bar with a heavy blob at one end: the centre of mass sits near the blob,
        // so the far end of the bar falls outside the image and is clipped.
        let mut canvas = vec![0u8; 200 * 10];
        canvas[..200].fill(20);
        for row in canvas.chunks_exact_mut(200) {
            row[..10].fill(255);
        }
        let image = preprocess_drawing(&canvas, 200, 10).unwrap();
        assert!(ink_sum(&image) > 0.0);
    }

    #[test]
    fn huge_canvas_is_handled() {
        let side = 4000;
        let mut canvas = vec![0u8; side * side];
        stroke(&mut canvas, side, (500.0, 3500.0), (3500.0, 500.0), 150.0);
        let image = preprocess_drawing(&canvas, side, side).unwrap();
        assert_centred(&image);
    }

    #[test]
    fn ink_bounds_respects_threshold() {
        let mut image = vec![0u8; 6 * 4];
        image[6 + 1] = 5;
        image[2 * 6 + 4] = 200;
        image[3 * 6 + 2] = 50;
        assert_eq!(ink_bounds(&image, 6, 4, 0), Some((1, 1, 5, 4)));
        assert_eq!(ink_bounds(&image, 6, 4, 10), Some((2, 2, 5, 4)));
        assert_eq!(ink_bounds(&image, 6, 4, 200), None);
        assert_eq!(ink_bounds(&image, 6, 5, 0), None);
    }

    #[test]
    fn center_of_mass_uses_pixel_centres() {
        let mut image = [0u8; 784];
        assert_eq!(center_of_mass(&image), None);
        image[7 * SIDE + 3] = 100;
        assert_eq!(center_of_mass(&image), Some((3.0, 7.0)));
        image[7 * SIDE + 5] = 100;
        assert_eq!(center_of_mass(&image), Some((4.0, 7.0)));
    }
}

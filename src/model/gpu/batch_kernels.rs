//! The training batch built on the GPU: the rows gathered from the training set kept on the
//! device as bytes, and the augmentation's affine resampling, in one kernel.

use cubecl::prelude::*;

/// Pixel `index` of the byte image store (four pixels a word, little-endian), as `[0, 1]`.
#[cube]
fn pixel(pixels: &[u32], index: usize) -> f32 {
    let word = pixels[index / 4];
    let byte = (word >> (((index % 4) * 8) as u32)) & 255u32;
    f32::cast_from(byte) / 255.0f32
}

/// `out[n, 0, y, x]` for each output pixel: image `rows[n]`, resampled through the 2x3
/// matrix `theta[n]` (output grid to input grid in `[-1, 1]`, pixel centres at the ends) with
/// bilinear weights and edge pixels repeated: the same arithmetic, in the same order, as
/// Burn's `affine_grid_2d` followed by `grid_sample_2d` (bilinear, border, align corners).
/// Without `affine` the image is copied as it is (no augmentation).
#[cube(launch_unchecked)]
pub fn gather_augment(
    pixels: &[u32],
    rows: &[u32],
    theta: &[f32],
    out: &mut [f32],
    total: usize,
    #[comptime] side: usize,
    #[comptime] affine: bool,
) {
    let index = ABSOLUTE_POS;
    if index >= total {
        terminate!();
    }
    let plane = comptime![side * side];
    let (n, p) = (index / plane, index % plane);
    let base = rows[n] as usize * plane;
    if comptime![affine] {
        let last = comptime![side - 1];
        let half = f32::cast_from(last) / 2.0f32;
        let gx = f32::cast_from(p % side) / half - 1.0f32;
        let gy = f32::cast_from(p / side) / half - 1.0f32;
        let t = n * 6;
        let sx = theta[t] * gx + theta[t + 1] * gy + theta[t + 2];
        let sy = theta[t + 3] * gx + theta[t + 4] * gy + theta[t + 5];
        let px = (sx + 1.0f32) * f32::cast_from(last) / 2.0f32;
        let py = (sy + 1.0f32) * f32::cast_from(last) / 2.0f32;
        let (x0f, y0f) = (px.floor(), py.floor());
        let (wx, wy) = (px - x0f, py - y0f);
        let (wx_, wy_) = (1.0f32 - wx, 1.0f32 - wy);
        let (x0, y0) = (i32::cast_from(x0f), i32::cast_from(y0f));
        let edge = last as i32;
        let cx0 = clamp(x0, 0, edge) as usize;
        let cx1 = clamp(x0 + 1, 0, edge) as usize;
        let cy0 = clamp(y0, 0, edge) as usize;
        let cy1 = clamp(y0 + 1, 0, edge) as usize;
        let v00 = pixel(pixels, base + cy0 * side + cx0);
        let v01 = pixel(pixels, base + cy1 * side + cx0);
        let v10 = pixel(pixels, base + cy0 * side + cx1);
        let v11 = pixel(pixels, base + cy1 * side + cx1);
        out[index] = wx_ * wy_ * v00 + wx_ * wy * v01 + wx * wy_ * v10 + wx * wy * v11;
    } else {
        out[index] = pixel(pixels, base + p);
    }
}

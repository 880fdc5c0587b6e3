//! The convolution kernels in CubeCL (WGSL in the browser, SPIR-V natively): the forward pass
//! and both gradients, each invocation accumulating a block of outputs in registers.
//!
//! Every kernel puts the values that differ between neighbouring invocations (pixels, or
//! weights for the weight gradient) along the invocations and a block of channels along the
//! cube, so one of its two operands is the same for the whole cube: a broadcast load, reused
//! for every output of the invocation's block. No shared memory and no barriers. The layer's
//! shape is a compile-time constant (the index arithmetic divides by constants); only the batch
//! size is a run-time value.

use cubecl::prelude::*;

/// Invocations per cube. Each computes `per_unit` pixels (forward, input gradient) or weights
/// (weight gradient), `UNITS` apart, for the cube's `block` channels: output channels (forward,
/// weight gradient) or input channels (input gradient).
pub const UNITS: usize = 64;

/// A convolution layer's sizes (batch aside), fixed when its kernels are compiled.
#[derive(CubeType, Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ConvShape {
    pub in_channels: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub out_channels: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_height: usize,
    pub out_width: usize,
    /// The layer's output went through a ReLU, fused here: forward applies it, the gradients
    /// mask the incoming gradient with `output > 0`.
    pub relu: bool,
}

/// `x` at padded row `ih_padded`, column `iw_padded` of image `n`, channel `c`; the padding
/// reads as zero. (Padded coordinates never go negative.)
#[cube]
fn padded_input(
    x: &[f32],
    n: usize,
    c: usize,
    ih_padded: usize,
    iw_padded: usize,
    #[comptime] s: ConvShape,
) -> f32 {
    let mut value = 0.0f32;
    if ih_padded >= s.pad_top && iw_padded >= s.pad_left {
        let ih = ih_padded - s.pad_top;
        let iw = iw_padded - s.pad_left;
        if ih < s.in_height && iw < s.in_width {
            value = x[((n * s.in_channels + c) * s.in_height + ih) * s.in_width + iw];
        }
    }
    value
}

/// The gradient reaching the convolution's output at `index`, through the fused ReLU if any.
#[cube]
fn output_grad(grad: &[f32], output: &[f32], index: usize, #[comptime] s: ConvShape) -> f32 {
    let mut g = grad[index];
    if comptime![s.relu] {
        g = select(output[index] > 0.0f32, g, 0.0f32);
    }
    g
}

/// `out = relu?(conv(x, w) + bias)`: each invocation computes `per_unit` output pixels
/// (`(n, oh, ow)` flattened, `UNITS` apart) for the cube's `block` output channels.
/// `pixels` = batch · out_height · out_width.
#[cube(launch_unchecked)]
pub fn conv_forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
    pixels: usize,
    #[comptime] s: ConvShape,
    #[comptime] per_unit: usize,
    #[comptime] block: usize,
) {
    let kernel_plane = comptime![s.kernel_h * s.kernel_w];
    let depth = comptime![s.in_channels * s.kernel_h * s.kernel_w];
    let out_plane = comptime![s.out_height * s.out_width];
    let first = CUBE_POS_X as usize * comptime![UNITS * per_unit] + UNIT_POS as usize;
    let c0 = CUBE_POS_Y as usize * block;
    let mut n = Array::<usize>::new(per_unit);
    let mut oh = Array::<usize>::new(per_unit);
    let mut ow = Array::<usize>::new(per_unit);
    #[unroll]
    for i in 0..per_unit {
        let m = min(first + 64 * i, pixels - 1);
        let p = m % out_plane;
        n[i] = m / out_plane;
        oh[i] = p / s.out_width * s.stride_h;
        ow[i] = p % s.out_width * s.stride_w;
    }
    let mut acc = Array::<f32>::new(comptime![per_unit * block]);
    for ic in 0..s.in_channels {
        for kh in 0..s.kernel_h {
            for kw in 0..s.kernel_w {
                let k = ic * kernel_plane + kh * s.kernel_w + kw;
                let mut xv = Array::<f32>::new(per_unit);
                #[unroll]
                for i in 0..per_unit {
                    xv[i] = padded_input(x, n[i], ic, oh[i] + kh, ow[i] + kw, s);
                }
                #[unroll]
                for j in 0..block {
                    let c = min(c0 + j, s.out_channels - 1);
                    let w = weight[c * depth + k];
                    #[unroll]
                    for i in 0..per_unit {
                        acc[block * i + j] += xv[i] * w;
                    }
                }
            }
        }
    }
    #[unroll]
    for i in 0..per_unit {
        let m = first + 64 * i;
        if m < pixels {
            let p = m % out_plane;
            #[unroll]
            for j in 0..block {
                let c = c0 + j;
                if c < s.out_channels {
                    let mut value = acc[block * i + j] + bias[c];
                    if comptime![s.relu] {
                        value = max(value, 0.0f32);
                    }
                    out[(n[i] * s.out_channels + c) * out_plane + p] = value;
                }
            }
        }
    }
}

/// The input gradient: each invocation computes `per_unit` input pixels for the cube's
/// `block` input channels. The pixels of a cube share their row and column parity
/// modulo the stride (`CUBE_POS_Z` is that class), so they share the kernel taps that reach
/// them: a strided layer loops over those taps only, not over the ones the stride skips.
/// `batch` images; every class is launched with as many cubes as the largest needs.
#[cube(launch_unchecked)]
pub fn conv_input_grad(
    grad: &[f32],
    output: &[f32],
    weight: &[f32],
    dx: &mut [f32],
    batch: usize,
    #[comptime] s: ConvShape,
    #[comptime] per_unit: usize,
    #[comptime] block: usize,
) {
    let kernel_plane = comptime![s.kernel_h * s.kernel_w];
    let in_plane = comptime![s.in_height * s.in_width];
    let out_plane = comptime![s.out_height * s.out_width];
    let class = CUBE_POS_Z as usize;
    let (rh, rw) = (class / s.stride_w, class % s.stride_w);
    // The first input row (column) whose padded index is `rh` (`rw`) modulo the stride, how
    // many rows (columns) the class has, and its kernel taps `rh + stride · t`.
    let first_h = (rh + s.stride_h - s.pad_top % s.stride_h) % s.stride_h;
    let first_w = (rw + s.stride_w - s.pad_left % s.stride_w) % s.stride_w;
    let rows = (s.in_height + s.stride_h - 1 - first_h) / s.stride_h;
    let columns = (s.in_width + s.stride_w - 1 - first_w) / s.stride_w;
    let taps_h = (s.kernel_h + s.stride_h - 1 - rh) / s.stride_h;
    let taps_w = (s.kernel_w + s.stride_w - 1 - rw) / s.stride_w;
    let class_plane = rows * columns;
    let pixels = batch * class_plane;
    let first = CUBE_POS_X as usize * comptime![UNITS * per_unit] + UNIT_POS as usize;
    if first >= pixels {
        terminate!();
    }
    let c0 = CUBE_POS_Y as usize * block;
    let mut n = Array::<usize>::new(per_unit);
    let mut ih = Array::<usize>::new(per_unit);
    let mut iw = Array::<usize>::new(per_unit);
    #[unroll]
    for i in 0..per_unit {
        let m = min(first + 64 * i, pixels - 1);
        let q = m % class_plane;
        n[i] = m / class_plane;
        ih[i] = first_h + q / columns * s.stride_h;
        iw[i] = first_w + q % columns * s.stride_w;
    }
    let mut acc = Array::<f32>::new(comptime![per_unit * block]);
    for oc in 0..s.out_channels {
        for th in 0..taps_h {
            let kh = rh + th * s.stride_h;
            for tw in 0..taps_w {
                let kw = rw + tw * s.stride_w;
                let mut gv = Array::<f32>::new(per_unit);
                #[unroll]
                for i in 0..per_unit {
                    let (hp, wp) = (ih[i] + s.pad_top, iw[i] + s.pad_left);
                    let mut g = 0.0f32;
                    if hp >= kh && wp >= kw {
                        let (oh, ow) = ((hp - kh) / s.stride_h, (wp - kw) / s.stride_w);
                        if oh < s.out_height && ow < s.out_width {
                            let index =
                                (n[i] * s.out_channels + oc) * out_plane + oh * s.out_width + ow;
                            g = output_grad(grad, output, index, s);
                        }
                    }
                    gv[i] = g;
                }
                #[unroll]
                for j in 0..block {
                    let c = min(c0 + j, s.in_channels - 1);
                    let w = weight[(oc * s.in_channels + c) * kernel_plane + kh * s.kernel_w + kw];
                    #[unroll]
                    for i in 0..per_unit {
                        acc[block * i + j] += gv[i] * w;
                    }
                }
            }
        }
    }
    #[unroll]
    for i in 0..per_unit {
        if first + 64 * i < pixels {
            #[unroll]
            for j in 0..block {
                let c = c0 + j;
                if c < s.in_channels {
                    let index = (n[i] * s.in_channels + c) * in_plane + ih[i] * s.in_width + iw[i];
                    dx[index] = acc[block * i + j];
                }
            }
        }
    }
}

/// One split of the weight and bias gradients: each invocation accumulates `per_unit` weights
/// `(ic, kh, kw)` (the row past the last weight is the bias: its input is 1) for the cube's
/// `block` output channels over this split's output pixels (`CUBE_POS_Z`, `chunk`
/// pixels each of `depth` = batch · out_height · out_width). Writes `partial[split][row][oc]`;
/// [`weight_grad_sum`] adds the splits.
#[cube(launch_unchecked)]
pub fn conv_weight_grad_split(
    grad: &[f32],
    output: &[f32],
    x: &[f32],
    partial: &mut [f32],
    depth: usize,
    chunk: usize,
    #[comptime] s: ConvShape,
    #[comptime] per_unit: usize,
    #[comptime] block: usize,
) {
    let kernel_plane = comptime![s.kernel_h * s.kernel_w];
    let weights = comptime![s.in_channels * s.kernel_h * s.kernel_w];
    let out_plane = comptime![s.out_height * s.out_width];
    let first = CUBE_POS_X as usize * comptime![UNITS * per_unit] + UNIT_POS as usize;
    if first > weights {
        // Every row of this invocation is past the bias row (most of a small layer's cube).
        terminate!();
    }
    let c0 = CUBE_POS_Y as usize * block;
    let split = CUBE_POS_Z as usize;
    let mut ic = Array::<usize>::new(per_unit);
    let mut kh = Array::<usize>::new(per_unit);
    let mut kw = Array::<usize>::new(per_unit);
    #[unroll]
    for i in 0..per_unit {
        let row = min(first + 64 * i, weights - 1);
        let q = row % kernel_plane;
        ic[i] = row / kernel_plane;
        kh[i] = q / s.kernel_w;
        kw[i] = q % s.kernel_w;
    }
    let mut acc = Array::<f32>::new(comptime![per_unit * block]);
    let end = min(split * chunk + chunk, depth);
    for k in split * chunk..end {
        let (n, p) = (k / out_plane, k % out_plane);
        let oh = p / s.out_width * s.stride_h;
        let ow = p % s.out_width * s.stride_w;
        let mut gv = Array::<f32>::new(block);
        #[unroll]
        for j in 0..block {
            let oc = min(c0 + j, s.out_channels - 1);
            gv[j] = output_grad(grad, output, (n * s.out_channels + oc) * out_plane + p, s);
        }
        #[unroll]
        for i in 0..per_unit {
            let row = first + 64 * i;
            let mut xv = 1.0f32;
            if row < weights {
                xv = padded_input(x, n, ic[i], oh + kh[i], ow + kw[i], s);
            }
            #[unroll]
            for j in 0..block {
                acc[block * i + j] += xv * gv[j];
            }
        }
    }
    #[unroll]
    for i in 0..per_unit {
        let row = first + 64 * i;
        if row <= weights {
            #[unroll]
            for j in 0..block {
                let oc = c0 + j;
                if oc < s.out_channels {
                    partial[(split * (weights + 1) + row) * s.out_channels + oc] =
                        acc[block * i + j];
                }
            }
        }
    }
}

/// Adds the splits of [`conv_weight_grad_split`] into the weight gradient `[oc, ic·kh·kw]` and
/// the bias gradient `[oc]`, one invocation per value.
#[cube(launch_unchecked)]
pub fn weight_grad_sum(
    partial: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    splits: usize,
    #[comptime] s: ConvShape,
) {
    let weights = comptime![s.in_channels * s.kernel_h * s.kernel_w];
    let total = comptime![s.out_channels * (s.in_channels * s.kernel_h * s.kernel_w + 1)];
    let index = ABSOLUTE_POS;
    if index < total {
        let mut sum = 0.0f32;
        for split in 0..splits {
            sum += partial[split * total + index];
        }
        let (row, oc) = (index / s.out_channels, index % s.out_channels);
        if row < weights {
            dw[oc * weights + row] = sum;
        } else {
            db[oc] = sum;
        }
    }
}

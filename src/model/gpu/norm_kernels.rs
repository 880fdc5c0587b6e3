//! Batch normalisation in CubeCL: in training, one launch forward (the channel's mean and
//! variance, the normalised output and the next running statistics) and one backward (the two
//! per-channel sums, then the input gradient and the gamma and beta gradients), each with one
//! cube of [`UNITS`] invocations per channel reducing through workgroup shared memory (no
//! subgroups: WebGPU in the browser has none). Burn's own version is a chain of permutes,
//! copies and generic reductions, about twenty launches per layer.

use cubecl::prelude::*;

pub const UNITS: usize = 256;

/// The sum of every invocation's `value` in the cube, returned to all of them.
#[cube]
pub fn cube_sum(partial: &mut [f32], value: f32, unit: usize) -> f32 {
    partial[unit] = value;
    sync_cube();
    for level in 0..8usize {
        let stride = 128usize >> level;
        if unit < stride {
            partial[unit] += partial[unit + stride];
        }
        sync_cube();
    }
    let total = partial[0];
    sync_cube();
    total
}

/// Position of the `i`-th value of channel `c` in an `[batch, channels, plane]` tensor.
#[cube]
fn at(i: usize, c: usize, #[comptime] channels: usize, #[comptime] plane: usize) -> usize {
    (i / plane * channels + c) * plane + i % plane
}

/// Training forward for channel `CUBE_POS_X`: batch statistics (biased variance, as Burn's),
/// `y = (x - mean) · rstd · gamma + beta`, the statistics the backward pass needs, and the
/// running statistics moved `momentum` of the way towards this batch's.
#[cube(launch_unchecked)]
pub fn batch_norm_train(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    y: &mut [f32],
    stats: &mut [f32],
    batch: usize,
    epsilon: f32,
    momentum: f32,
    #[comptime] channels: usize,
    #[comptime] plane: usize,
) {
    // `stats` is [mean; rstd; next running mean; next running variance], `channels` each.
    let c = CUBE_POS_X as usize;
    let unit = UNIT_POS as usize;
    let count = batch * plane;
    let mut partial = Shared::<[f32]>::new_slice(256usize);
    let mut sum = 0.0f32;
    for i in range_stepped(unit, count, 256usize) {
        sum += x[at(i, c, channels, plane)];
    }
    let mean = cube_sum(&mut partial, sum, unit) / f32::cast_from(count);
    let mut squares = 0.0f32;
    for i in range_stepped(unit, count, 256usize) {
        let d = x[at(i, c, channels, plane)] - mean;
        squares += d * d;
    }
    let variance = cube_sum(&mut partial, squares, unit) / f32::cast_from(count);
    let rstd = 1.0f32 / (variance + epsilon).sqrt();
    let (gamma, beta) = (gamma[c], beta[c]);
    for i in range_stepped(unit, count, 256usize) {
        let index = at(i, c, channels, plane);
        y[index] = (x[index] - mean) * rstd * gamma + beta;
    }
    if unit == 0 {
        let keep = 1.0f32 - momentum;
        stats[c] = mean;
        stats[channels + c] = rstd;
        stats[2 * channels + c] = running_mean[c] * keep + mean * momentum;
        stats[3 * channels + c] = running_var[c] * keep + variance * momentum;
    }
}

/// Training backward for channel `CUBE_POS_X`, with `x̂ = (x - mean) · rstd`:
/// `dx = gamma · rstd · (dy - mean(dy) - x̂ · mean(dy · x̂))`, `dgamma = Σ dy · x̂`,
/// `dbeta = Σ dy` (written to `param_grads` as [dgamma; dbeta]).
#[cube(launch_unchecked)]
pub fn batch_norm_backward(
    grad: &[f32],
    x: &[f32],
    gamma: &[f32],
    stats: &[f32],
    dx: &mut [f32],
    param_grads: &mut [f32],
    batch: usize,
    #[comptime] channels: usize,
    #[comptime] plane: usize,
) {
    let c = CUBE_POS_X as usize;
    let unit = UNIT_POS as usize;
    let count = batch * plane;
    let (mean, rstd) = (stats[c], stats[channels + c]);
    let mut partial = Shared::<[f32]>::new_slice(256usize);
    let mut sum_grad = 0.0f32;
    let mut sum_grad_xhat = 0.0f32;
    for i in range_stepped(unit, count, 256usize) {
        let index = at(i, c, channels, plane);
        let g = grad[index];
        sum_grad += g;
        sum_grad_xhat += g * (x[index] - mean) * rstd;
    }
    let sum_grad = cube_sum(&mut partial, sum_grad, unit);
    let sum_grad_xhat = cube_sum(&mut partial, sum_grad_xhat, unit);
    let n = f32::cast_from(count);
    let (mean_grad, mean_grad_xhat) = (sum_grad / n, sum_grad_xhat / n);
    let scale = gamma[c] * rstd;
    for i in range_stepped(unit, count, 256usize) {
        let index = at(i, c, channels, plane);
        let xhat = (x[index] - mean) * rstd;
        dx[index] = scale * (grad[index] - mean_grad - xhat * mean_grad_xhat);
    }
    if unit == 0 {
        param_grads[c] = sum_grad_xhat;
        param_grads[channels + c] = sum_grad;
    }
}

/// Inference: `y = (x - running mean) / sqrt(running variance + epsilon) · gamma + beta`, one
/// invocation per value.
#[cube(launch_unchecked)]
pub fn batch_norm_inference(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    y: &mut [f32],
    len: usize,
    epsilon: f32,
    #[comptime] channels: usize,
    #[comptime] plane: usize,
) {
    let index = ABSOLUTE_POS;
    if index < len {
        let c = index / plane % channels;
        let std = (var[c] + epsilon).sqrt();
        y[index] = (x[index] - mean[c]) / std * gamma[c] + beta[c];
    }
}

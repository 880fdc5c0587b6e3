//! Softmax cross-entropy (with label smoothing) and the batch's correct count in one launch
//! forward and one backward, where Burn's loss is a chain of about twenty generic launches
//! (max, exp, sums, log, gather or scatter, means) plus five for argmax-equal-sum.

use cubecl::prelude::*;

use super::norm_kernels::{UNITS, cube_sum};

/// Row `r`'s log-sum-exp and its first largest logit's class (Burn's argmax picks the first).
#[cube]
fn row_stats(logits: &[f32], r: usize, #[comptime] classes: usize) -> (f32, usize) {
    let base = r * classes;
    let mut largest = logits[base];
    let mut best = 0usize;
    for c in 1..classes {
        let v = logits[base + c];
        if v > largest {
            largest = v;
            best = c;
        }
    }
    let mut sum = 0.0f32;
    for c in 0..classes {
        sum += (logits[base + c] - largest).exp();
    }
    (largest + sum.ln(), best)
}

/// Row `r`'s label, clamped into the classes (labels come from a checked file; this only
/// keeps a stray value from reading past the row).
#[cube]
fn label_of(labels: &[i32], r: usize, #[comptime] classes: usize) -> usize {
    clamp(labels[r], 0i32, comptime![classes as i32 - 1]) as usize
}

/// One cube: `loss[0]` = the batch mean of `-Σ_c t_c · log_softmax(logits)_c` with
/// `t = onehot · (1 - smoothing) + smoothing / classes`, and `correct[0]` = how many rows'
/// first largest logit is their label.
#[cube(launch_unchecked)]
pub fn cross_entropy_forward(
    logits: &[f32],
    labels: &[i32],
    loss: &mut [f32],
    correct: &mut [f32],
    rows: usize,
    smoothing: f32,
    #[comptime] classes: usize,
) {
    let unit = UNIT_POS as usize;
    let mut partial = Shared::<[f32]>::new_slice(UNITS);
    let mut row_loss = 0.0f32;
    let mut right = 0.0f32;
    for r in range_stepped(unit, rows, UNITS) {
        let (lse, best) = row_stats(logits, r, classes);
        let label = label_of(labels, r, classes);
        let base = r * classes;
        let mut sum = 0.0f32;
        for c in 0..classes {
            sum += logits[base + c];
        }
        // Σ_c t_c = 1, so -Σ_c t_c (x_c - lse) = lse - Σ_c t_c x_c.
        let targeted =
            (1.0f32 - smoothing) * logits[base + label] + smoothing / f32::cast_from(classes) * sum;
        row_loss += lse - targeted;
        right += select(best == label, 1.0f32, 0.0f32);
    }
    let total_loss = cube_sum(&mut partial, row_loss, unit);
    let total_right = cube_sum(&mut partial, right, unit);
    if unit == 0 {
        loss[0] = total_loss / f32::cast_from(rows);
        correct[0] = total_right;
    }
}

/// `dlogits = grad[0] · (softmax(logits) - t) / rows`, one invocation per logit.
#[cube(launch_unchecked)]
pub fn cross_entropy_backward(
    logits: &[f32],
    labels: &[i32],
    grad: &[f32],
    dlogits: &mut [f32],
    rows: usize,
    smoothing: f32,
    #[comptime] classes: usize,
) {
    let index = ABSOLUTE_POS;
    if index >= rows * classes {
        terminate!();
    }
    let (r, c) = (index / classes, index % classes);
    let (lse, _) = row_stats(logits, r, classes);
    let mut target = smoothing / f32::cast_from(classes);
    if c == label_of(labels, r, classes) {
        target += 1.0f32 - smoothing;
    }
    let probability = (logits[index] - lse).exp();
    dlogits[index] = grad[0] * (probability - target) / f32::cast_from(rows);
}

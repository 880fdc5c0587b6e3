//! Dropout in one launch forward and one backward. The mask is never stored: each element's
//! keep-or-drop comes from a counter-based hash of its index and the step's seed, so the
//! backward pass recomputes it. Burn's dropout draws a random tensor, multiplies twice going
//! forward and twice going back: five launches and a mask-sized buffer per layer.

use cubecl::prelude::*;

/// Chris Wellons' `lowbias32` integer hash: every output bit depends on every input bit.
#[cube]
fn hash(value: u32) -> u32 {
    let mut h = value;
    h ^= h >> 16u32;
    h *= 0x7feb_352du32;
    h ^= h >> 15u32;
    h *= 0x846c_a68bu32;
    h ^= h >> 16u32;
    h
}

/// Whether element `index` survives this step: its hash falls below `threshold`
/// (keep probability · 2³²).
#[cube]
fn kept(index: usize, seed: u32, threshold: u32) -> bool {
    hash(index as u32 ^ hash(seed)) < threshold
}

/// `y = x · scale` where kept, 0 elsewhere; `len` elements, each invocation striding over
/// them. The backward pass is the same map applied to the incoming gradient.
#[cube(launch_unchecked)]
pub fn dropout_apply(x: &[f32], y: &mut [f32], len: usize, seed: u32, threshold: u32, scale: f32) {
    let stride = (CUBE_COUNT_X * CUBE_DIM_X) as usize;
    for index in range_stepped(ABSOLUTE_POS, len, stride) {
        y[index] = select(kept(index, seed, threshold), x[index] * scale, 0.0f32);
    }
}

//! The fused optimizer updates in CubeCL, one invocation per parameter value.

use cubecl::prelude::*;

/// `m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; w -= lr·combined·m / (sqrt(v) + ε)`; `first`
/// treats `m` and `v` as zero (they are not read).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn adam_kernel(
    w: &[f32],
    g: &[f32],
    m: &[f32],
    v: &[f32],
    w_out: &mut [f32],
    m_out: &mut [f32],
    v_out: &mut [f32],
    len: usize,
    k: AdamArgs,
    #[comptime] first: bool,
) {
    let i = ABSOLUTE_POS;
    if i < len {
        let grad = g[i];
        let mut m_next = grad * (1.0f32 - k.beta_1);
        let mut v_next = grad * grad * (1.0f32 - k.beta_2);
        if comptime![!first] {
            m_next += m[i] * k.beta_1;
            v_next += v[i] * k.beta_2;
        }
        m_out[i] = m_next;
        v_out[i] = v_next;
        w_out[i] = w[i] - k.learning_rate * (m_next * k.combined / (v_next.sqrt() + k.epsilon));
    }
}

#[derive(CubeLaunch, CubeType)]
pub struct AdamArgs {
    pub learning_rate: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub combined: f32,
    pub epsilon: f32,
}

/// Keras' RMSprop: `ms = ρ·ms + (1-ρ)·g²; w -= lr·g / sqrt(ms + ε)`; `first` treats `ms` as 0.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn rmsprop_kernel(
    w: &[f32],
    g: &[f32],
    ms: &[f32],
    w_out: &mut [f32],
    ms_out: &mut [f32],
    len: usize,
    learning_rate: f32,
    rho: f32,
    epsilon: f32,
    #[comptime] first: bool,
) {
    let i = ABSOLUTE_POS;
    if i < len {
        let grad = g[i];
        let mut next = grad * grad * (1.0f32 - rho);
        if comptime![!first] {
            next += ms[i] * rho;
        }
        ms_out[i] = next;
        w_out[i] = w[i] - learning_rate * grad / (next + epsilon).sqrt();
    }
}

//! The optimizers' update of one parameter tensor as one kernel on the GPU: Burn's Adam (and
//! Keras' RMSprop) are a chain of a dozen element-wise launches per parameter, about 400 per
//! training step of the default network.

use burn::backend::Wgpu;
use burn::prelude::*;
use burn::tensor::DType;
use cubecl::prelude::{CubeCount, CubeDim};

use super::optim_kernels::{AdamArgsLaunch, adam_kernel, rmsprop_kernel};

use super::{empty_like, on_cpu, plain};

/// Adam's scalars for one step, as Burn computes them: `combined` is
/// `sqrt(1 - beta_2^t) / (1 - beta_1^t)` and `epsilon` is already scaled by `sqrt(1 - beta_2^t)`.
#[derive(Clone, Copy, Debug)]
pub struct AdamScalars {
    pub learning_rate: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub combined: f32,
    pub epsilon: f32,
}

fn grid(len: usize) -> (CubeCount, CubeDim) {
    let cubes = u32::try_from(len.div_ceil(256)).expect("parameter sizes fit in u32 cubes");
    (CubeCount::Static(cubes, 1, 1), CubeDim::new_1d(256))
}

/// One Adam step of a GPU parameter: `(weights, first moment, second moment)`, or `None` when
/// the tensors are not f32 on the GPU. `moments` is `None` on the first step.
pub fn adam_step<const D: usize>(
    weights: &Tensor<D>,
    grad: &Tensor<D>,
    moments: Option<(&Tensor<D>, &Tensor<D>)>,
    k: AdamScalars,
) -> Option<[Tensor<D>; 3]> {
    if on_cpu(weights) || weights.dtype() != DType::F32 || grad.dtype() != DType::F32 {
        return None;
    }
    let (w, g) = (plain(weights)?, plain(grad)?);
    let (m, v) = match moments {
        Some((m, v)) => (plain(m)?, plain(v)?),
        None => (g.clone(), g.clone()),
    };
    let len = weights.shape().num_elements();
    let shape = w.meta.shape().clone();
    let [w_out, m_out, v_out] = [0; 3].map(|_| empty_like(&w, shape.clone()));
    let (count, dim) = grid(len);
    // SAFETY: one invocation per element, guarded by `len`, the length of every buffer here.
    unsafe {
        adam_kernel::launch_unchecked(
            &w.client,
            count,
            dim,
            w.clone().into_buffer_arg(),
            g.into_buffer_arg(),
            m.into_buffer_arg(),
            v.into_buffer_arg(),
            w_out.clone().into_buffer_arg(),
            m_out.clone().into_buffer_arg(),
            v_out.clone().into_buffer_arg(),
            len,
            AdamArgsLaunch::new(k.learning_rate, k.beta_1, k.beta_2, k.combined, k.epsilon),
            moments.is_none(),
        );
    }
    Some([w_out, m_out, v_out].map(Tensor::from_primitive::<Wgpu>))
}

/// One Keras RMSprop step of a GPU parameter: `(weights, mean square)`, or `None` when the
/// tensors are not f32 on the GPU. `mean_square` is `None` on the first step.
pub fn rmsprop_step<const D: usize>(
    weights: &Tensor<D>,
    grad: &Tensor<D>,
    mean_square: Option<&Tensor<D>>,
    learning_rate: f32,
    rho: f32,
    epsilon: f32,
) -> Option<[Tensor<D>; 2]> {
    if on_cpu(weights) || weights.dtype() != DType::F32 || grad.dtype() != DType::F32 {
        return None;
    }
    let (w, g) = (plain(weights)?, plain(grad)?);
    let ms = match mean_square {
        Some(ms) => plain(ms)?,
        None => g.clone(),
    };
    let len = weights.shape().num_elements();
    let shape = w.meta.shape().clone();
    let [w_out, ms_out] = [0; 2].map(|_| empty_like(&w, shape.clone()));
    let (count, dim) = grid(len);
    // SAFETY: as in `adam_step`.
    unsafe {
        rmsprop_kernel::launch_unchecked(
            &w.client,
            count,
            dim,
            w.clone().into_buffer_arg(),
            g.into_buffer_arg(),
            ms.into_buffer_arg(),
            w_out.clone().into_buffer_arg(),
            ms_out.clone().into_buffer_arg(),
            len,
            learning_rate,
            rho,
            epsilon,
            mean_square.is_none(),
        );
    }
    Some([w_out, ms_out].map(Tensor::from_primitive::<Wgpu>))
}

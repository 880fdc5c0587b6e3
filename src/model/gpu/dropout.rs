//! Dropout on the GPU through [`dropout_kernels`](super::dropout_kernels), as a step in Burn's
//! autodiff graph whose backward pass recomputes the mask from the step's seed.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::wgpu::CubeTensor;
use burn::backend::{Autodiff, Wgpu};
use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::kernel::into_contiguous;
use cubecl::prelude::{CubeCount, CubeDim};

use super::{dropout_kernels, empty_like, on_cpu, tracked};

const UNITS: u32 = 256;
/// Enough cubes to fill any GPU; bigger tensors take several elements per invocation.
const MAX_CUBES: usize = 4096;

/// The generator of the steps' seeds (SplitMix64 over this state), set when a run starts so
/// a run's masks repeat with its seed, like Burn's device generator.
static SEED_STATE: AtomicU64 = AtomicU64::new(0x5EED);

/// Restart the sequence of dropout seeds (called where a run seeds Burn's device).
pub fn seed_dropout(seed: u64) {
    SEED_STATE.store(seed, Ordering::Relaxed);
}

fn next_seed() -> u32 {
    let state = SEED_STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 32) as u32
}

/// `dropout.forward(x)` by our kernel when it would drop anything (training, on the GPU,
/// tracked by autodiff, a rate above 0), or `None` where Burn's layer decides (which then
/// returns `x` unchanged, or runs on the CPU).
pub fn dropout<const D: usize>(dropout: &Dropout, x: &Tensor<D>) -> Option<Tensor<D>> {
    dropout_seeded(dropout, x, next_seed())
}

/// [`dropout`] with this step's mask drawn from `seed`.
pub(super) fn dropout_seeded<const D: usize>(
    dropout: &Dropout,
    x: &Tensor<D>,
    seed: u32,
) -> Option<Tensor<D>> {
    let drop = dropout.prob;
    let applies = drop > 0.0 && drop < 1.0 && dropout.training.is_enabled();
    if !applies || on_cpu(x) || x.dtype() != DType::F32 || !x.device().is_autodiff() {
        return None;
    }
    let keep = 1.0 - drop;
    let mask = Mask {
        seed,
        threshold: (keep * 4_294_967_296.0).min(u32::MAX as f64) as u32,
        scale: (1.0 / keep) as f32,
    };
    let (x, node) = tracked(x)?.into_parts();
    let y = mask.apply(&into_contiguous(x));
    let output = match DropoutStep
        .prepare::<NoCheckpointing>([node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(mask, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Autodiff<Wgpu>>(output))
}

/// One step's mask: which elements survive and how much they are scaled.
#[derive(Clone, Copy, Debug)]
struct Mask {
    seed: u32,
    threshold: u32,
    scale: f32,
}

impl Mask {
    fn apply(self, x: &CubeTensor) -> CubeTensor {
        let y = empty_like(x, x.meta.shape().clone());
        let len = x.meta.shape().num_elements();
        let cubes = len.div_ceil(UNITS as usize).clamp(1, MAX_CUBES) as u32;
        // SAFETY: the kernel touches indices below `len`, the size of both buffers.
        unsafe {
            dropout_kernels::dropout_apply::launch_unchecked(
                &x.client,
                CubeCount::Static(cubes, 1, 1),
                CubeDim::new_1d(UNITS),
                x.clone().into_buffer_arg(),
                y.clone().into_buffer_arg(),
                len,
                self.seed,
                self.threshold,
                self.scale,
            );
        }
        y
    }
}

#[derive(Debug)]
struct DropoutStep;

impl Backward<Wgpu, 1> for DropoutStep {
    type State = Mask;

    fn backward(self, ops: Ops<Mask, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = into_contiguous(grads.consume::<Wgpu>(&ops.node));
        if let Some(node) = node {
            grads.register::<Wgpu>(node.id, ops.state.apply(&grad));
        }
    }
}

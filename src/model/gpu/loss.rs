//! The training loss on the GPU through [`loss_kernels`](super::loss_kernels): softmax
//! cross-entropy with label smoothing and the batch's correct count in one launch, its
//! gradient in one more, registered as a step in Burn's autodiff graph.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::wgpu::CubeTensor;
use burn::backend::{Autodiff, Wgpu};
use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::kernel::into_contiguous;
use cubecl::prelude::{CubeCount, CubeDim};

use super::loss_kernels;
use super::norm_kernels::UNITS;
use super::{empty_like, on_cpu, tracked};

/// `(loss, correct)`: Burn's `CrossEntropyLoss` (from logits, smoothing `smoothing`, batch mean)
/// of `logits` `[rows, classes]` against `labels`, and how many rows' argmax is their label
/// (a float `[1]`, without gradient), when the logits live on the GPU and are tracked by
/// autodiff; `None` elsewhere, for Burn's own loss.
pub fn cross_entropy_and_correct(
    logits: &Tensor<2>,
    labels: &Tensor<1, Int>,
    smoothing: f32,
) -> Option<(Tensor<1>, Tensor<1>)> {
    if on_cpu(logits) || logits.dtype() != DType::F32 || !(0.0..=1.0).contains(&smoothing) {
        return None;
    }
    let [rows, classes] = logits.dims();
    if rows == 0 || classes == 0 || labels.dims() != [rows] {
        return None;
    }
    let labels = labels
        .clone()
        .try_into_primitive::<Autodiff<Wgpu>>()
        .or_else(|_| labels.clone().try_into_primitive::<Wgpu>())
        .ok()?;
    if labels.dtype != DType::I32 {
        return None;
    }
    let labels = into_contiguous(labels);
    let (logits, node) = tracked(logits)?.into_parts();
    let logits = into_contiguous(logits);
    let shape = LossShape {
        rows,
        classes,
        smoothing,
    };
    let (loss, correct) = shape.forward(&logits, &labels);
    let loss = match CrossEntropyStep
        .prepare::<NoCheckpointing>([node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            LossState {
                logits,
                labels,
                shape,
            },
            loss,
        ),
        OpsKind::UnTracked(prep) => prep.finish(loss),
    };
    Some((
        Tensor::from_primitive::<Autodiff<Wgpu>>(loss),
        Tensor::from_primitive::<Wgpu>(correct),
    ))
}

#[derive(Clone, Copy, Debug)]
struct LossShape {
    rows: usize,
    classes: usize,
    smoothing: f32,
}

impl LossShape {
    fn forward(self, logits: &CubeTensor, labels: &CubeTensor) -> (CubeTensor, CubeTensor) {
        let loss = empty_like(logits, vec![1]);
        let correct = empty_like(logits, vec![1]);
        // SAFETY: the kernel reads `rows · classes` logits and `rows` labels (the shapes
        // checked by the caller) and writes one value to each output.
        unsafe {
            loss_kernels::cross_entropy_forward::launch_unchecked(
                &logits.client,
                CubeCount::Static(1, 1, 1),
                CubeDim::new_1d(UNITS as u32),
                logits.clone().into_buffer_arg(),
                labels.clone().into_buffer_arg(),
                loss.clone().into_buffer_arg(),
                correct.clone().into_buffer_arg(),
                self.rows,
                self.smoothing,
                self.classes,
            );
        }
        (loss, correct)
    }

    fn backward(self, logits: &CubeTensor, labels: &CubeTensor, grad: &CubeTensor) -> CubeTensor {
        let dlogits = empty_like(logits, vec![self.rows, self.classes]);
        let total = self.rows * self.classes;
        // SAFETY: as in `forward`; the kernel guards its writes by `rows · classes`.
        unsafe {
            loss_kernels::cross_entropy_backward::launch_unchecked(
                &logits.client,
                CubeCount::Static((total as u32).div_ceil(UNITS as u32), 1, 1),
                CubeDim::new_1d(UNITS as u32),
                logits.clone().into_buffer_arg(),
                labels.clone().into_buffer_arg(),
                grad.clone().into_buffer_arg(),
                dlogits.clone().into_buffer_arg(),
                self.rows,
                self.smoothing,
                self.classes,
            );
        }
        dlogits
    }
}

#[derive(Debug)]
struct CrossEntropyStep;

#[derive(Clone, Debug)]
struct LossState {
    logits: CubeTensor,
    labels: CubeTensor,
    shape: LossShape,
}

impl Backward<Wgpu, 1> for CrossEntropyStep {
    type State = LossState;

    fn backward(self, ops: Ops<LossState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [logits_node] = ops.parents;
        let grad = into_contiguous(grads.consume::<Wgpu>(&ops.node));
        let LossState {
            logits,
            labels,
            shape,
        } = ops.state;
        if let Some(node) = logits_node {
            let dlogits = shape.backward(&logits, &labels, &grad);
            grads.register::<Wgpu>(node.id, dlogits);
        }
    }
}

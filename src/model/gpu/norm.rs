//! Batch normalisation on the GPU through [`norm_kernels`](super::norm_kernels), with its
//! gradient step in Burn's autodiff graph and the running statistics updated as Burn's layer
//! updates them.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::wgpu::CubeTensor;
use burn::backend::{Autodiff, Wgpu};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::kernel::into_contiguous;
use cubecl::prelude::{CubeCount, CubeDim};

use super::norm_kernels::{self, UNITS};
use super::{empty_like, on_cpu, plain, tracked};

/// `bn.forward(x)` by our kernels when `x` lives on the GPU (maps `[n, c, h, w]` or features
/// `[n, c]`), or `None` where they do not apply.
pub fn batch_norm<const D: usize>(bn: &BatchNorm, x: &Tensor<D>) -> Option<Tensor<D>> {
    let dims = x.dims();
    if on_cpu(x) || !(D == 2 || D == 4) || x.dtype() != DType::F32 {
        return None;
    }
    let (batch, channels) = (dims[0], dims[1]);
    let plane = dims[2..].iter().product::<usize>();
    let layer = Layer {
        channels,
        plane,
        epsilon: bn.epsilon as f32,
    };
    if channels == 0 || batch == 0 || bn.gamma.dims() != [channels] {
        return None;
    }
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    if !training {
        let params = [
            bn.gamma.val(),
            bn.beta.val(),
            bn.running_mean.value(),
            bn.running_var.value(),
        ];
        let params = params.map(|t| values(&t));
        let [gamma, beta, mean, var] = params;
        let y = layer.inference(batch, &plain(x)?, [&gamma?, &beta?, &mean?, &var?]);
        return Some(Tensor::from_primitive::<Wgpu>(y));
    }
    let (x, gamma, beta) = (
        tracked(x)?,
        tracked(&bn.gamma.val())?,
        tracked(&bn.beta.val())?,
    );
    let [running_mean, running_var] =
        [bn.running_mean.value_sync(), bn.running_var.value_sync()].map(|t| values(&t));
    let (running_mean, running_var) = (running_mean?, running_var?);
    let (x, x_node) = x.into_parts();
    let (gamma, gamma_node) = gamma.into_parts();
    let (beta, beta_node) = beta.into_parts();
    let [x, gamma, beta] = [x, gamma, beta].map(into_contiguous);
    let momentum = bn.momentum as f32;
    let (y, stats) = layer.train(
        batch,
        &x,
        &gamma,
        &beta,
        &running_mean,
        &running_var,
        momentum,
    );
    let running = |row: usize| {
        let tensor: Tensor<2> = Tensor::from_primitive::<Wgpu>(stats.clone());
        let row = tensor
            .slice([row..row + 1, 0..channels])
            .reshape([channels]);
        row.to_device(&bn.running_mean.value().device())
    };
    bn.running_mean.update(running(2));
    bn.running_var.update(running(3));
    let output = match NormStep
        .prepare::<NoCheckpointing>([x_node, gamma_node, beta_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            NormState {
                x,
                gamma,
                stats,
                layer,
                batch,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Autodiff<Wgpu>>(output))
}

/// The GPU values behind `tensor`, on the plain or the autodiff device, contiguous.
fn values<const D: usize>(tensor: &Tensor<D>) -> Option<CubeTensor> {
    plain(tensor).or_else(|| Some(into_contiguous(tracked(tensor)?.into_primitive())))
}

#[derive(Clone, Copy, Debug)]
struct Layer {
    channels: usize,
    plane: usize,
    epsilon: f32,
}

impl Layer {
    /// The normalised output and `[mean; rstd; next running mean; next running variance]`.
    #[allow(clippy::too_many_arguments)]
    fn train(
        &self,
        batch: usize,
        x: &CubeTensor,
        gamma: &CubeTensor,
        beta: &CubeTensor,
        running_mean: &CubeTensor,
        running_var: &CubeTensor,
        momentum: f32,
    ) -> (CubeTensor, CubeTensor) {
        let y = empty_like(x, x.meta.shape().clone());
        let stats = empty_like(x, vec![4, self.channels]);
        // SAFETY: the kernel reads `batch · plane` values of each of its `channels` channels
        // and one value per channel of each parameter, the sizes of the buffers bound here.
        unsafe {
            norm_kernels::batch_norm_train::launch_unchecked(
                &x.client,
                self.per_channel(),
                CubeDim::new_1d(UNITS as u32),
                x.clone().into_buffer_arg(),
                gamma.clone().into_buffer_arg(),
                beta.clone().into_buffer_arg(),
                running_mean.clone().into_buffer_arg(),
                running_var.clone().into_buffer_arg(),
                y.clone().into_buffer_arg(),
                stats.clone().into_buffer_arg(),
                batch,
                self.epsilon,
                momentum,
                self.channels,
                self.plane,
            );
        }
        (y, stats)
    }

    fn backward(
        &self,
        batch: usize,
        grad: &CubeTensor,
        x: &CubeTensor,
        gamma: &CubeTensor,
        stats: &CubeTensor,
    ) -> (CubeTensor, CubeTensor) {
        let dx = empty_like(x, x.meta.shape().clone());
        let param_grads = empty_like(x, vec![2, self.channels]);
        // SAFETY: as in `train`.
        unsafe {
            norm_kernels::batch_norm_backward::launch_unchecked(
                &x.client,
                self.per_channel(),
                CubeDim::new_1d(UNITS as u32),
                grad.clone().into_buffer_arg(),
                x.clone().into_buffer_arg(),
                gamma.clone().into_buffer_arg(),
                stats.clone().into_buffer_arg(),
                dx.clone().into_buffer_arg(),
                param_grads.clone().into_buffer_arg(),
                batch,
                self.channels,
                self.plane,
            );
        }
        (dx, param_grads)
    }

    fn inference(&self, batch: usize, x: &CubeTensor, params: [&CubeTensor; 4]) -> CubeTensor {
        let y = empty_like(x, x.meta.shape().clone());
        let len = batch * self.channels * self.plane;
        let [gamma, beta, mean, var] = params;
        // SAFETY: one invocation per value of `x` and `y` (`len`), one parameter per channel.
        unsafe {
            norm_kernels::batch_norm_inference::launch_unchecked(
                &x.client,
                CubeCount::Static(len.div_ceil(256) as u32, 1, 1),
                CubeDim::new_1d(256),
                x.clone().into_buffer_arg(),
                gamma.clone().into_buffer_arg(),
                beta.clone().into_buffer_arg(),
                mean.clone().into_buffer_arg(),
                var.clone().into_buffer_arg(),
                y.clone().into_buffer_arg(),
                len,
                self.epsilon,
                self.channels,
                self.plane,
            );
        }
        y
    }

    fn per_channel(&self) -> CubeCount {
        CubeCount::Static(self.channels as u32, 1, 1)
    }
}

#[derive(Debug)]
struct NormStep;

#[derive(Clone, Debug)]
struct NormState {
    x: CubeTensor,
    gamma: CubeTensor,
    stats: CubeTensor,
    layer: Layer,
    batch: usize,
}

impl Backward<Wgpu, 3> for NormStep {
    type State = NormState;

    fn backward(self, ops: Ops<NormState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, gamma_node, beta_node] = ops.parents;
        let grad = into_contiguous(grads.consume::<Wgpu>(&ops.node));
        let NormState {
            x,
            gamma,
            stats,
            layer,
            batch,
        } = ops.state;
        let (dx, param_grads) = layer.backward(batch, &grad, &x, &gamma, &stats);
        let row = |row: usize| {
            let grads: Tensor<2> = Tensor::from_primitive::<Wgpu>(param_grads.clone());
            let row = grads.slice([row..row + 1, 0..layer.channels]);
            row.reshape([layer.channels])
                .try_into_primitive::<Wgpu>()
                .unwrap()
        };
        if let Some(node) = x_node {
            grads.register::<Wgpu>(node.id, dx);
        }
        if let Some(node) = gamma_node {
            grads.register::<Wgpu>(node.id, row(0));
        }
        if let Some(node) = beta_node {
            grads.register::<Wgpu>(node.id, row(1));
        }
    }
}

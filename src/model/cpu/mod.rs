//! Convolution and max pooling on Burn's CPU backend (flex) through our own kernels, with their
//! gradient steps registered in Burn's autodiff graph.
//!
//! Why: flex computes a convolution's input gradient as a transposed convolution (GEMM plus a
//! per-pixel scatter) and its weight gradient as a convolution with a 28x28 "kernel", and pools
//! through a generic scalar loop; on the notebooks' networks those took most of a CPU training
//! step. Here the three products of a convolution are plain GEMMs on cache-sized tiles (`conv`)
//! and 2x2 pooling keeps its winners for a one-pass backward (`pool`). Every other device
//! (WebGPU, Vulkan), and any layer the kernels do not cover (groups, dilation, no bias, other
//! pool sizes, f16 weights), uses Burn's own operation: results do not depend on which path ran
//! beyond float rounding.

mod conv;
mod pool;
#[cfg(test)]
mod tests;
mod workers;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, BackendTypes, Flex};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::DType;

pub(super) use conv::ConvGeometry;
use conv::Wanted;
use pool::PoolGeometry;

type TrackedTensor = <Autodiff<Flex> as BackendTypes>::FloatTensorPrimitive;

/// `conv.forward(x)`, computed by the CPU kernels when `x` lives on the flex backend.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match cpu_conv2d(conv, &x) {
        Some(output) => output,
        None => conv.forward(x),
    }
}

/// `pool.forward(x)`, computed by the CPU kernels when `x` lives on the flex backend.
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    match cpu_max_pool2d(pool, &x) {
        Some(output) => output,
        None => pool.forward(x),
    }
}

/// The kernels' result, or `None` where they do not apply (another device, an unsupported layer).
fn cpu_conv2d(conv: &Conv2d, x: &Tensor<4>) -> Option<Tensor<4>> {
    let geometry = conv_geometry(conv, x)?;
    let (weight, bias) = (conv.weight.val(), conv.bias.as_ref()?.val());
    if [x.dtype(), weight.dtype(), bias.dtype()] != [DType::F32; 3] {
        return None;
    }
    if let (Some(x), Some(weight), Some(bias)) = (tracked(x), tracked(&weight), tracked(&bias)) {
        let output = conv_tracked(geometry, x, weight, bias);
        return Some(Tensor::from_primitive::<Autodiff<Flex>>(output));
    }
    let (x, weight, bias) = (plain(x)?, plain(&weight)?, plain(&bias)?);
    let output = conv::forward(&geometry, values(&x), values(&weight), Some(values(&bias)));
    Some(Tensor::from_primitive::<Flex>(conv_output(
        &geometry, output,
    )))
}

fn cpu_max_pool2d(pool: &MaxPool2d, x: &Tensor<4>) -> Option<Tensor<4>> {
    let supported = pool.kernel_size == [2, 2]
        && pool.stride == [2, 2]
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && matches!(pool.padding, PaddingConfig2d::Valid);
    if !supported || x.dtype() != DType::F32 {
        return None;
    }
    let [batch, channels, in_height, in_width] = x.dims();
    let geometry = PoolGeometry {
        batch,
        channels,
        in_height,
        in_width,
    };
    if let Some(x) = tracked(x) {
        let output = pool_tracked(geometry, x);
        return Some(Tensor::from_primitive::<Autodiff<Flex>>(output));
    }
    let pooled = pool::forward(&geometry, values(&plain(x)?));
    let output = flex(pooled.values, geometry.output_shape());
    Some(Tensor::from_primitive::<Flex>(output))
}

/// The autodiff CPU tensor behind `tensor` (made contiguous by the caller), or `None` elsewhere.
fn tracked<const D: usize>(tensor: &Tensor<D>) -> Option<TrackedTensor> {
    tensor.clone().try_into_primitive::<Autodiff<Flex>>().ok()
}

/// The plain CPU tensor behind `tensor`, contiguous, or `None` on any other device.
fn plain<const D: usize>(tensor: &Tensor<D>) -> Option<FlexTensor> {
    let tensor = tensor.clone().try_into_primitive::<Flex>().ok()?;
    Some(tensor.to_contiguous())
}

fn conv_tracked(
    geometry: ConvGeometry,
    x: TrackedTensor,
    weight: TrackedTensor,
    bias: TrackedTensor,
) -> TrackedTensor {
    let (x, x_node) = x.into_parts();
    let (weight, weight_node) = weight.into_parts();
    let (bias, bias_node) = bias.into_parts();
    let [x, weight, bias] = [x, weight, bias].map(|t| t.to_contiguous());
    let output = conv::forward(&geometry, values(&x), values(&weight), Some(values(&bias)));
    let output = conv_output(&geometry, output);
    match ConvStep
        .prepare::<NoCheckpointing>([x_node, weight_node, bias_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            ConvState {
                input: x,
                weight,
                geometry,
            },
            output,
        ),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

#[derive(Debug)]
struct ConvStep;

#[derive(Clone, Debug)]
struct ConvState {
    input: FlexTensor,
    weight: FlexTensor,
    geometry: ConvGeometry,
}

impl Backward<Flex, 3> for ConvStep {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input_node, weight_node, bias_node] = ops.parents;
        let grad_output = grads.consume::<Flex>(&ops.node).to_contiguous();
        let ConvState {
            input,
            weight,
            geometry: geo,
        } = ops.state;
        let wanted = Wanted {
            input: input_node.is_some(),
            weight: weight_node.is_some(),
            bias: bias_node.is_some(),
        };
        let gradients = conv::backward(
            &geo,
            values(&input),
            values(&weight),
            values(&grad_output),
            wanted,
        );
        let [kernel_h, kernel_w] = geo.kernel;
        let parts = [
            (
                input_node,
                gradients.input,
                vec![geo.batch, geo.in_channels, geo.in_height, geo.in_width],
            ),
            (
                weight_node,
                gradients.weight,
                vec![geo.out_channels, geo.in_channels, kernel_h, kernel_w],
            ),
            (bias_node, gradients.bias, vec![geo.out_channels]),
        ];
        for (node, gradient, shape) in parts {
            if let (Some(node), Some(gradient)) = (node, gradient) {
                grads.register::<Flex>(node.id, flex(gradient, shape));
            }
        }
    }
}

fn pool_tracked(geometry: PoolGeometry, x: TrackedTensor) -> TrackedTensor {
    let (x, x_node) = x.into_parts();
    let pooled = pool::forward(&geometry, values(&x.to_contiguous()));
    let output = flex(pooled.values, geometry.output_shape());
    match PoolStep
        .prepare::<NoCheckpointing>([x_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            PoolState {
                geometry,
                winners: pooled.winners,
            },
            output,
        ),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

#[derive(Debug)]
struct PoolStep;

#[derive(Clone, Debug)]
struct PoolState {
    geometry: PoolGeometry,
    winners: Vec<u8>,
}

impl Backward<Flex, 1> for PoolStep {
    type State = PoolState;

    fn backward(self, ops: Ops<PoolState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input_node] = ops.parents;
        let grad_output = grads.consume::<Flex>(&ops.node).to_contiguous();
        if let Some(node) = input_node {
            let state = ops.state;
            let gradient = pool::backward(&state.geometry, &state.winners, values(&grad_output));
            grads.register::<Flex>(node.id, flex(gradient, state.geometry.input_shape()));
        }
    }
}

/// The layer's sizes for this input, or `None` where the kernels do not apply.
pub(super) fn conv_geometry(conv: &Conv2d, x: &Tensor<4>) -> Option<ConvGeometry> {
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return None;
    }
    let [batch, in_channels, in_height, in_width] = x.dims();
    let [out_channels, weight_in, kernel_h, kernel_w] = conv.weight.dims();
    if weight_in != in_channels || conv.stride.contains(&0) {
        return None;
    }
    let kernel = [kernel_h, kernel_w];
    let input = [in_height, in_width];
    let pads: [(usize, usize); 2] = match &conv.padding {
        PaddingConfig2d::Valid => [(0, 0); 2],
        PaddingConfig2d::Same => {
            [0, 1].map(|axis| same_padding(kernel[axis], conv.stride[axis], input[axis]))
        }
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(*top, *bottom), (*left, *right)],
    };
    let out = |axis: usize| {
        let padded = input[axis] + pads[axis].0 + pads[axis].1;
        padded
            .checked_sub(kernel[axis])
            .map(|room| room / conv.stride[axis] + 1)
    };
    Some(ConvGeometry {
        batch,
        in_channels,
        in_height,
        in_width,
        out_channels,
        kernel,
        stride: conv.stride,
        pad_begin: [pads[0].0, pads[1].0],
        out_height: out(0)?,
        out_width: out(1)?,
    })
}

/// Burn's (and TensorFlow's) "same" padding: the output is ceil(size / stride), any odd
/// padding pixel going to the far end.
fn same_padding(kernel: usize, stride: usize, size: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = (out.saturating_sub(1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

fn values(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("operands are contiguous f32 (checked before the call)")
}

fn flex(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn conv_output(geo: &ConvGeometry, values: Vec<f32>) -> FlexTensor {
    flex(
        values,
        [geo.batch, geo.out_channels, geo.out_height, geo.out_width],
    )
}

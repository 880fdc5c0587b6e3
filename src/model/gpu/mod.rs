//! Convolution (with its ReLU) on the GPU through our own CubeCL kernels, with the gradient step
//! registered in Burn's autodiff graph: the same code runs as WGSL on WebGPU in the browser and
//! as SPIR-V on Vulkan natively.
//!
//! Why: without autotune, Burn's wgpu backend runs every convolution as its direct kernel, the
//! weight gradient as a direct convolution whose "kernel" is the whole feature map (one thread
//! per weight looping over every pixel of the batch), permutes NCHW to NHWC and back around each
//! layer, and launches the bias, ReLU and their gradients separately. Here the forward pass is
//! one implicit GEMM with bias and ReLU fused, the backward pass one GEMM for the input gradient
//! and a split GEMM plus a sum for the weight and bias gradients together. Any layer the kernels
//! do not cover (groups, dilation, no bias, f16) uses Burn's operation: results do not depend on
//! which path ran beyond float rounding.

mod batch;
mod batch_kernels;
mod conv_kernels;
mod dropout;
mod dropout_kernels;
mod loss;
mod loss_kernels;
mod norm;
mod norm_kernels;
pub(crate) mod optim;
mod optim_kernels;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::wgpu::CubeTensor;
use burn::backend::{Autodiff, BackendTypes, Wgpu};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use cubecl::prelude::{CubeCount, CubeDim};

use super::cpu::{ConvGeometry, conv_geometry};
pub use batch::DeviceImages;
use conv_kernels::{ConvShape, UNITS};
pub use dropout::{dropout, seed_dropout};
pub use loss::cross_entropy_and_correct;
pub use norm::batch_norm;

type TrackedTensor = <Autodiff<Wgpu> as BackendTypes>::FloatTensorPrimitive;

/// Output pixels per split of the weight gradient's depth: enough work per cube to hide the
/// partial sums' cost, enough splits to fill the GPU when the layer has few weights.
const PIXELS_PER_SPLIT: usize = 2048;

/// `relu(conv.forward(x))` (or without the ReLU) by our kernels when `x` lives on the GPU, or
/// `None` where they do not apply (another device, an unsupported layer).
pub fn conv2d(conv: &Conv2d, x: &Tensor<4>, relu: bool) -> Option<Tensor<4>> {
    if on_cpu(x) {
        return None;
    }
    let geometry = conv_geometry(conv, x)?;
    let (weight, bias) = (conv.weight.val(), conv.bias.as_ref()?.val());
    if [x.dtype(), weight.dtype(), bias.dtype()] != [DType::F32; 3] {
        return None;
    }
    let shape = conv_shape(&geometry, relu);
    let batch = geometry.batch;
    if let (Some(x), Some(weight), Some(bias)) = (tracked(x), tracked(&weight), tracked(&bias)) {
        let output = conv_tracked(shape, batch, x, weight, bias);
        return Some(Tensor::from_primitive::<Autodiff<Wgpu>>(output));
    }
    let (x, weight, bias) = (plain(x)?, plain(&weight)?, plain(&bias)?);
    let output = forward(shape, batch, &x, &weight, &bias);
    Some(Tensor::from_primitive::<Wgpu>(output))
}

fn conv_shape(g: &ConvGeometry, relu: bool) -> ConvShape {
    ConvShape {
        in_channels: g.in_channels,
        in_height: g.in_height,
        in_width: g.in_width,
        out_channels: g.out_channels,
        kernel_h: g.kernel[0],
        kernel_w: g.kernel[1],
        stride_h: g.stride[0],
        stride_w: g.stride[1],
        pad_top: g.pad_begin[0],
        pad_left: g.pad_begin[1],
        out_height: g.out_height,
        out_width: g.out_width,
        relu,
    }
}

/// Whether `tensor` lives on the CPU backend, checked before anything else so that the CPU path
/// makes no failed conversions (each with its error message) per layer and step.
fn on_cpu<const D: usize>(tensor: &Tensor<D>) -> bool {
    on_cpu_device(&tensor.device())
}

fn on_cpu_device(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// The autodiff GPU tensor behind `tensor`, or `None` elsewhere.
fn tracked<const D: usize>(tensor: &Tensor<D>) -> Option<TrackedTensor> {
    tensor.clone().try_into_primitive::<Autodiff<Wgpu>>().ok()
}

/// The plain GPU tensor behind `tensor`, contiguous, or `None` on any other device.
fn plain<const D: usize>(tensor: &Tensor<D>) -> Option<CubeTensor> {
    let tensor = tensor.clone().try_into_primitive::<Wgpu>().ok()?;
    Some(into_contiguous(tensor))
}

fn empty_like(reference: &CubeTensor, shape: impl Into<burn::tensor::Shape>) -> CubeTensor {
    empty_device_contiguous_dtype(
        reference.client.clone(),
        reference.device.clone(),
        shape.into(),
        DType::F32,
    )
}

/// Whether the GPU is a software rasteriser (lavapipe, SwiftShader), set when it is opened.
static SOFTWARE_GPU: AtomicBool = AtomicBool::new(false);

/// Tell the kernels whether the GPU is emulated on the CPU, which wants other block sizes.
pub fn set_software_gpu(software: bool) {
    SOFTWARE_GPU.store(software, Ordering::Relaxed);
}

/// Outputs per invocation: `per_unit` pixels (or weights) by `block` channels.
#[derive(Clone, Copy, Debug)]
struct Blocking {
    per_unit: usize,
    block: usize,
}

impl Blocking {
    /// A software GPU runs invocations as SIMD lanes of a CPU core, where every operand loaded
    /// costs a gather: the bigger the register block, the fewer loads per multiply-add, until
    /// the shaders take too long to compile (lavapipe, digit-lab, `bench --batches 15`: 4x8
    /// 43 img/s, 8x8 51, 8x16 57 with 61 s from start to end, 16x16 54 with 109 s). A hardware
    /// GPU needs its registers for occupancy and many more cubes to fill its cores: 4x8 (32
    /// accumulators), not yet measured on one.
    fn get() -> Self {
        match SOFTWARE_GPU.load(Ordering::Relaxed) {
            true => Blocking {
                per_unit: 8,
                block: 16,
            },
            false => Blocking {
                per_unit: 4,
                block: 8,
            },
        }
    }

    /// Cubes for `items` (pixels or weights) by `channels`, times `splits`.
    fn tiles(self, items: usize, channels: usize, splits: usize) -> CubeCount {
        let count = |n: usize| u32::try_from(n).expect("cube counts fit in u32");
        CubeCount::Static(
            count(items.div_ceil(UNITS * self.per_unit)),
            count(channels.div_ceil(self.block)),
            count(splits),
        )
    }
}

fn units() -> CubeDim {
    CubeDim::new_1d(UNITS as u32)
}

fn forward(
    s: ConvShape,
    batch: usize,
    x: &CubeTensor,
    weight: &CubeTensor,
    bias: &CubeTensor,
) -> CubeTensor {
    let b = Blocking::get();
    let output = empty_like(x, vec![batch, s.out_channels, s.out_height, s.out_width]);
    let rows = batch * s.out_height * s.out_width;
    // SAFETY: the kernel guards every read and write by the sizes it is given, which are
    // those of the buffers bound here.
    unsafe {
        conv_kernels::conv_forward::launch_unchecked(
            &x.client,
            b.tiles(rows, s.out_channels, 1),
            units(),
            x.clone().into_buffer_arg(),
            weight.clone().into_buffer_arg(),
            bias.clone().into_buffer_arg(),
            output.clone().into_buffer_arg(),
            rows,
            s,
            b.per_unit,
            b.block,
        );
    }
    output
}

fn input_grad(
    s: ConvShape,
    batch: usize,
    grad: &CubeTensor,
    output: &CubeTensor,
    weight: &CubeTensor,
) -> CubeTensor {
    let b = Blocking::get();
    let dx = empty_like(grad, vec![batch, s.in_channels, s.in_height, s.in_width]);
    // The largest parity class of the input's pixels (see the kernel).
    let class_pixels = batch * s.in_height.div_ceil(s.stride_h) * s.in_width.div_ceil(s.stride_w);
    // SAFETY: the kernel guards every read and write by the sizes it is given, which are
    // those of the buffers bound here.
    unsafe {
        conv_kernels::conv_input_grad::launch_unchecked(
            &grad.client,
            b.tiles(class_pixels, s.in_channels, s.stride_h * s.stride_w),
            units(),
            grad.clone().into_buffer_arg(),
            output.clone().into_buffer_arg(),
            weight.clone().into_buffer_arg(),
            dx.clone().into_buffer_arg(),
            batch,
            s,
            b.per_unit,
            b.block,
        );
    }
    dx
}

/// The weight gradient `[oc, ic, kh, kw]` and the bias gradient `[oc]`.
fn weight_and_bias_grad(
    s: ConvShape,
    batch: usize,
    grad: &CubeTensor,
    output: &CubeTensor,
    x: &CubeTensor,
) -> (CubeTensor, CubeTensor) {
    let weights = s.in_channels * s.kernel_h * s.kernel_w;
    let depth = batch * s.out_height * s.out_width;
    let splits = depth.div_ceil(PIXELS_PER_SPLIT).max(1);
    let chunk = depth.div_ceil(splits).next_multiple_of(16);
    let splits = depth.div_ceil(chunk).max(1);
    let b = Blocking::get();
    let partial = empty_like(grad, vec![splits, weights + 1, s.out_channels]);
    // SAFETY: the kernel guards every read and write by the sizes it is given, which are
    // those of the buffers bound here.
    unsafe {
        conv_kernels::conv_weight_grad_split::launch_unchecked(
            &grad.client,
            b.tiles(weights + 1, s.out_channels, splits),
            units(),
            grad.clone().into_buffer_arg(),
            output.clone().into_buffer_arg(),
            x.clone().into_buffer_arg(),
            partial.clone().into_buffer_arg(),
            depth,
            chunk,
            s,
            b.per_unit,
            b.block,
        );
    }
    let dw = empty_like(
        grad,
        vec![s.out_channels, s.in_channels, s.kernel_h, s.kernel_w],
    );
    let db = empty_like(grad, vec![s.out_channels]);
    let values = s.out_channels * (weights + 1);
    // SAFETY: the kernel guards every read and write by the sizes it is given, which are
    // those of the buffers bound here.
    unsafe {
        conv_kernels::weight_grad_sum::launch_unchecked(
            &grad.client,
            CubeCount::Static(values.div_ceil(256) as u32, 1, 1),
            CubeDim::new_1d(256),
            partial.into_buffer_arg(),
            dw.clone().into_buffer_arg(),
            db.clone().into_buffer_arg(),
            splits,
            s,
        );
    }
    (dw, db)
}

fn conv_tracked(
    shape: ConvShape,
    batch: usize,
    x: TrackedTensor,
    weight: TrackedTensor,
    bias: TrackedTensor,
) -> TrackedTensor {
    let (x, x_node) = x.into_parts();
    let (weight, weight_node) = weight.into_parts();
    let (bias, bias_node) = bias.into_parts();
    let [x, weight, bias] = [x, weight, bias].map(into_contiguous);
    let output = forward(shape, batch, &x, &weight, &bias);
    match ConvStep
        .prepare::<NoCheckpointing>([x_node, weight_node, bias_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            ConvState {
                input: x,
                weight,
                output: output.clone(),
                shape,
                batch,
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
    input: CubeTensor,
    weight: CubeTensor,
    /// Read by the backward pass only through the fused ReLU's mask.
    output: CubeTensor,
    shape: ConvShape,
    batch: usize,
}

impl Backward<Wgpu, 3> for ConvStep {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input_node, weight_node, bias_node] = ops.parents;
        let grad = into_contiguous(grads.consume::<Wgpu>(&ops.node));
        let ConvState {
            input,
            weight,
            output,
            shape,
            batch,
        } = ops.state;
        if let Some(node) = input_node {
            let dx = input_grad(shape, batch, &grad, &output, &weight);
            grads.register::<Wgpu>(node.id, dx);
        }
        if weight_node.is_some() || bias_node.is_some() {
            let (dw, db) = weight_and_bias_grad(shape, batch, &grad, &output, &input);
            if let Some(node) = weight_node {
                grads.register::<Wgpu>(node.id, dw);
            }
            if let Some(node) = bias_node {
                grads.register::<Wgpu>(node.id, db);
            }
        }
    }
}

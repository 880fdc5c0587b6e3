//! The kernels against a direct six-loop convolution, and the Burn layer against Burn's own
//! convolution (values and gradients), on the padding/stride cases the presets use.

use super::conv::{self, ConvGeometry, Wanted};
use super::*;
use crate::rng::Rng;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::Distribution;

fn random(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len).map(|_| rng.uniform(-1.0, 1.0) as f32).collect()
}

/// Input index along one axis for output `o` and kernel offset `k`, if not in the padding.
fn source(o: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    (o * stride + k).checked_sub(pad).filter(|&i| i < size)
}

/// Calls `f(output index, input index, weight index)` for every multiply of the convolution.
fn each_product(g: &ConvGeometry, mut f: impl FnMut(usize, usize, usize)) {
    let [kh_n, kw_n] = g.kernel;
    for n in 0..g.batch {
        for co in 0..g.out_channels {
            for oh in 0..g.out_height {
                for ow in 0..g.out_width {
                    let out = ((n * g.out_channels + co) * g.out_height + oh) * g.out_width + ow;
                    for ci in 0..g.in_channels {
                        for kh in 0..kh_n {
                            for kw in 0..kw_n {
                                let ih = source(oh, kh, g.stride[0], g.pad_begin[0], g.in_height);
                                let iw = source(ow, kw, g.stride[1], g.pad_begin[1], g.in_width);
                                if let (Some(ih), Some(iw)) = (ih, iw) {
                                    let input = ((n * g.in_channels + ci) * g.in_height + ih)
                                        * g.in_width
                                        + iw;
                                    let weight =
                                        ((co * g.in_channels + ci) * kh_n + kh) * kw_n + kw;
                                    f(out, input, weight);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn assert_close(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{name}[{i}]: got {g}, want {w}"
        );
    }
}

fn geometry(
    batch: usize,
    channels: [usize; 2],
    size: usize,
    kernel: usize,
    stride: usize,
    pads: [usize; 2],
) -> ConvGeometry {
    let out = (size + pads[0] + pads[1] - kernel) / stride + 1;
    ConvGeometry {
        batch,
        in_channels: channels[0],
        in_height: size,
        in_width: size,
        out_channels: channels[1],
        kernel: [kernel; 2],
        stride: [stride; 2],
        pad_begin: [pads[0]; 2],
        out_height: out,
        out_width: out,
    }
}

#[test]
fn kernels_match_a_direct_convolution_and_its_gradients() {
    let cases = [
        // 5x5 "same" (the Kaggle classic's first layers), odd batch split over the workers.
        geometry(3, [2, 4], 9, 5, 1, [2, 2]),
        // 3x3 "valid".
        geometry(5, [3, 2], 8, 3, 1, [0, 0]),
        // 5x5 stride 2 "same" on an even size: one padding row before, two after.
        geometry(4, [3, 5], 14, 5, 2, [1, 2]),
        // 2x2 "same": the padding pixel goes after.
        geometry(2, [2, 3], 7, 2, 1, [0, 1]),
        // 1x1 pointwise, and a single image.
        geometry(1, [4, 3], 6, 1, 1, [0, 0]),
        // Wide enough that an image is cut into several column tiles (the last one shorter).
        geometry(2, [32, 3], 28, 5, 1, [2, 2]),
        geometry(2, [128, 3], 14, 5, 2, [1, 2]),
    ];
    let tiled = cases
        .iter()
        .filter(|g| g.tile_rows() < g.out_height)
        .count();
    assert_eq!(tiled, 2, "two cases span several column tiles");
    let mut rng = Rng::new(7);
    for geo in cases {
        let input = random(geo.input_len(), &mut rng);
        let weight = random(geo.weight_len(), &mut rng);
        let bias = random(geo.out_channels, &mut rng);
        let grad_output = random(geo.output_len(), &mut rng);

        let mut want_out: Vec<f32> = (0..geo.output_len())
            .map(|i| bias[(i / (geo.out_height * geo.out_width)) % geo.out_channels])
            .collect();
        let mut want_dx = vec![0f32; geo.input_len()];
        let mut want_dw = vec![0f32; geo.weight_len()];
        each_product(&geo, |o, i, w| {
            want_out[o] += input[i] * weight[w];
            want_dx[i] += weight[w] * grad_output[o];
            want_dw[w] += input[i] * grad_output[o];
        });
        let mut want_db = vec![0f32; geo.out_channels];
        for (o, g) in grad_output.iter().enumerate() {
            want_db[(o / (geo.out_height * geo.out_width)) % geo.out_channels] += g;
        }

        let case = format!("{geo:?}");
        let out = conv::forward(&geo, &input, &weight, Some(&bias));
        assert_close(&format!("output {case}"), &out, &want_out);
        let all = Wanted {
            input: true,
            weight: true,
            bias: true,
        };
        let grads = conv::backward(&geo, &input, &weight, &grad_output, all);
        assert_close(
            &format!("input grad {case}"),
            &grads.input.unwrap(),
            &want_dx,
        );
        assert_close(
            &format!("weight grad {case}"),
            &grads.weight.unwrap(),
            &want_dw,
        );
        assert_close(&format!("bias grad {case}"), &grads.bias.unwrap(), &want_db);

        let weight_only = Wanted {
            input: false,
            weight: true,
            bias: false,
        };
        let grads = conv::backward(&geo, &input, &weight, &grad_output, weight_only);
        assert!(grads.input.is_none() && grads.bias.is_none());
        assert_close(
            &format!("weight-only grad {case}"),
            &grads.weight.unwrap(),
            &want_dw,
        );
    }
}

fn assert_tensors_close(name: &str, got: Tensor<4>, want: Tensor<4>) {
    assert_eq!(got.dims(), want.dims(), "{name}: shape");
    let got = got.into_data().try_into_vec::<f32>().unwrap();
    let want = want.into_data().try_into_vec::<f32>().unwrap();
    assert_close(name, &got, &want);
}

/// The layer gives Burn's values and gradients, on the plain and the autodiff CPU device.
#[test]
fn layer_matches_burns_convolution_forward_and_backward() {
    let device = Device::flex();
    let training = device.clone().autodiff();
    let layers = [
        Conv2dConfig::new([3, 4], [5, 5]).with_padding(PaddingConfig2d::Same),
        Conv2dConfig::new([3, 4], [5, 5])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Same),
        Conv2dConfig::new([3, 4], [3, 3]),
        Conv2dConfig::new([3, 4], [2, 2]).with_padding(PaddingConfig2d::Same),
    ];
    for config in layers {
        let case = format!("{config:?}");
        let conv = config.init(&device);
        let x = Tensor::<4>::random([5, 3, 14, 14], Distribution::Default, &device);
        let ours = cpu_conv2d(&conv, &x).expect("the CPU kernels handle this layer");
        assert_tensors_close(&format!("plain {case}"), ours, conv.forward(x.clone()));

        let conv = config.init(&training);
        let x = x.autodiff().require_grad();
        let ours = cpu_conv2d(&conv, &x).expect("the CPU kernels handle this tracked layer");
        let theirs = conv.forward(x.clone());
        let upstream = Tensor::<4>::random(ours.dims(), Distribution::Default, &training);
        let grads_ours = (ours.clone() * upstream.clone()).sum().backward();
        let grads_theirs = (theirs.clone() * upstream).sum().backward();
        assert_tensors_close(&format!("tracked {case}"), ours, theirs);
        let grad = |t: &Tensor<4>, g| t.grad(g).expect("a gradient");
        assert_tensors_close(
            &format!("input grad {case}"),
            grad(&x, &grads_ours),
            grad(&x, &grads_theirs),
        );
        let weight = conv.weight.val();
        assert_tensors_close(
            &format!("weight grad {case}"),
            grad(&weight, &grads_ours),
            grad(&weight, &grads_theirs),
        );
        let bias = conv.bias.as_ref().unwrap().val();
        let bias_grads =
            [&grads_ours, &grads_theirs].map(|g| bias.grad(g).unwrap().reshape([1, 4, 1, 1]));
        let [ours, theirs] = bias_grads;
        assert_tensors_close(&format!("bias grad {case}"), ours, theirs);
    }
}

/// Values and gradients of our 2x2 pooling against Burn's, on an even and an odd size.
#[test]
fn pooling_matches_burns_max_pool_forward_and_backward() {
    let device = Device::flex();
    let training = device.clone().autodiff();
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    for size in [8, 7] {
        let x = Tensor::<4>::random([3, 2, size, size], Distribution::Default, &device);
        let ours = cpu_max_pool2d(&pool, &x).expect("the CPU kernels handle 2x2 pooling");
        assert_tensors_close(&format!("plain {size}"), ours, pool.forward(x.clone()));

        let x = x.autodiff().require_grad();
        let ours = cpu_max_pool2d(&pool, &x).expect("the CPU kernels handle tracked pooling");
        let theirs = pool.forward(x.clone());
        assert_eq!(ours.dims(), [3, 2, size / 2, size / 2]);
        let upstream = Tensor::<4>::random(ours.dims(), Distribution::Default, &training);
        let grads_ours = (ours.clone() * upstream.clone()).sum().backward();
        let grads_theirs = (theirs.clone() * upstream).sum().backward();
        assert_tensors_close(&format!("tracked {size}"), ours, theirs);
        assert_tensors_close(
            &format!("input grad {size}"),
            x.grad(&grads_ours).unwrap(),
            x.grad(&grads_theirs).unwrap(),
        );
    }
}

/// Layers outside the kernels' reach go to Burn unchanged.
#[test]
fn unsupported_layers_fall_back_to_burn() {
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 4, 9, 9], Distribution::Default, &device);
    let no_bias = Conv2dConfig::new([4, 4], [3, 3])
        .with_bias(false)
        .init(&device);
    let grouped = Conv2dConfig::new([4, 4], [3, 3])
        .with_groups(2)
        .init(&device);
    let dilated = Conv2dConfig::new([4, 4], [3, 3])
        .with_dilation([2, 2])
        .init(&device);
    for conv in [&no_bias, &grouped, &dilated] {
        assert!(cpu_conv2d(conv, &x).is_none());
        assert_tensors_close("fallback", conv2d(conv, x.clone()), conv.forward(x.clone()));
    }
    let wide = MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init();
    assert!(cpu_max_pool2d(&wide, &x).is_none());
    let f16 = x.clone().cast(DType::F16);
    let conv = Conv2dConfig::new([4, 4], [3, 3]).init(&device);
    assert!(cpu_conv2d(&conv, &f16).is_none());
}

//! The GPU kernels against Burn's own convolution and ReLU on the same device (lavapipe here and
//! in CI), values and all three gradients, for every convolution shape the presets use, with an
//! odd batch size so partial tiles and splits are exercised.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Distribution;
use burn::tensor::activation::relu;

use super::*;
use crate::device;

fn gpu() -> Option<Device> {
    device::shared_test_gpu()
}

pub(crate) fn assert_close<const D: usize>(name: &str, got: Tensor<D>, want: Tensor<D>) {
    assert_eq!(got.dims(), want.dims(), "{name}: shape");
    let got = got.into_data().try_into_vec::<f32>().unwrap();
    let want = want.into_data().try_into_vec::<f32>().unwrap();
    let scale = want.iter().fold(1f32, |m, w| m.max(w.abs()));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * scale,
            "{name}[{i}]: got {g}, want {w} (largest value {scale})"
        );
    }
}

/// `(in_channels, size, layer)`: each convolution shape of the presets (stride 1 and 2,
/// same and valid padding, kernels 2, 3 and 5), at reduced channel counts where that changes
/// nothing but the cost.
fn layers() -> Vec<(usize, usize, Conv2dConfig)> {
    vec![
        (1, 28, Conv2dConfig::new([1, 32], [3, 3])),
        (32, 12, Conv2dConfig::new([32, 33], [3, 3])),
        (
            8,
            13,
            Conv2dConfig::new([8, 16], [5, 5])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Same),
        ),
        (
            3,
            14,
            Conv2dConfig::new([3, 40], [5, 5]).with_padding(PaddingConfig2d::Same),
        ),
        (
            5,
            9,
            Conv2dConfig::new([5, 8], [2, 2]).with_padding(PaddingConfig2d::Same),
        ),
    ]
}

#[test]
fn kernels_match_burns_convolution_and_relu_forward_and_backward() {
    let Some(device) = gpu() else { return };
    // Both block sizes, whatever the adapter (other tests may run meanwhile with either: both
    // are exact, so they do not mind).
    let software = SOFTWARE_GPU.load(Ordering::Relaxed);
    for blocking in [true, false] {
        set_software_gpu(blocking);
        for (channels, size, config) in layers() {
            check_layer(&device, channels, size, config);
        }
    }
    set_software_gpu(software);
}

/// One layer's values and gradients, with and without the fused ReLU.
fn check_layer(device: &Device, channels: usize, size: usize, config: Conv2dConfig) {
    let training = device.clone().autodiff();
    for fused_relu in [true, false] {
        let case = format!("{config:?} relu {fused_relu}");
        let batch = 3;
        let x = Tensor::<4>::random(
            [batch, channels, size, size],
            Distribution::Uniform(-1.0, 1.0),
            device,
        );
        let conv: Conv2d = config.init(device);
        let reference = |y: Tensor<4>| if fused_relu { relu(y) } else { y };
        let ours = conv2d(&conv, &x, fused_relu).expect("the GPU kernels cover this layer");
        assert_close(
            &format!("inference {case}"),
            ours,
            reference(conv.forward(x.clone())),
        );

        let conv: Conv2d = config.init(&training);
        let x = x.autodiff().require_grad();
        let ours = conv2d(&conv, &x, fused_relu).expect("the GPU kernels cover this layer");
        let theirs = reference(conv.forward(x.clone()));
        let upstream = Tensor::<4>::random(ours.dims(), Distribution::Default, &training);
        let grads_ours = (ours.clone() * upstream.clone()).sum().backward();
        let grads_theirs = (theirs.clone() * upstream).sum().backward();
        assert_close(&format!("training {case}"), ours, theirs);
        let grad = |t: &Tensor<4>, g| t.grad(g).expect("a gradient");
        assert_close(
            &format!("input grad {case}"),
            grad(&x, &grads_ours),
            grad(&x, &grads_theirs),
        );
        let weight = conv.weight.val();
        assert_close(
            &format!("weight grad {case}"),
            grad(&weight, &grads_ours),
            grad(&weight, &grads_theirs),
        );
        let bias = conv.bias.as_ref().unwrap().val();
        assert_close(
            &format!("bias grad {case}"),
            bias.grad(&grads_ours).unwrap(),
            bias.grad(&grads_theirs).unwrap(),
        );
    }
}

/// A batch big enough for several splits of the weight gradient (and several row tiles).
#[test]
fn the_split_weight_gradient_adds_up_over_a_large_batch() {
    let Some(device) = gpu() else { return };
    let training = device.autodiff();
    let config = Conv2dConfig::new([2, 4], [3, 3]);
    let conv: Conv2d = config.init(&training);
    let x = Tensor::<4>::random([9, 2, 28, 28], Distribution::Default, &training).require_grad();
    let ours = conv2d(&conv, &x, true).unwrap();
    let theirs = relu(conv.forward(x.clone()));
    let [grads_ours, grads_theirs] = [ours, theirs].map(|y| y.sum().backward());
    let weight = conv.weight.val();
    assert_close(
        "weight grad",
        weight.grad(&grads_ours).unwrap(),
        weight.grad(&grads_theirs).unwrap(),
    );
    let bias = conv.bias.as_ref().unwrap().val();
    assert_close(
        "bias grad",
        bias.grad(&grads_ours).unwrap(),
        bias.grad(&grads_theirs).unwrap(),
    );
}

#[test]
fn other_devices_and_unsupported_layers_are_left_to_burn() {
    let cpu = Device::flex();
    let conv: Conv2d = Conv2dConfig::new([2, 4], [3, 3]).init(&cpu);
    let x = Tensor::<4>::zeros([1, 2, 8, 8], &cpu);
    assert!(conv2d(&conv, &x, true).is_none(), "a CPU tensor");
    let Some(device) = gpu() else { return };
    let x = Tensor::<4>::zeros([1, 4, 8, 8], &device);
    let grouped: Conv2d = Conv2dConfig::new([4, 4], [3, 3])
        .with_groups(2)
        .init(&device);
    let dilated: Conv2d = Conv2dConfig::new([4, 4], [3, 3])
        .with_dilation([2, 2])
        .init(&device);
    let no_bias: Conv2d = Conv2dConfig::new([4, 4], [3, 3])
        .with_bias(false)
        .init(&device);
    for conv in [grouped, dilated, no_bias] {
        assert!(conv2d(&conv, &x, true).is_none());
    }
}

fn assert_close_1d(name: &str, got: Tensor<1>, want: Tensor<1>) {
    let [n] = want.dims();
    assert_close(name, got.reshape([1, n]), want.reshape([1, n]));
}

/// Training and inference batch norm against Burn's layer: outputs, the three gradients and
/// the running statistics, on maps and on dense features, for two steps in a row.
#[test]
fn batch_norm_matches_burns_layer_in_training_and_inference() {
    use burn::nn::BatchNormConfig;
    let Some(device) = gpu() else { return };
    let training = device.clone().autodiff();
    for shape in [vec![5, 6, 7, 3], vec![9, 11]] {
        let channels = shape[1];
        let config = BatchNormConfig::new(channels)
            .with_epsilon(1e-3)
            .with_momentum(0.01);
        let ours_layer = config.init(&training);
        let theirs_layer = config.init(&training);
        for step in 0..2 {
            let case = format!("{shape:?} step {step}");
            let x = Tensor::<4>::random(
                [
                    shape[0],
                    channels,
                    *shape.get(2).unwrap_or(&1),
                    *shape.get(3).unwrap_or(&1),
                ],
                Distribution::Normal(step as f64, 2.0),
                &training,
            )
            .require_grad();
            let (ours, theirs) = if shape.len() == 4 {
                let ours = batch_norm(&ours_layer, &x).expect("the GPU kernels cover this layer");
                (ours, theirs_layer.forward(x.clone()))
            } else {
                // One reshape each: a node shared by the two graphs would be consumed by the
                // first backward pass.
                let flat = || x.clone().reshape([shape[0], channels]);
                let ours = batch_norm(&ours_layer, &flat()).expect("features too");
                let theirs = theirs_layer.forward(flat());
                let back = |t: Tensor<2>| t.reshape([shape[0], channels, 1, 1]);
                (back(ours), back(theirs))
            };
            let upstream = Tensor::<4>::random(ours.dims(), Distribution::Default, &training);
            let grads_ours = (ours.clone() * upstream.clone()).sum().backward();
            let grads_theirs = (theirs.clone() * upstream).sum().backward();
            assert_close(&format!("output {case}"), ours, theirs);
            assert_close(
                &format!("input grad {case}"),
                x.grad(&grads_ours).unwrap(),
                x.grad(&grads_theirs).unwrap(),
            );
            for (name, ours, theirs) in [
                ("gamma", &ours_layer.gamma, &theirs_layer.gamma),
                ("beta", &ours_layer.beta, &theirs_layer.beta),
            ] {
                assert_close_1d(
                    &format!("{name} grad {case}"),
                    ours.val().grad(&grads_ours).unwrap(),
                    theirs.val().grad(&grads_theirs).unwrap(),
                );
            }
            assert_close_1d(
                &format!("running mean {case}"),
                ours_layer.running_mean.value(),
                theirs_layer.running_mean.value(),
            );
            assert_close_1d(
                &format!("running variance {case}"),
                ours_layer.running_var.value(),
                theirs_layer.running_var.value(),
            );
        }
        // Inference, with the running statistics the two steps left.
        let (ours_layer, theirs_layer) = (ours_layer.valid(), theirs_layer.valid());
        let x = Tensor::<2>::random([4, channels], Distribution::Default, &device);
        if shape.len() == 2 {
            let ours = batch_norm(&ours_layer, &x).expect("inference too");
            assert_close("inference", ours, theirs_layer.forward(x));
        }
    }
}

#[test]
fn batches_gathered_and_augmented_on_the_gpu_match_the_host_path() {
    use crate::augment::{AugmentConfig, augment_batch, draw_matrices};
    use crate::data::csv::{IMAGE_PIXELS, IMAGE_SIDE};
    use crate::data::dataset::Digits;
    use crate::rng::Rng;

    let Some(device) = gpu() else { return };
    let count = 23;
    // Every byte value, in an order that differs between neighbouring pixels and images.
    let pixels: Vec<u8> = (0..count * IMAGE_PIXELS)
        .map(|i| ((i * 37 + i / 97) % 256) as u8)
        .collect();
    let digits = Digits::new(pixels, Some(vec![0; count]));
    let stored = DeviceImages::upload(&digits, &device).expect("a GPU device stores the images");
    // Odd size, repeats, the first and last rows.
    let rows = [22, 0, 5, 5, 17, 1, 22];
    let strong = AugmentConfig {
        rotation_degrees: 40.0,
        zoom: 0.4,
        width_shift: 0.4,
        height_shift: 0.4,
        shear_degrees: 20.0,
    };
    for config in [AugmentConfig::NONE, AugmentConfig::default(), strong] {
        let (mut host_rng, mut gpu_rng) = (Rng::new(9), Rng::new(9));
        let want = augment_batch(digits.images_tensor(&rows, &device), &config, &mut host_rng);
        let matrices = draw_matrices(&config, &mut gpu_rng, rows.len(), IMAGE_SIDE);
        let got = stored.batch(&rows, matrices.as_deref()).unwrap();
        assert_close(&format!("{config:?}"), got, want);
        // Both paths leave the generator in the same state for the next batch.
        assert_eq!(host_rng.next_u64(), gpu_rng.next_u64());
    }
    assert!(stored.batch(&[count], None).is_none(), "a row past the set");
    assert!(
        stored.batch(&rows, Some(&[0.0; 6])).is_none(),
        "too few matrices"
    );
    assert!(DeviceImages::upload(&digits, &Device::flex()).is_none());
}

#[test]
fn the_fused_loss_matches_burns_cross_entropy_accuracy_and_gradient() {
    use burn::nn::loss::CrossEntropyLossConfig;

    let Some(device) = gpu() else { return };
    let training = device.clone().autodiff();
    // More rows than the cube has invocations, so some invocations sum several rows.
    let rows: usize = 301;
    let labels: Vec<i32> = (0..rows).map(|r| ((r * 7 + r / 5) % 10) as i32).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [rows]), &training);
    for smoothing in [0.0f32, 0.1] {
        let logits = Tensor::<2>::random([rows, 10], Distribution::Normal(0.0, 3.0), &device);
        let logits = logits.autodiff().require_grad();
        let (ours, correct) = cross_entropy_and_correct(&logits, &labels, smoothing)
            .expect("the GPU loss covers tracked logits");
        let theirs = CrossEntropyLossConfig::new()
            .with_smoothing((smoothing > 0.0).then_some(smoothing))
            .init(&training)
            .forward(logits.clone(), labels.clone());
        let want_correct = logits
            .clone()
            .without_autodiff()
            .argmax(1)
            .squeeze_dim::<1>(1)
            .equal(labels.clone().without_autodiff())
            .int()
            .sum()
            .float();
        assert_close_1d("correct", correct, want_correct);
        let (grads_ours, grads_theirs) = (ours.backward(), theirs.backward());
        assert_close_1d(
            &format!("loss, smoothing {smoothing}"),
            ours.without_autodiff(),
            theirs.without_autodiff(),
        );
        let grad = |g| logits.grad(g).expect("a gradient");
        assert_close(
            &format!("logit grad, smoothing {smoothing}"),
            grad(&grads_ours),
            grad(&grads_theirs),
        );
    }
    // The CPU and untracked logits are left to Burn.
    let cpu_logits = Tensor::<2>::zeros([2, 10], &Device::flex().autodiff());
    let cpu_labels = Tensor::<1, Int>::zeros([2], &Device::flex().autodiff());
    assert!(cross_entropy_and_correct(&cpu_logits, &cpu_labels, 0.0).is_none());
    let plain_logits = Tensor::<2>::zeros([2, 10], &device);
    let plain_labels = Tensor::<1, Int>::zeros([2], &device);
    assert!(cross_entropy_and_correct(&plain_logits, &plain_labels, 0.0).is_none());
}

#[test]
fn fused_dropout_drops_at_its_rate_scales_the_rest_and_masks_its_gradient_alike() {
    use super::dropout::dropout_seeded;
    use burn::nn::DropoutConfig;

    let Some(device) = gpu() else { return };
    let training = device.clone().autodiff();
    let layer = DropoutConfig::new(0.4).init();
    // Never zero, so a zero in the output is a dropped element.
    let x = Tensor::<4>::random([64, 32, 12, 12], Distribution::Uniform(0.5, 1.5), &device);
    let x = x.autodiff().require_grad();
    let y = dropout(&layer, &x).expect("the GPU dropout covers tracked maps");
    let upstream = Tensor::<4>::random(y.dims(), Distribution::Default, &training);
    let grads = (y.clone() * upstream.clone()).sum().backward();
    let (x_plain, y_plain) = (x.clone().without_autodiff(), y.clone().without_autodiff());
    // Each output is 0 or x / 0.6; the gradient passes where the output did, scaled alike.
    let kept = y_plain.clone().greater_elem(0.0).float();
    let kept_share: f32 = kept.clone().mean().into_scalar();
    assert!((kept_share - 0.6).abs() < 0.01, "kept {kept_share}");
    assert_close(
        "kept values",
        y_plain.clone(),
        x_plain.clone() * kept.clone() / 0.6,
    );
    assert_close(
        "input gradient",
        x.grad(&grads).expect("a gradient"),
        upstream.without_autodiff() * kept.clone() / 0.6,
    );
    // Another seed, another mask; the same seed, the same mask.
    let mask = |seed| {
        let y = dropout_seeded(&layer, &x, seed).unwrap().without_autodiff();
        y.greater_elem(0.0).float()
    };
    let differing: f32 = (mask(1) - mask(2)).abs().mean().into_scalar();
    assert!(
        (differing - 0.48).abs() < 0.02,
        "masks differ at {differing}"
    );
    assert_eq!(mask(3).into_data(), mask(3).into_data());
    // Inference, a zero rate, plain tensors and the CPU are left to Burn.
    let inference = layer.clone().valid();
    let plain = Tensor::<4>::ones([2, 3, 4, 4], &device);
    assert!(dropout(&DropoutConfig::new(0.0).init(), &x).is_none());
    assert!(dropout(&layer, &plain).is_none());
    assert!(dropout(&inference, &x).is_none());
    let cpu = Tensor::<4>::ones([2, 3, 4, 4], &Device::flex().autodiff());
    assert!(dropout(&layer, &cpu).is_none());
}

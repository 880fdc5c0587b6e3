//! The network itself: Burn layers built from an [`Architecture`] and their forward pass.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::spec::{Architecture, ArchitectureError, LayerSpec, Shape};
use super::{cpu, gpu, init, spec};
use crate::data::csv::IMAGE_SIDE;
use crate::rng::Rng;

/// Keras' BatchNormalization defaults. Burn's momentum weighs the new batch, Keras' the history.
const KERAS_BN_EPSILON: f64 = 1e-3;
const KERAS_BN_MOMENTUM: f64 = 0.99;

#[derive(Module, Debug)]
pub struct ConvRelu {
    conv: Conv2d,
}

#[derive(Module, Debug)]
pub struct Dense {
    linear: Linear,
    relu: bool,
}

#[derive(Module, Debug)]
pub enum Layer {
    Conv(ConvRelu),
    BatchNorm(BatchNorm),
    MaxPool(MaxPool2d),
    Dropout(Dropout),
    /// Holds the flattened feature count (a constant, so the variant is a valid module).
    Flatten(usize),
    Dense(Dense),
}

#[derive(Module, Debug)]
pub struct DigitNet {
    layers: Vec<Layer>,
    names: Vec<String>,
}

/// An intermediate activation, `[batch, channels, height, width]` (dense layers use 1x1 maps).
#[derive(Clone, Debug)]
pub struct Activation {
    pub layer: String,
    pub values: Tensor<4>,
}

enum Flow {
    Maps(Tensor<4>),
    Features(Tensor<2>),
}

impl DigitNet {
    /// Build the network with freshly initialised weights (deterministic for a seed).
    pub fn new(
        architecture: &Architecture,
        device: &Device,
        seed: u64,
    ) -> Result<Self, ArchitectureError> {
        let summary = architecture.summary()?;
        let mut rng = Rng::derive(seed, 0x1A17);
        let mut input = Shape::Maps(1, IMAGE_SIDE, IMAGE_SIDE);
        let mut layers = Vec::with_capacity(summary.len());
        for info in &summary {
            let layer = match (&info.spec, input) {
                (
                    LayerSpec::Conv {
                        filters,
                        kernel,
                        stride,
                        padding,
                        init,
                    },
                    Shape::Maps(channels, ..),
                ) => {
                    let padding = match padding {
                        spec::Padding::Same => PaddingConfig2d::Same,
                        spec::Padding::Valid => PaddingConfig2d::Valid,
                    };
                    let conv =
                        burn::nn::conv::Conv2dConfig::new([channels, *filters], [*kernel; 2])
                            .with_stride([*stride; 2])
                            .with_padding(padding)
                            .init(device);
                    let fan_in = channels * kernel * kernel;
                    let fan_out = filters * kernel * kernel;
                    let shape = [*filters, channels, *kernel, *kernel];
                    let weights =
                        init::kernel(*init, fan_in, fan_out, shape.iter().product(), &mut rng);
                    Layer::Conv(ConvRelu {
                        conv: Conv2d {
                            weight: Param::from_data(TensorData::new(weights, shape), device),
                            bias: Some(Param::from_data(
                                TensorData::new(vec![0f32; *filters], [*filters]),
                                device,
                            )),
                            ..conv
                        },
                    })
                }
                (LayerSpec::BatchNorm, Shape::Maps(c, ..) | Shape::Features(c)) => {
                    Layer::BatchNorm(
                        BatchNormConfig::new(c)
                            .with_epsilon(KERAS_BN_EPSILON)
                            .with_momentum(1.0 - KERAS_BN_MOMENTUM)
                            .init(device),
                    )
                }
                (LayerSpec::MaxPool, _) => {
                    Layer::MaxPool(MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init())
                }
                (LayerSpec::Dropout { rate }, _) => {
                    Layer::Dropout(DropoutConfig::new(*rate as f64).init())
                }
                (LayerSpec::Flatten, Shape::Maps(c, h, w)) => Layer::Flatten(c * h * w),
                (LayerSpec::Dense { units, relu, init }, Shape::Features(n)) => {
                    let weights = init::kernel(*init, n, *units, n * units, &mut rng);
                    Layer::Dense(Dense {
                        linear: Linear {
                            weight: Param::from_data(TensorData::new(weights, [n, *units]), device),
                            bias: Some(Param::from_data(
                                TensorData::new(vec![0f32; *units], [*units]),
                                device,
                            )),
                        },
                        relu: *relu,
                    })
                }
                // `summary()` has already checked every layer against its input shape.
                _ => unreachable!("validated by Architecture::summary"),
            };
            layers.push(layer);
            input = info.output;
        }
        Ok(Self {
            layers,
            names: summary.into_iter().map(|info| info.name).collect(),
        })
    }

    /// Class scores (logits) for a batch of images `[batch, 1, 28, 28]` scaled to 0..1.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.run(images, None)
    }

    /// Logits plus every layer's output, in order, named like Keras (`conv2d_1`, ...).
    pub fn forward_with_activations(&self, images: Tensor<4>) -> (Tensor<2>, Vec<Activation>) {
        let mut activations = Vec::with_capacity(self.layers.len());
        let logits = self.run(images, Some(&mut activations));
        (logits, activations)
    }

    pub fn layer_names(&self) -> &[String] {
        &self.names
    }

    /// The first convolution's name and kernels `[filters, in_channels, k, k]`: what it looks
    /// for in the pixels (shown as images while training).
    pub fn first_conv_weights(&self) -> Option<(&str, Tensor<4>)> {
        self.layers
            .iter()
            .zip(&self.names)
            .find_map(|(layer, name)| match layer {
                Layer::Conv(c) => Some((name.as_str(), c.conv.weight.val())),
                _ => None,
            })
    }

    fn run(&self, images: Tensor<4>, mut record: Option<&mut Vec<Activation>>) -> Tensor<2> {
        let mut flow = Flow::Maps(images);
        for (layer, name) in self.layers.iter().zip(&self.names) {
            flow = match (layer, flow) {
                (Layer::Conv(c), Flow::Maps(x)) => {
                    Flow::Maps(match gpu::conv2d(&c.conv, &x, true) {
                        Some(y) => y,
                        None => relu(cpu::conv2d(&c.conv, x)),
                    })
                }
                (Layer::BatchNorm(bn), Flow::Maps(x)) => {
                    Flow::Maps(gpu::batch_norm(bn, &x).unwrap_or_else(|| bn.forward(x)))
                }
                (Layer::BatchNorm(bn), Flow::Features(x)) => {
                    Flow::Features(gpu::batch_norm(bn, &x).unwrap_or_else(|| bn.forward(x)))
                }
                (Layer::MaxPool(pool), Flow::Maps(x)) => Flow::Maps(cpu::max_pool2d(pool, x)),
                (Layer::Dropout(d), Flow::Maps(x)) => {
                    Flow::Maps(gpu::dropout(d, &x).unwrap_or_else(|| d.forward(x)))
                }
                (Layer::Dropout(d), Flow::Features(x)) => {
                    Flow::Features(gpu::dropout(d, &x).unwrap_or_else(|| d.forward(x)))
                }
                (Layer::Flatten(_), Flow::Maps(x)) => Flow::Features(x.flatten(1, 3)),
                (Layer::Dense(dense), Flow::Features(x)) => {
                    let y = dense.linear.forward(x);
                    Flow::Features(if dense.relu { relu(y) } else { y })
                }
                _ => unreachable!("layer order validated by Architecture::summary"),
            };
            if let Some(record) = record.as_deref_mut() {
                let values = match &flow {
                    Flow::Maps(x) => x.clone(),
                    Flow::Features(x) => {
                        let [batch, features] = x.dims();
                        x.clone().reshape([batch, features, 1, 1])
                    }
                };
                record.push(Activation {
                    layer: name.clone(),
                    values,
                });
            }
        }
        match flow {
            Flow::Features(logits) => logits,
            Flow::Maps(_) => unreachable!("the last layer is dense (validated)"),
        }
    }
}

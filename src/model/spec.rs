//! Architectures as data: a preset is a list of Keras-like layers, so that the notebooks' CNNs
//! can be reproduced exactly, shown in the UI (names, shapes, parameter counts) and stored in a
//! model file next to the weights.

use serde::{Deserialize, Serialize};

use crate::data::csv::IMAGE_SIDE;

pub const NUM_CLASSES: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    Same,
    Valid,
}

/// Kernel initialisers as Keras defines them (biases always start at zero, as in Keras).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Init {
    GlorotUniform,
    HeNormal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LayerSpec {
    /// 2D convolution followed by ReLU.
    Conv {
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
        init: Init,
    },
    /// Keras BatchNormalization (momentum 0.99, epsilon 1e-3) over channels or features.
    BatchNorm,
    /// 2x2 max pooling with stride 2 ("valid", so odd sizes round down as in Keras).
    MaxPool,
    Dropout {
        rate: f32,
    },
    Flatten,
    /// Fully connected layer; `relu: false` is the output layer (logits; softmax is in the loss).
    Dense {
        units: usize,
        relu: bool,
        init: Init,
    },
}

/// The shape of the activation after a layer, without the batch dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// Channels, height, width.
    Maps(usize, usize, usize),
    Features(usize),
}

impl Shape {
    pub fn describe(&self) -> String {
        match self {
            Shape::Maps(c, h, w) => format!("{h}x{w}x{c}"),
            Shape::Features(n) => format!("{n}"),
        }
    }
}

/// One layer as a summary row (like Keras' `model.summary()`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub name: String,
    pub spec: LayerSpec,
    pub output: Shape,
    pub params: usize,
    /// Parameters that are not trained by the optimizer (batch norm's moving statistics).
    pub non_trainable: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub layers: Vec<LayerSpec>,
}

#[derive(Clone, Debug, Serialize, Deserialize, thiserror::Error, PartialEq)]
#[error("layer {index} ({name}) cannot take input of shape {input}: {reason}")]
pub struct ArchitectureError {
    pub index: usize,
    pub name: String,
    pub input: String,
    pub reason: String,
}

impl Architecture {
    /// Walk the layers from a 28x28x1 input, naming them like Keras (`conv2d_1`, `dropout_2`, ...)
    /// and computing output shapes and parameter counts.
    pub fn summary(&self) -> Result<Vec<LayerInfo>, ArchitectureError> {
        let mut shape = Shape::Maps(1, IMAGE_SIDE, IMAGE_SIDE);
        let mut counters = std::collections::HashMap::<&str, usize>::new();
        let mut rows = Vec::with_capacity(self.layers.len());
        for (index, spec) in self.layers.iter().enumerate() {
            let base = spec.keras_name();
            let count = counters.entry(base).or_default();
            *count += 1;
            let name = format!("{base}_{count}");
            let fail = |reason: &str| ArchitectureError {
                index,
                name: name.clone(),
                input: shape.describe(),
                reason: reason.to_string(),
            };
            let (output, params, non_trainable) = match (spec, shape) {
                (
                    LayerSpec::Conv {
                        filters,
                        kernel,
                        stride,
                        padding,
                        ..
                    },
                    Shape::Maps(c, h, w),
                ) => {
                    let out = |size: usize| match padding {
                        Padding::Same => Some(size.div_ceil(*stride)),
                        Padding::Valid => size.checked_sub(*kernel).map(|s| s / stride + 1),
                    };
                    let (Some(oh), Some(ow)) = (out(h), out(w)) else {
                        return Err(fail("the kernel is larger than the input"));
                    };
                    let params = kernel * kernel * c * filters + filters;
                    (Shape::Maps(*filters, oh, ow), params, 0)
                }
                (LayerSpec::BatchNorm, Shape::Maps(c, ..) | Shape::Features(c)) => {
                    (shape, 4 * c, 2 * c)
                }
                (LayerSpec::MaxPool, Shape::Maps(c, h, w)) if h >= 2 && w >= 2 => {
                    (Shape::Maps(c, h / 2, w / 2), 0, 0)
                }
                (LayerSpec::Dropout { .. }, _) => (shape, 0, 0),
                (LayerSpec::Flatten, Shape::Maps(c, h, w)) => (Shape::Features(c * h * w), 0, 0),
                (LayerSpec::Dense { units, .. }, Shape::Features(n)) => {
                    (Shape::Features(*units), n * units + units, 0)
                }
                _ => return Err(fail("this layer does not accept that shape")),
            };
            shape = output;
            rows.push(LayerInfo {
                name,
                spec: spec.clone(),
                output,
                params,
                non_trainable,
            });
        }
        match shape {
            Shape::Features(NUM_CLASSES) => Ok(rows),
            _ => Err(ArchitectureError {
                index: self.layers.len().saturating_sub(1),
                name: rows.last().map(|r| r.name.clone()).unwrap_or_default(),
                input: shape.describe(),
                reason: format!("the last layer must output {NUM_CLASSES} class scores"),
            }),
        }
    }

    /// Total parameter count, as Keras reports it (trainable + non-trainable).
    pub fn param_count(&self) -> usize {
        self.summary()
            .map(|rows| rows.iter().map(|r| r.params).sum())
            .unwrap_or(0)
    }
}

impl LayerSpec {
    fn keras_name(&self) -> &'static str {
        match self {
            LayerSpec::Conv { .. } => "conv2d",
            LayerSpec::BatchNorm => "batch_normalization",
            LayerSpec::MaxPool => "max_pooling2d",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Dense { .. } => "dense",
        }
    }

    /// Layers whose output is a stack of feature maps worth showing as an activation grid.
    pub fn has_feature_maps(&self, output: &Shape) -> bool {
        matches!(output, Shape::Maps(..)) && !matches!(self, LayerSpec::Flatten)
    }
}

/// Short constructors used by the presets.
pub(crate) fn conv(filters: usize, kernel: usize, padding: Padding) -> LayerSpec {
    LayerSpec::Conv {
        filters,
        kernel,
        stride: 1,
        padding,
        init: Init::GlorotUniform,
    }
}

pub(crate) fn dropout(rate: f32) -> LayerSpec {
    LayerSpec::Dropout { rate }
}

pub(crate) fn dense(units: usize) -> LayerSpec {
    LayerSpec::Dense {
        units,
        relu: true,
        init: Init::GlorotUniform,
    }
}

pub(crate) fn logits() -> LayerSpec {
    LayerSpec::Dense {
        units: NUM_CLASSES,
        relu: false,
        init: Init::GlorotUniform,
    }
}

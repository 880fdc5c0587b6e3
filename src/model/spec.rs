//! Architectures as data: a preset is a list of Keras-like layers, so that the notebooks' CNNs
//! can be reproduced exactly, shown in the UI (names, shapes, parameter counts) and stored in a
//! model file next to the weights.

use serde::{Deserialize, Serialize};

use crate::data::csv::IMAGE_SIDE;

pub const NUM_CLASSES: usize = 10;

/// Bounds on an architecture, so that one read from an untrusted model file cannot ask for a
/// terabyte, divide by zero or overflow. The presets stay far below each (at most 128
/// filters, 5x5 kernels, stride 2, 256 units).
pub const MAX_LAYERS: usize = 64;
pub const MAX_FILTERS: usize = 1024;
pub const MAX_KERNEL: usize = 11;
pub const MAX_STRIDE: usize = 4;
pub const MAX_UNITS: usize = 16_384;
pub const MAX_PARAMETERS: usize = 50_000_000;
/// Values of one image's activation after a layer (128 filters at 28x28 is 100,352): with
/// inference batches of 500 an activation stays within 512 MiB, which wasm can hold.
pub const MAX_ACTIVATION: usize = 1 << 18;
/// Multiply-adds per image (every preset needs under a fifth of it: see the tests): beyond this
/// a file asks for minutes per validation pass, which would pin the worker.
pub const MAX_MULTIPLY_ADDS: usize = 300_000_000;

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
    /// Values per image (saturating: only compared with a bound).
    pub fn values(&self) -> usize {
        match *self {
            Shape::Maps(c, h, w) => c.saturating_mul(h).saturating_mul(w),
            Shape::Features(n) => n,
        }
    }

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
    /// The same layers with every dropout layer's rate set to `rate` (an experiment's knob:
    /// `digit-lab train --dropout`).
    pub fn with_dropout(mut self, rate: f32) -> Self {
        for layer in &mut self.layers {
            if let LayerSpec::Dropout { rate: own } = layer {
                *own = rate;
            }
        }
        self
    }

    /// Walk the layers from a 28x28x1 input, naming them like Keras (`conv2d_1`, `dropout_2`, ...)
    /// and computing output shapes and parameter counts.
    pub fn summary(&self) -> Result<Vec<LayerInfo>, ArchitectureError> {
        let mut shape = Shape::Maps(1, IMAGE_SIDE, IMAGE_SIDE);
        let mut counters = std::collections::HashMap::<&str, usize>::new();
        if self.layers.len() > MAX_LAYERS {
            return Err(ArchitectureError {
                index: MAX_LAYERS,
                name: "layers".into(),
                input: shape.describe(),
                reason: format!(
                    "{} layers; at most {MAX_LAYERS} are supported",
                    self.layers.len()
                ),
            });
        }
        let mut rows = Vec::with_capacity(self.layers.len());
        let mut total_params = 0usize;
        let mut multiply_adds = 0usize;
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
            if let Some(reason) = spec.out_of_bounds() {
                return Err(fail(&reason));
            }
            let too_big = || fail("the layer is too large to build");
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
                    let params = (kernel * kernel)
                        .checked_mul(c)
                        .and_then(|n| n.checked_mul(*filters))
                        .and_then(|n| n.checked_add(*filters))
                        .ok_or_else(too_big)?;
                    (Shape::Maps(*filters, oh, ow), params, 0)
                }
                (LayerSpec::BatchNorm, Shape::Maps(c, ..) | Shape::Features(c)) => {
                    (shape, 4 * c, 2 * c)
                }
                (LayerSpec::MaxPool, Shape::Maps(c, h, w)) if h >= 2 && w >= 2 => {
                    (Shape::Maps(c, h / 2, w / 2), 0, 0)
                }
                (LayerSpec::Dropout { .. }, _) => (shape, 0, 0),
                (LayerSpec::Flatten, Shape::Maps(..)) => (Shape::Features(shape.values()), 0, 0),
                (LayerSpec::Dense { units, .. }, Shape::Features(n)) => {
                    let params = n
                        .checked_mul(*units)
                        .and_then(|p| p.checked_add(*units))
                        .ok_or_else(too_big)?;
                    (Shape::Features(*units), params, 0)
                }
                _ => return Err(fail("this layer does not accept that shape")),
            };
            total_params = total_params
                .checked_add(params)
                .filter(|&total| total <= MAX_PARAMETERS)
                .ok_or_else(|| {
                    fail(&format!(
                        "the model would have over {MAX_PARAMETERS} parameters"
                    ))
                })?;
            // Conv and dense layers: one multiply-add per weight and output position.
            let positions = match output {
                Shape::Maps(_, h, w) => h.saturating_mul(w),
                Shape::Features(_) => 1,
            };
            multiply_adds = multiply_adds.saturating_add(params.saturating_mul(positions));
            if multiply_adds > MAX_MULTIPLY_ADDS {
                return Err(fail(&format!(
                    "the model would need over {MAX_MULTIPLY_ADDS} multiply-adds per image"
                )));
            }
            if output.values() > MAX_ACTIVATION {
                return Err(fail(&format!(
                    "its output {} has over {MAX_ACTIVATION} values per image",
                    output.describe()
                )));
            }
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
    /// Why this layer's own settings cannot be built, whatever its input.
    fn out_of_bounds(&self) -> Option<String> {
        match *self {
            LayerSpec::Conv {
                filters,
                kernel,
                stride,
                ..
            } => {
                if !(1..=MAX_FILTERS).contains(&filters) {
                    Some(format!("{filters} filters; use 1 to {MAX_FILTERS}"))
                } else if !(1..=MAX_KERNEL).contains(&kernel) {
                    Some(format!("a {kernel}x{kernel} kernel; use 1 to {MAX_KERNEL}"))
                } else if !(1..=MAX_STRIDE).contains(&stride) {
                    Some(format!("stride {stride}; use 1 to {MAX_STRIDE}"))
                } else {
                    None
                }
            }
            LayerSpec::Dropout { rate } if !(0.0..1.0).contains(&rate) => Some(format!(
                "dropout rate {rate}; it must be at least 0 and below 1"
            )),
            LayerSpec::Dense { units, .. } if !(1..=MAX_UNITS).contains(&units) => {
                Some(format!("{units} units; use 1 to {MAX_UNITS}"))
            }
            _ => None,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;

    #[test]
    fn with_dropout_sets_every_dropout_rate_and_nothing_else() {
        let own = Preset::DigitLab.architecture();
        let changed = own.clone().with_dropout(0.3);
        assert_eq!(changed.layers.len(), own.layers.len());
        let mut dropouts = 0;
        for (a, b) in own.layers.iter().zip(&changed.layers) {
            match (a, b) {
                (LayerSpec::Dropout { rate: before }, LayerSpec::Dropout { rate }) => {
                    assert_eq!((*before, *rate), (0.4, 0.3));
                    dropouts += 1;
                }
                _ => assert_eq!(a, b),
            }
        }
        assert_eq!(dropouts, 3);
        assert_eq!(changed.param_count(), own.param_count());
    }

    fn refused(layers: Vec<LayerSpec>) -> String {
        match (Architecture { layers }).summary() {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn each_bound_refuses_what_lies_beyond_it() {
        let flatten_logits = || vec![LayerSpec::Flatten, logits()];
        // Too many layers (dropout does nothing, so only the count is wrong).
        let mut layers = vec![dropout(0.1); MAX_LAYERS];
        layers.extend(flatten_logits());
        assert!(refused(layers).contains("at most 64"));
        // Too many parameters: dense layers within the unit bound, too many together.
        let mut layers = flatten_logits();
        layers.splice(1..1, [dense(MAX_UNITS), dense(MAX_UNITS)]);
        assert!(refused(layers).contains("parameters"));
        // Too large an activation: 512 maps of 28x28 (each layer's own settings are fine).
        let mut layers = vec![conv(512, 1, Padding::Same)];
        layers.extend(flatten_logits());
        assert!(refused(layers).contains("values per image"));
        // Too much work: three 3x3 convolutions of 160 filters at 28x28, each within every
        // other bound (125,440 values, 1.7 million parameters in all), but the second and the
        // third need 181 million multiply-adds each.
        let mut layers = vec![
            conv(160, 3, Padding::Same),
            conv(160, 3, Padding::Same),
            conv(160, 3, Padding::Same),
        ];
        layers.extend(flatten_logits());
        assert!(refused(layers).contains("multiply-adds"));
    }

    #[test]
    fn the_presets_are_far_inside_every_bound() {
        for preset in Preset::ALL {
            let rows = preset.architecture().summary().unwrap();
            let work: usize = rows
                .iter()
                .map(|r| match r.output {
                    Shape::Maps(_, h, w) => r.params * h * w,
                    Shape::Features(_) => r.params,
                })
                .sum();
            let largest = rows.iter().map(|r| r.output.values()).max().unwrap();
            assert!(
                work * 5 < MAX_MULTIPLY_ADDS,
                "{preset}: {work} multiply-adds"
            );
            assert!(largest * 2 < MAX_ACTIVATION, "{preset}: {largest} values");
        }
    }
}

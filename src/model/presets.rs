//! The CNNs of the Kaggle notebooks this app replaces, plus Digit Lab's own default. Each
//! notebook's training recipe is in `training::recipes` (a model needs no recipe).

use serde::{Deserialize, Serialize};

use super::spec::{Architecture, Init, LayerSpec, Padding, conv, dense, dropout, logits};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Digit Lab's default: BatchNorm after every conv, strided 5x5 convs instead of pooling.
    DigitLab,
    /// The 5x5-32 / 3x3-64 "Kaggle classic" (RMSprop, ReduceLROnPlateau) of notebook 002.
    KaggleClassic,
    /// The deep BatchNorm network with 2x2 convolutions of notebook 000 (Adam).
    BnDeep,
    /// The he_normal network with a batch-normalised dense layer of notebook 003.
    BnDense,
    /// The small two-conv network of notebook 001 (early stopping, best checkpoint).
    Small,
    /// A tiny CNN for quick experiments: seconds per epoch on a slice, even without a GPU.
    Tiny,
}

impl Preset {
    pub const ALL: [Preset; 6] = [
        Preset::DigitLab,
        Preset::KaggleClassic,
        Preset::BnDeep,
        Preset::BnDense,
        Preset::Small,
        Preset::Tiny,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Preset::DigitLab => "digit-lab",
            Preset::KaggleClassic => "kaggle-classic",
            Preset::BnDeep => "bn-deep",
            Preset::BnDense => "bn-dense",
            Preset::Small => "small",
            Preset::Tiny => "tiny",
        }
    }

    pub fn from_id(id: &str) -> Option<Preset> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    pub fn title(self) -> &'static str {
        match self {
            Preset::DigitLab => "Digit Lab default (BatchNorm, strided convs)",
            Preset::KaggleClassic => "Kaggle classic (5x5-32, 3x3-64, RMSprop)",
            Preset::BnDeep => "Deep BatchNorm, 2x2 convs (Adam)",
            Preset::BnDense => "he_normal convs + BatchNorm dense",
            Preset::Small => "Small (64-32 convs, early stopping)",
            Preset::Tiny => "Tiny (8-16 convs, quick experiments)",
        }
    }

    pub fn architecture(self) -> Architecture {
        use Padding::{Same, Valid};
        let bn = || LayerSpec::BatchNorm;
        let pool = || LayerSpec::MaxPool;
        let layers = match self {
            Preset::DigitLab => {
                let strided = |filters| LayerSpec::Conv {
                    filters,
                    kernel: 5,
                    stride: 2,
                    padding: Same,
                    init: Init::GlorotUniform,
                };
                vec![
                    conv(32, 3, Valid),
                    bn(),
                    conv(32, 3, Valid),
                    bn(),
                    strided(32),
                    bn(),
                    dropout(0.4),
                    conv(64, 3, Valid),
                    bn(),
                    conv(64, 3, Valid),
                    bn(),
                    strided(64),
                    bn(),
                    dropout(0.4),
                    LayerSpec::Flatten,
                    dense(128),
                    bn(),
                    dropout(0.4),
                    logits(),
                ]
            }
            Preset::KaggleClassic => vec![
                conv(32, 5, Same),
                conv(32, 5, Same),
                pool(),
                dropout(0.25),
                conv(64, 3, Same),
                conv(64, 3, Same),
                pool(),
                dropout(0.25),
                LayerSpec::Flatten,
                dense(256),
                dropout(0.5),
                logits(),
            ],
            Preset::BnDeep => vec![
                conv(32, 5, Same),
                bn(),
                conv(128, 2, Same),
                dropout(0.2),
                pool(),
                bn(),
                conv(128, 2, Same),
                pool(),
                bn(),
                conv(128, 2, Same),
                dropout(0.1),
                pool(),
                bn(),
                conv(64, 3, Same),
                pool(),
                bn(),
                conv(64, 3, Same),
                dropout(0.2),
                bn(),
                LayerSpec::Flatten,
                dense(256),
                dropout(0.4),
                logits(),
            ],
            Preset::BnDense => {
                let he = |filters, padding| LayerSpec::Conv {
                    filters,
                    kernel: 3,
                    stride: 1,
                    padding,
                    init: Init::HeNormal,
                };
                vec![
                    he(32, Valid),
                    he(32, Valid),
                    pool(),
                    dropout(0.2),
                    he(64, Same),
                    he(64, Same),
                    pool(),
                    dropout(0.25),
                    he(128, Same),
                    dropout(0.25),
                    LayerSpec::Flatten,
                    dense(128),
                    bn(),
                    dropout(0.25),
                    logits(),
                ]
            }
            Preset::Small => vec![
                conv(64, 3, Valid),
                conv(32, 3, Valid),
                pool(),
                LayerSpec::Flatten,
                logits(),
            ],
            Preset::Tiny => vec![
                conv(8, 3, Valid),
                pool(),
                conv(16, 3, Valid),
                pool(),
                LayerSpec::Flatten,
                logits(),
            ],
        };
        Architecture { layers }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Totals as Keras' `model.summary()` reports them (trainable + non-trainable). Notebook 003
    /// prints its summary (730,602); the others are Keras' counting rules applied to the layers
    /// each notebook builds.
    #[test]
    fn parameter_counts_match_keras_summaries() {
        let expected = [
            (Preset::KaggleClassic, 887_530),
            (Preset::BnDeep, 280_778),
            (Preset::BnDense, 730_602),
            (Preset::Small, 65_194),
            (Preset::Tiny, 5_258),
        ];
        for (preset, total) in expected {
            assert_eq!(preset.architecture().param_count(), total, "{preset}");
        }
        let bn_dense = Preset::BnDense.architecture().summary().unwrap();
        let non_trainable: usize = bn_dense.iter().map(|l| l.non_trainable).sum();
        assert_eq!(non_trainable, 256, "Keras: Non-trainable params: 256");
    }

    #[test]
    fn layer_names_and_shapes_follow_keras() {
        let rows = Preset::BnDense.architecture().summary().unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            &names[..5],
            [
                "conv2d_1",
                "conv2d_2",
                "max_pooling2d_1",
                "dropout_1",
                "conv2d_3"
            ]
        );
        assert_eq!(rows[0].output.describe(), "26x26x32");
        assert_eq!(rows[2].output.describe(), "12x12x32");
        assert_eq!(rows[10].output.describe(), "4608");
        let deep = Preset::BnDeep.architecture().summary().unwrap();
        let flatten = deep.iter().find(|r| r.name == "flatten_1").unwrap();
        assert_eq!(flatten.output, super::super::spec::Shape::Features(64));
    }

    #[test]
    fn every_preset_is_valid_and_round_trips_by_id() {
        for preset in Preset::ALL {
            assert!(preset.architecture().summary().is_ok(), "{preset}");
            assert_eq!(Preset::from_id(preset.id()), Some(preset));
        }
        assert_eq!(Preset::from_id("nope"), None);
    }
}

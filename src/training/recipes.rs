//! Each preset's training recipe: the one its Kaggle notebook used (Digit Lab's own for the
//! default). Recipes are training data about a model, so they live here, not in `model`.

use super::config::{
    EarlyStoppingConfig, LrSchedule, Monitor, OptimizerConfig, PlateauConfig, TrainConfig,
};
use crate::augment::AugmentConfig;
use crate::model::Preset;

impl Preset {
    /// The training recipe of the preset's notebook (Digit Lab's own for the default).
    pub fn recipe(self) -> TrainConfig {
        let keras_augment = AugmentConfig::keras_notebooks();
        let plateau = PlateauConfig::keras_notebooks();
        let own = TrainConfig::default();
        // The notebook presets keep the epoch-wise rate they were tuned with (their plateau
        // rule on top of a ×0.88 decay), not the one-cycle schedule, and augment to the end.
        let base = TrainConfig {
            batch_size: 64,
            learning_rate: 1e-3,
            lr_decay_per_epoch: 0.88,
            schedule: LrSchedule::Stepwise,
            augment_fade: 0.0,
            ..own.clone()
        };
        match self {
            Preset::DigitLab => own,
            Preset::KaggleClassic => TrainConfig {
                epochs: 30,
                batch_size: 86,
                optimizer: OptimizerConfig::rmsprop_with_epsilon(1e-8),
                learning_rate: 1e-3,
                augmentation: keras_augment,
                plateau: Some(plateau),
                early_stopping: None,
                ..base
            },
            Preset::BnDeep => TrainConfig {
                epochs: 30,
                batch_size: 64,
                optimizer: OptimizerConfig::keras_adam(),
                learning_rate: 1e-3,
                augmentation: keras_augment,
                plateau: Some(plateau),
                early_stopping: None,
                ..base
            },
            Preset::BnDense => TrainConfig {
                epochs: 20,
                batch_size: 64,
                optimizer: OptimizerConfig::rmsprop_with_epsilon(1e-7),
                learning_rate: 1e-3,
                augmentation: AugmentConfig {
                    rotation_degrees: 15.0,
                    ..keras_augment
                },
                plateau: Some(PlateauConfig {
                    min_lr: 1e-4,
                    ..plateau
                }),
                early_stopping: None,
                ..base
            },
            Preset::Small => TrainConfig {
                epochs: 100,
                batch_size: 32,
                optimizer: OptimizerConfig::rmsprop_with_epsilon(1e-7),
                learning_rate: 1e-3,
                augmentation: AugmentConfig {
                    shear_degrees: 0.1,
                    ..keras_augment
                },
                plateau: Some(PlateauConfig {
                    monitor: Monitor::ValLoss,
                    factor: 0.1,
                    ..plateau
                }),
                early_stopping: Some(EarlyStoppingConfig {
                    monitor: Monitor::ValLoss,
                    patience: 10,
                    min_delta: 0.0,
                }),
                checkpoint_monitor: Monitor::ValLoss,
                ..base
            },
            Preset::Tiny => TrainConfig { epochs: 5, ..own },
        }
    }
}

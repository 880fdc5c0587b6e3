//! Everything a training run needs besides data and device: serialisable so the UI can edit it,
//! the CLI can print it and a model file can remember it.

use serde::{Deserialize, Serialize};

use crate::augment::AugmentConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Monitor {
    ValAccuracy,
    ValLoss,
}

impl Monitor {
    /// Whether `value` beats `best` by more than `min_delta` (Keras' comparison).
    pub fn improves(self, value: f64, best: Option<f64>, min_delta: f64) -> bool {
        match (self, best) {
            (_, None) => value.is_finite(),
            (Monitor::ValAccuracy, Some(best)) => value > best + min_delta,
            (Monitor::ValLoss, Some(best)) => value < best - min_delta,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValAccuracy => "val_accuracy",
            Monitor::ValLoss => "val_loss",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerConfig {
    /// Keras' RMSprop: `ms = rho·ms + (1-rho)·g²; w -= lr·g / sqrt(ms + epsilon)`.
    RmsProp { rho: f64, epsilon: f64 },
    /// Adam with Keras' defaults.
    Adam {
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
    },
}

impl OptimizerConfig {
    pub fn rmsprop_with_epsilon(epsilon: f64) -> Self {
        OptimizerConfig::RmsProp { rho: 0.9, epsilon }
    }

    pub fn keras_adam() -> Self {
        OptimizerConfig::Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::RmsProp { .. } => "rmsprop",
            OptimizerConfig::Adam { .. } => "adam",
        }
    }
}

/// Keras' ReduceLROnPlateau.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateauConfig {
    pub monitor: Monitor,
    pub patience: usize,
    pub factor: f64,
    pub min_lr: f64,
    pub min_delta: f64,
}

impl PlateauConfig {
    /// `ReduceLROnPlateau(monitor='val_accuracy', patience=3, factor=0.5, min_lr=0.00001)`.
    pub fn keras_notebooks() -> Self {
        Self {
            monitor: Monitor::ValAccuracy,
            patience: 3,
            factor: 0.5,
            min_lr: 1e-5,
            min_delta: 1e-4,
        }
    }
}

/// Keras' EarlyStopping.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingConfig {
    pub monitor: Monitor,
    pub patience: usize,
    pub min_delta: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub learning_rate: f64,
    /// Multiply the learning rate by this after every epoch (1.0 = constant), on top of the
    /// plateau rule.
    pub lr_decay_per_epoch: f64,
    pub plateau: Option<PlateauConfig>,
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Which validation metric picks the best checkpoint restored at the end.
    pub checkpoint_monitor: Monitor,
    pub augmentation: AugmentConfig,
    pub validation_fraction: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    /// Digit Lab's own recipe (with the default preset).
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 64,
            optimizer: OptimizerConfig::keras_adam(),
            learning_rate: 1e-3,
            lr_decay_per_epoch: 0.88,
            plateau: None,
            early_stopping: None,
            checkpoint_monitor: Monitor::ValAccuracy,
            augmentation: AugmentConfig::default(),
            validation_fraction: 0.1,
            seed: 42,
        }
    }
}

/// More epochs than anyone trains (the notebooks use 30 to 50) but few enough that epoch and
/// batch counts never overflow.
pub const MAX_EPOCHS: usize = 1000;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    pub field: &'static str,
    pub problem: String,
}

impl TrainConfig {
    /// Reject settings that cannot train, with the field to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, problem: &str| {
            Err(ConfigError {
                field,
                problem: problem.to_string(),
            })
        };
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return fail("epochs", &format!("must be between 1 and {MAX_EPOCHS}"));
        }
        if self.batch_size == 0 || self.batch_size > 4096 {
            return fail("batch size", "must be between 1 and 4096");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return fail("learning rate", "must be a positive number");
        }
        if !(self.lr_decay_per_epoch > 0.0 && self.lr_decay_per_epoch <= 1.0) {
            return fail("learning-rate decay", "must be in (0, 1]");
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return fail("validation fraction", "must be in [0, 1)");
        }
        let a = &self.augmentation;
        let ranges = [
            a.rotation_degrees / 180.0,
            a.zoom,
            a.width_shift,
            a.height_shift,
            a.shear_degrees / 90.0,
        ];
        if ranges.iter().any(|r| !(0.0..1.0).contains(r)) {
            return fail(
                "augmentation",
                "ranges must be ≥ 0 (rotation < 180°, shear < 90°, zoom and shifts < 1)",
            );
        }
        if let Some(p) = &self.plateau
            && !(p.factor > 0.0 && p.factor < 1.0)
        {
            return fail("ReduceLROnPlateau factor", "must be in (0, 1)");
        }
        Ok(())
    }
}

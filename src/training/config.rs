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

/// How the learning rate moves within a run, on top of the per-epoch decay and the plateau rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum LrSchedule {
    /// The rate changes only between epochs (decay, plateau): the notebooks' behaviour.
    #[default]
    Stepwise,
    /// One cycle over the planned run, batch by batch: a linear warm-up from a tenth of the rate
    /// over the first `warmup` fraction of the batches, then a cosine down to `final_fraction` of
    /// it at the last planned batch. It anneals whatever the epoch count, so a short run ends as
    /// settled as a long one.
    OneCycle { warmup: f64, final_fraction: f64 },
}

impl LrSchedule {
    /// Digit Lab's default: a short warm-up, annealed to a thousandth of the peak.
    pub const ONE_CYCLE: LrSchedule = LrSchedule::OneCycle {
        warmup: 0.05,
        final_fraction: 1e-3,
    };

    /// The factor on the epoch's rate at batch `step` (0-based) of `total` planned batches.
    pub fn factor(self, step: usize, total: usize) -> f64 {
        match self {
            LrSchedule::Stepwise => 1.0,
            LrSchedule::OneCycle {
                warmup,
                final_fraction,
            } => {
                let progress = planned_progress(step, total);
                if progress < warmup {
                    0.1 + 0.9 * progress / warmup
                } else {
                    let annealed = (progress - warmup) / (1.0 - warmup);
                    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * annealed).cos());
                    final_fraction + (1.0 - final_fraction) * cosine
                }
            }
        }
    }

    /// This schedule with one-cycle switched on or off: a one-cycle schedule keeps its own
    /// warm-up and floor, a stepwise one gets [`LrSchedule::ONE_CYCLE`] (the page's checkbox and
    /// the CLI's `--schedule` both mean this).
    pub fn with_one_cycle(self, on: bool) -> Self {
        match (on, self) {
            (false, _) => LrSchedule::Stepwise,
            (true, own @ LrSchedule::OneCycle { .. }) => own,
            (true, LrSchedule::Stepwise) => LrSchedule::ONE_CYCLE,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LrSchedule::Stepwise => "stepwise",
            LrSchedule::OneCycle { .. } => "one-cycle",
        }
    }
}

/// How far batch `step` (0-based) is through `total` planned batches: 0 at the first, 1 at the
/// last (and after it); what the one-cycle rate and the augmentation fade are functions of.
fn planned_progress(step: usize, total: usize) -> f64 {
    let last = total.saturating_sub(1).max(1) as f64;
    (step as f64 / last).min(1.0)
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
    /// Within-run schedule; model files from before it existed read as stepwise.
    #[serde(default)]
    pub schedule: LrSchedule,
    /// Cross-entropy against `(1 - s)·one_hot + s/10` instead of the one-hot label.
    #[serde(default)]
    pub label_smoothing: f64,
    pub plateau: Option<PlateauConfig>,
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Which validation metric picks the best checkpoint restored at the end.
    pub checkpoint_monitor: Monitor,
    pub augmentation: AugmentConfig,
    /// The last fraction of the planned batches over which the augmentation's ranges shrink
    /// linearly to none, so that a run ends on images like the ones it is judged on (0 keeps
    /// them whole to the end: the notebooks' recipes, and model files from before this existed).
    #[serde(default)]
    pub augment_fade: f64,
    pub validation_fraction: f64,
    /// Decides the validation split, and (for member 0) everything else random in the run.
    pub seed: u64,
    /// Which member of an ensemble this run trains: another number changes the initial
    /// weights, the batch order and the augmentation but not the validation split, so the
    /// members of an ensemble are all judged on rows none of them trained on.
    #[serde(default)]
    pub member: u64,
}

impl Default for TrainConfig {
    /// Digit Lab's own recipe (with the default preset).
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 32,
            optimizer: OptimizerConfig::keras_adam(),
            learning_rate: 2e-3,
            lr_decay_per_epoch: 1.0,
            schedule: LrSchedule::ONE_CYCLE,
            label_smoothing: 0.0,
            plateau: None,
            early_stopping: None,
            checkpoint_monitor: Monitor::ValAccuracy,
            augmentation: AugmentConfig::default(),
            augment_fade: DEFAULT_AUGMENT_FADE,
            validation_fraction: 0.1,
            seed: 42,
            member: 0,
        }
    }
}

/// Digit Lab's recipe fades the augmentation out over the last part of the run (README.md,
/// "Recipe", has the measurements behind the figure).
pub const DEFAULT_AUGMENT_FADE: f64 = 0.5;

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
    /// The seed of the weights' initialisation, batch order and augmentation: `seed` itself for
    /// member 0 (runs from before ensembles replay exactly), a mix of both otherwise.
    pub fn training_seed(&self) -> u64 {
        match self.member {
            0 => self.seed,
            member => crate::rng::Rng::derive(self.seed, 0xE25E_0000 + member).next_u64(),
        }
    }

    /// The augmentation of batch `step` (0-based) of `total` planned batches: the full ranges
    /// until the fade starts, then shrinking linearly to none at the last planned batch.
    pub fn augmentation_at(&self, step: usize, total: usize) -> AugmentConfig {
        if self.augment_fade <= 0.0 {
            return self.augmentation;
        }
        let strength = ((1.0 - planned_progress(step, total)) / self.augment_fade).min(1.0);
        self.augmentation.scaled(strength as f32)
    }

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
        if let LrSchedule::OneCycle {
            warmup,
            final_fraction,
        } = self.schedule
        {
            if !(0.0..0.5).contains(&warmup) {
                return fail("one-cycle warm-up", "must be in [0, 0.5) of the run");
            }
            if !(0.0..=1.0).contains(&final_fraction) {
                return fail("one-cycle final fraction", "must be in [0, 1]");
            }
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return fail("label smoothing", "must be in [0, 0.5)");
        }
        if !(0.0..=1.0).contains(&self.augment_fade) {
            return fail("augmentation fade", "must be in [0, 1] of the run");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_warms_up_peaks_and_anneals_to_its_final_fraction_over_any_budget() {
        let schedule = LrSchedule::ONE_CYCLE;
        for total in [2 * 591, 4 * 591, 20 * 591] {
            let factors: Vec<f64> = (0..total).map(|s| schedule.factor(s, total)).collect();
            assert!((factors[0] - 0.1).abs() < 1e-12, "starts at a tenth");
            let peak = factors.iter().cloned().fold(0.0, f64::max);
            assert!((peak - 1.0).abs() < 1e-3, "reaches the full rate: {peak}");
            assert!((factors[total - 1] - 1e-3).abs() < 1e-12, "ends annealed");
            let top = factors.iter().position(|&f| f == peak).unwrap();
            assert!(factors[..=top].windows(2).all(|w| w[1] >= w[0]));
            assert!(factors[top..].windows(2).all(|w| w[1] <= w[0]));
        }
        // Degenerate budgets stay finite and positive.
        for total in [0, 1, 2] {
            for step in 0..3 {
                let f = schedule.factor(step, total);
                assert!(f.is_finite() && f > 0.0 && f <= 1.0, "{total} {step} {f}");
            }
        }
        assert_eq!(LrSchedule::Stepwise.factor(7, 10), 1.0);
        let own = LrSchedule::OneCycle {
            warmup: 0.2,
            final_fraction: 0.5,
        };
        assert_eq!(own.with_one_cycle(true), own, "keeps its own shape");
        assert_eq!(own.with_one_cycle(false), LrSchedule::Stepwise);
        assert_eq!(
            LrSchedule::Stepwise.with_one_cycle(true),
            LrSchedule::ONE_CYCLE
        );
    }

    #[test]
    fn augmentation_fades_to_none_over_the_last_part_of_any_budget() {
        let config = TrainConfig {
            augment_fade: 0.25,
            ..TrainConfig::default()
        };
        let full = config.augmentation;
        for total in [2 * 591, 4 * 591, 20 * 591] {
            let at = |step: usize| config.augmentation_at(step, total);
            assert_eq!(at(0), full);
            assert_eq!(at(total * 3 / 4 - 2), full, "whole until the fade");
            let half = at((total - 1) * 7 / 8);
            assert!((half.rotation_degrees - full.rotation_degrees / 2.0).abs() < 0.05);
            assert!((half.zoom - full.zoom / 2.0).abs() < 1e-3);
            assert!(
                at(total - 1).is_identity(),
                "nothing left at the last batch"
            );
            let rotations: Vec<f32> = (0..total).map(|s| at(s).rotation_degrees).collect();
            assert!(rotations.windows(2).all(|w| w[1] <= w[0]), "only shrinks");
        }
        let whole = TrainConfig {
            augment_fade: 0.0,
            ..config.clone()
        };
        assert_eq!(whole.augmentation_at(999, 1000), full);
        let bad = TrainConfig {
            augment_fade: 1.5,
            ..config
        };
        assert_eq!(bad.validate().unwrap_err().field, "augmentation fade");
    }

    #[test]
    fn out_of_range_schedule_and_smoothing_are_rejected_by_field() {
        let bad_warmup = TrainConfig {
            schedule: LrSchedule::OneCycle {
                warmup: 0.7,
                final_fraction: 0.0,
            },
            ..TrainConfig::default()
        };
        assert_eq!(
            bad_warmup.validate().unwrap_err().field,
            "one-cycle warm-up"
        );
        let bad_smoothing = TrainConfig {
            label_smoothing: -0.1,
            ..TrainConfig::default()
        };
        assert_eq!(
            bad_smoothing.validate().unwrap_err().field,
            "label smoothing"
        );
        assert!(TrainConfig::default().validate().is_ok());
    }

    #[test]
    fn ensemble_members_share_the_split_seed_but_not_the_training_seed() {
        let plain = TrainConfig::default();
        assert_eq!(
            plain.training_seed(),
            plain.seed,
            "member 0 replays old runs"
        );
        let seeds: Vec<u64> = (0..4)
            .map(|member| {
                TrainConfig {
                    member,
                    ..plain.clone()
                }
                .training_seed()
            })
            .collect();
        for (i, a) in seeds.iter().enumerate() {
            assert!(seeds[i + 1..].iter().all(|b| b != a), "{seeds:?}");
        }
    }

    #[test]
    fn configs_saved_before_the_schedule_existed_read_as_stepwise_plain_runs() {
        let mut value = serde_json::to_value(TrainConfig::default()).unwrap();
        let object = value.as_object_mut().unwrap();
        object.remove("schedule");
        object.remove("label_smoothing");
        object.remove("member");
        object.remove("augment_fade");
        let old: TrainConfig = serde_json::from_value(value).unwrap();
        assert_eq!(old.augment_fade, 0.0, "augmented to the end");
        assert_eq!(old.schedule, LrSchedule::Stepwise);
        assert_eq!(old.label_smoothing, 0.0);
        assert_eq!(old.member, 0);
    }
}

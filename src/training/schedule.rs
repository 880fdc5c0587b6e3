//! Keras' epoch-end callbacks as plain state machines: ReduceLROnPlateau, EarlyStopping and the
//! best-checkpoint tracker (ModelCheckpoint with `save_best_only`).

use super::config::{EarlyStoppingConfig, Monitor, PlateauConfig};

/// Validation metrics of one epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValMetrics {
    pub loss: f64,
    pub accuracy: f64,
}

impl ValMetrics {
    pub fn get(&self, monitor: Monitor) -> f64 {
        match monitor {
            Monitor::ValAccuracy => self.accuracy,
            Monitor::ValLoss => self.loss,
        }
    }
}

/// Epochs since the monitored value last improved (the counter both callbacks share).
#[derive(Clone, Debug)]
struct Wait {
    monitor: Monitor,
    min_delta: f64,
    best: Option<f64>,
    epochs: usize,
}

impl Wait {
    fn new(monitor: Monitor, min_delta: f64) -> Self {
        Self {
            monitor,
            min_delta,
            best: None,
            epochs: 0,
        }
    }

    /// Record an epoch; returns how many epochs in a row have not improved.
    fn record(&mut self, metrics: ValMetrics) -> usize {
        let value = metrics.get(self.monitor);
        if self.monitor.improves(value, self.best, self.min_delta) {
            self.best = Some(value);
            self.epochs = 0;
        } else {
            self.epochs += 1;
        }
        self.epochs
    }
}

#[derive(Clone, Debug)]
pub struct Plateau {
    config: PlateauConfig,
    wait: Wait,
}

impl Plateau {
    pub fn new(config: PlateauConfig) -> Self {
        Self {
            wait: Wait::new(config.monitor, config.min_delta),
            config,
        }
    }

    /// The learning rate to use from the next epoch on.
    pub fn on_epoch_end(&mut self, metrics: ValMetrics, lr: f64) -> f64 {
        if self.wait.record(metrics) >= self.config.patience && lr > self.config.min_lr {
            self.wait.epochs = 0;
            return (lr * self.config.factor).max(self.config.min_lr);
        }
        lr
    }
}

#[derive(Clone, Debug)]
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    wait: Wait,
}

impl EarlyStopping {
    pub fn new(config: EarlyStoppingConfig) -> Self {
        Self {
            wait: Wait::new(config.monitor, config.min_delta),
            config,
        }
    }

    /// True when training should stop after this epoch.
    pub fn on_epoch_end(&mut self, metrics: ValMetrics) -> bool {
        self.wait.record(metrics) >= self.config.patience
    }
}

/// Remembers which epoch had the best monitored value.
#[derive(Clone, Debug)]
pub struct BestTracker {
    monitor: Monitor,
    best: Option<f64>,
    pub epoch: Option<usize>,
}

impl BestTracker {
    pub fn new(monitor: Monitor) -> Self {
        Self {
            monitor,
            best: None,
            epoch: None,
        }
    }

    /// True when this epoch is the new best (and should be checkpointed).
    pub fn on_epoch_end(&mut self, epoch: usize, metrics: ValMetrics) -> bool {
        let value = metrics.get(self.monitor);
        let better = self.monitor.improves(value, self.best, 0.0);
        if better {
            self.best = Some(value);
            self.epoch = Some(epoch);
        }
        better
    }

    pub fn best(&self) -> Option<f64> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(accuracy: f64) -> ValMetrics {
        ValMetrics {
            loss: 1.0 - accuracy,
            accuracy,
        }
    }

    #[test]
    fn plateau_halves_after_patience_epochs_without_improvement_and_respects_min_lr() {
        let mut plateau = Plateau::new(PlateauConfig::keras_notebooks());
        let mut lr = 1e-3;
        let history = [0.90, 0.95, 0.95, 0.95005, 0.949];
        let lrs: Vec<f64> = history
            .iter()
            .map(|&a| {
                lr = plateau.on_epoch_end(acc(a), lr);
                lr
            })
            .collect();
        // 0.95005 does not beat 0.95 by min_delta 1e-4: epochs 3, 4 and 5 are the three flat
        // epochs, so the rate halves after the fifth.
        assert_eq!(lrs, [1e-3, 1e-3, 1e-3, 1e-3, 5e-4]);
        // The wait starts over after a reduction.
        for _ in 0..2 {
            lr = plateau.on_epoch_end(acc(0.949), lr);
        }
        assert_eq!(lr, 5e-4);
        let mut tiny = 1.5e-5;
        for _ in 0..3 {
            tiny = plateau.on_epoch_end(acc(0.1), tiny);
        }
        assert_eq!(tiny, 1e-5, "never below min_lr");
        for _ in 0..6 {
            tiny = plateau.on_epoch_end(acc(0.1), tiny);
        }
        assert_eq!(tiny, 1e-5);
    }

    #[test]
    fn early_stopping_waits_patience_epochs_on_loss() {
        let mut stop = EarlyStopping::new(EarlyStoppingConfig {
            monitor: Monitor::ValLoss,
            patience: 2,
            min_delta: 0.0,
        });
        let losses = [0.5, 0.4, 0.41, 0.39, 0.40, 0.45];
        let decisions: Vec<bool> = losses
            .iter()
            .map(|&loss| {
                stop.on_epoch_end(ValMetrics {
                    loss,
                    accuracy: 0.0,
                })
            })
            .collect();
        assert_eq!(decisions, [false, false, false, false, false, true]);
    }

    #[test]
    fn best_tracker_keeps_the_best_epoch() {
        let mut best = BestTracker::new(Monitor::ValAccuracy);
        let flags: Vec<bool> = [0.9, 0.95, 0.94, 0.95, 0.96]
            .iter()
            .enumerate()
            .map(|(epoch, &a)| best.on_epoch_end(epoch, acc(a)))
            .collect();
        assert_eq!(flags, [true, true, false, false, true]);
        assert_eq!(best.epoch, Some(4));
        assert!(!best.on_epoch_end(5, acc(f64::NAN)));
    }
}

//! The Train panel's recipe form as plain data: filled from a preset's recipe, read back into a
//! [`TrainConfig`] with a failure that names the field when something does not parse.

use digit_lab::augment::AugmentConfig;
use digit_lab::model::Preset;
use digit_lab::protocol::{Failure, Operation, Problem};
use digit_lab::training::config::{
    EarlyStoppingConfig, LrSchedule, Monitor, OptimizerConfig, PlateauConfig, TrainConfig,
};

const SAMPLE_PRESET: Preset = Preset::Small;
const SAMPLE_EPOCHS: usize = 6;

/// The fields as the user typed them (text, so any input can be typed and then explained).
#[derive(Clone, Debug, PartialEq)]
pub struct RecipeForm {
    pub preset: Preset,
    pub epochs: String,
    pub batch_size: String,
    /// "adam" or "rmsprop".
    pub optimizer: String,
    pub learning_rate: String,
    pub lr_decay: String,
    pub label_smoothing: String,
    pub validation_fraction: String,
    pub seed: String,
    /// Ensemble member number: members share the seed's validation split and differ in all
    /// else random, so they can be combined into one ensemble file.
    pub member: String,
    pub rotation: String,
    pub zoom: String,
    pub width_shift: String,
    pub height_shift: String,
    pub shear: String,
    /// Fraction of the run at its end over which the augmentation fades out.
    pub augment_fade: String,
    /// One-cycle schedule over the run (the recipe's own warm-up and floor) or stepwise.
    pub one_cycle: bool,
    pub plateau: bool,
    pub early_stopping: bool,
    pub patience: String,
}

impl RecipeForm {
    /// Every field from a preset's notebook recipe.
    pub fn from_preset(preset: Preset) -> Self {
        Self::from_config(preset, &preset.recipe())
    }

    /// Every field from a run's recipe (a past run's, to train it again or change it).
    pub fn from_config(preset: Preset, c: &TrainConfig) -> Self {
        let a = c.augmentation;
        Self {
            preset,
            epochs: c.epochs.to_string(),
            batch_size: c.batch_size.to_string(),
            optimizer: c.optimizer.name().to_string(),
            learning_rate: c.learning_rate.to_string(),
            lr_decay: c.lr_decay_per_epoch.to_string(),
            label_smoothing: c.label_smoothing.to_string(),
            validation_fraction: c.validation_fraction.to_string(),
            seed: c.seed.to_string(),
            member: c.member.to_string(),
            rotation: a.rotation_degrees.to_string(),
            zoom: a.zoom.to_string(),
            width_shift: a.width_shift.to_string(),
            height_shift: a.height_shift.to_string(),
            shear: a.shear_degrees.to_string(),
            augment_fade: c.augment_fade.to_string(),
            one_cycle: matches!(c.schedule, LrSchedule::OneCycle { .. }),
            plateau: c.plateau.is_some(),
            early_stopping: c.early_stopping.is_some(),
            patience: c.early_stopping.map_or(5, |e| e.patience).to_string(),
        }
    }

    /// A recipe for the built-in sample (4,500 training digits): short enough for a couple of
    /// minutes on the browser's CPU path, long enough for ≥ 97% validation accuracy (README,
    /// "Sample data", has the figures). The preset's own recipe otherwise.
    pub fn for_sample() -> Self {
        Self {
            epochs: SAMPLE_EPOCHS.to_string(),
            ..Self::from_preset(SAMPLE_PRESET)
        }
    }

    /// The text fields in a fixed order (for a form that binds one input to each).
    pub fn text_values(&self) -> [String; 16] {
        self.clone().text_values_mut().map(|value| value.clone())
    }

    pub fn text_values_mut(&mut self) -> [&mut String; 16] {
        [
            &mut self.epochs,
            &mut self.batch_size,
            &mut self.optimizer,
            &mut self.learning_rate,
            &mut self.lr_decay,
            &mut self.label_smoothing,
            &mut self.validation_fraction,
            &mut self.seed,
            &mut self.member,
            &mut self.rotation,
            &mut self.zoom,
            &mut self.width_shift,
            &mut self.height_shift,
            &mut self.shear,
            &mut self.augment_fade,
            &mut self.patience,
        ]
    }

    pub fn augmentation(&self) -> Result<AugmentConfig, Failure> {
        Ok(AugmentConfig {
            rotation_degrees: number(&self.rotation, "rotation")?,
            zoom: number(&self.zoom, "zoom")?,
            width_shift: number(&self.width_shift, "width shift")?,
            height_shift: number(&self.height_shift, "height shift")?,
            shear_degrees: number(&self.shear, "shear")?,
        })
    }

    /// The preset's recipe with the form's values over it; the callbacks keep the recipe's own
    /// settings when it has them.
    pub fn config(&self) -> Result<TrainConfig, Failure> {
        let recipe = self.preset.recipe();
        let optimizer = match (self.optimizer.as_str(), recipe.optimizer) {
            ("adam", OptimizerConfig::Adam { .. })
            | ("rmsprop", OptimizerConfig::RmsProp { .. }) => recipe.optimizer,
            ("adam", _) => OptimizerConfig::keras_adam(),
            _ => OptimizerConfig::rmsprop_with_epsilon(1e-7),
        };
        let plateau = self.plateau.then(|| {
            recipe
                .plateau
                .unwrap_or_else(PlateauConfig::keras_notebooks)
        });
        let early_stopping = match self.early_stopping {
            false => None,
            true => Some(EarlyStoppingConfig {
                patience: number(&self.patience, "patience")?,
                ..recipe.early_stopping.unwrap_or(EarlyStoppingConfig {
                    monitor: Monitor::ValLoss,
                    patience: 5,
                    min_delta: 0.0,
                })
            }),
        };
        let config = TrainConfig {
            epochs: number(&self.epochs, "epochs")?,
            batch_size: number(&self.batch_size, "batch size")?,
            optimizer,
            learning_rate: number(&self.learning_rate, "learning rate")?,
            lr_decay_per_epoch: number(&self.lr_decay, "learning-rate decay")?,
            schedule: recipe.schedule.with_one_cycle(self.one_cycle),
            label_smoothing: number(&self.label_smoothing, "label smoothing")?,
            plateau,
            early_stopping,
            checkpoint_monitor: recipe.checkpoint_monitor,
            augmentation: self.augmentation()?,
            augment_fade: number(&self.augment_fade, "augmentation fade")?,
            validation_fraction: number(&self.validation_fraction, "validation fraction")?,
            seed: number(&self.seed, "seed")?,
            member: number(&self.member, "member")?,
        };
        config
            .validate()
            .map_err(|e| settings(e.field, e.problem))?;
        Ok(config)
    }
}

fn settings(field: &str, problem: String) -> Failure {
    Failure::new(
        Operation::TrainSettings,
        Problem::Settings {
            field: field.to_string(),
            problem,
        },
    )
}

fn number<T: std::str::FromStr>(text: &str, field: &str) -> Result<T, Failure> {
    text.trim()
        .parse()
        .map_err(|_| settings(field, format!("{text:?} is not a valid number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_reads_back_as_its_own_recipe() {
        for preset in Preset::ALL {
            let form = RecipeForm::from_preset(preset);
            assert_eq!(form.config(), Ok(preset.recipe()), "{preset}");
        }
    }

    #[test]
    fn a_changed_recipe_reads_back_as_itself() {
        let mut form = RecipeForm::from_preset(Preset::DigitLab);
        form.epochs = "7".into();
        form.seed = "9".into();
        form.rotation = "5".into();
        form.one_cycle = false;
        form.early_stopping = true;
        form.patience = "3".into();
        let config = form.config().unwrap();
        let again = RecipeForm::from_config(Preset::DigitLab, &config);
        assert_eq!(again.config(), Ok(config));
        assert_eq!((again.epochs.as_str(), again.patience.as_str()), ("7", "3"));
    }

    #[test]
    fn the_sample_recipe_is_its_preset_recipe_with_fewer_epochs() {
        let config = RecipeForm::for_sample().config().unwrap();
        let recipe = SAMPLE_PRESET.recipe();
        assert_eq!(config.epochs, SAMPLE_EPOCHS);
        assert!(SAMPLE_EPOCHS < recipe.epochs);
        assert_eq!(
            TrainConfig {
                epochs: recipe.epochs,
                ..config
            },
            recipe
        );
    }

    #[test]
    fn text_values_write_back_where_they_were_read() {
        let form = RecipeForm::from_preset(Preset::KaggleClassic);
        let mut copy = RecipeForm::from_preset(Preset::Tiny);
        copy.preset = form.preset;
        for (value, text) in copy.text_values_mut().into_iter().zip(form.text_values()) {
            *value = text;
        }
        copy.one_cycle = form.one_cycle;
        copy.plateau = form.plateau;
        copy.early_stopping = form.early_stopping;
        assert_eq!(copy, form);
    }

    #[test]
    fn edits_apply_and_bad_fields_are_named() {
        let mut form = RecipeForm::from_preset(Preset::DigitLab);
        form.epochs = " 4 ".into();
        form.early_stopping = true;
        form.patience = "2".into();
        let config = form.config().unwrap();
        assert_eq!(config.epochs, 4);
        assert_eq!(config.early_stopping.map(|e| e.patience), Some(2));
        assert_eq!(config.schedule, LrSchedule::ONE_CYCLE);
        assert_eq!(config.member, 0);
        form.member = "2".into();
        let member_two = form.config().unwrap();
        assert_eq!((member_two.member, member_two.seed), (2, config.seed));
        form.member = "-1".into();
        assert!(matches!(
            form.config().unwrap_err().problem,
            Problem::Settings { field, .. } if field == "member"
        ));
        form.member = "0".into();

        form.one_cycle = false;
        form.label_smoothing = "0.1".into();
        let config = form.config().unwrap();
        assert_eq!(config.schedule, LrSchedule::Stepwise);
        assert_eq!(config.label_smoothing, 0.1);
        form.one_cycle = true;
        form.label_smoothing = "0.6".into();
        assert!(matches!(
            form.config().unwrap_err().problem,
            Problem::Settings { field, .. } if field == "label smoothing"
        ));
        form.label_smoothing = "0".into();

        form.learning_rate = "fast".into();
        let failure = form.config().unwrap_err();
        assert_eq!(failure.operation, Operation::TrainSettings);
        assert!(
            matches!(&failure.problem, Problem::Settings { field, .. } if field == "learning rate")
        );
        assert!(
            failure
                .to_string()
                .contains("\"fast\" is not a valid number")
        );

        form.learning_rate = "0.001".into();
        // Too few, or so many that epoch × batch counts could overflow.
        for epochs in ["0", "1001", "4294967296"] {
            form.epochs = epochs.into();
            assert!(matches!(
                form.config().unwrap_err().problem,
                Problem::Settings { field, .. } if field == "epochs"
            ));
        }
    }
}

//! Fine-tuning the current model on the user's own drawings mixed with train.csv, so it learns
//! their handwriting without forgetting the rest; and classifying a whole set of drawings.

use super::*;

/// The drawings' share of each fine-tuning epoch (they are repeated to reach it): enough to
/// learn a hand, too little to forget train.csv.
const PERSONAL_SHARE: usize = 10;
/// Most copies of one drawing in an epoch.
const MAX_REPEATS: usize = 100;

impl Session {
    /// Class probabilities (10 per image) of each image, in order, by the model in use.
    pub(super) async fn classify_many(&self, id: u64, images: Vec<Vec<u8>>, emit: Emit<'_>) {
        let operation = Operation::Classify;
        let Some((nets, _)) = self.inference_model() else {
            return emit(needs(operation, Prerequisite::Model), None);
        };
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        if images
            .iter()
            .any(|i| i.len() != crate::data::csv::IMAGE_PIXELS)
        {
            let problem = Problem::Input("every drawing must be 28x28 pixels".into());
            return emit(failed(operation, problem), None);
        }
        let rows: Vec<usize> = (0..images.len()).collect();
        let digits = Digits::new(images.concat(), None);
        let result = predict_ensemble(
            &nets,
            &digits,
            &rows,
            &device.device,
            EVAL_BATCH_SIZE,
            None,
            &mut |_, _| {},
        )
        .await;
        match result {
            Ok(probabilities) => emit(Reply::ClassifiedMany { id, probabilities }, None),
            Err(e) => emit(device_failed(operation, e), None),
        }
    }

    /// Train the current model further (its first member, for an ensemble) on train.csv with
    /// the drawings mixed in, judged on the model's own validation split; the run is a normal
    /// training run (events, checkpoints, the far-worse rule at the end).
    pub(super) fn start_fine_tune(
        &mut self,
        epochs: usize,
        drawings: Vec<(u8, Vec<u8>)>,
        emit: Emit<'_>,
    ) {
        let operation = Operation::Train;
        let Some(train) = self.data_for_run(emit) else {
            return;
        };
        let Some(model) = self.model.as_ref() else {
            return emit(needs(operation, Prerequisite::Model), None);
        };
        let Some((preset, config)) = model.meta.fine_tune_recipe(epochs) else {
            let problem = Problem::Input(
                "fine-tuning needs a model of one of the presets; this one was built otherwise"
                    .into(),
            );
            return emit(failed(operation, problem), None);
        };
        let bad = drawings
            .iter()
            .any(|(label, pixels)| *label > 9 || pixels.len() != crate::data::csv::IMAGE_PIXELS);
        if drawings.is_empty() || bad {
            let problem =
                Problem::Input("label at least one 28x28 drawing with a digit 0-9 first".into());
            return emit(failed(operation, problem), None);
        }
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        let split = model.meta.validation_split(&train);
        let (digits, split, extra_rows) = mixed_in(&train, split, &drawings);
        let built = Trainer::new(
            model.nets[0].clone(),
            Arc::new(digits),
            split,
            config,
            device.device.clone(),
            device.description.clone(),
        )
        .map_err(Problem::from);
        let architecture = model.meta.architecture.clone();
        self.begin_run(built, preset, architecture, extra_rows, emit);
    }
}

/// train.csv with the drawings appended after its rows, each repeated so they make up about
/// 1/[`PERSONAL_SHARE`] of an epoch; the split's training rows gain the copies, its validation
/// rows stay train.csv's. Returns the data, the split and how many rows were added to training.
fn mixed_in(train: &Digits, split: Split, drawings: &[(u8, Vec<u8>)]) -> (Digits, Split, usize) {
    let repeats = (split.train.len() / (PERSONAL_SHARE * drawings.len())).clamp(1, MAX_REPEATS);
    let mut pixels = Vec::with_capacity((train.len() + drawings.len()) * 784);
    let mut labels = Vec::with_capacity(train.len() + drawings.len());
    for row in 0..train.len() {
        pixels.extend_from_slice(train.image(row));
        labels.push(train.label(row).unwrap_or(0));
    }
    for (label, image) in drawings {
        pixels.extend_from_slice(image);
        labels.push(*label);
    }
    let mut rows = split.train;
    for _ in 0..repeats {
        rows.extend(train.len()..train.len() + drawings.len());
    }
    let extra_rows = repeats * drawings.len();
    let split = Split {
        train: rows,
        validation: split.validation,
    };
    (Digits::new(pixels, Some(labels)), split, extra_rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fine_tune_keeps_the_recipe_at_a_quarter_of_its_rate() {
        let preset = Preset::Small;
        let meta = ModelMeta::new(Some(preset), preset.architecture(), None);
        let (chosen, config) = meta.fine_tune_recipe(2).unwrap();
        let recipe = preset.recipe();
        assert_eq!(
            (chosen, config.epochs, config.early_stopping),
            (preset, 2, None)
        );
        assert_eq!(config.learning_rate, recipe.learning_rate / 4.0);
        assert_eq!(
            (config.seed, config.validation_fraction),
            (recipe.seed, recipe.validation_fraction)
        );
        let custom = ModelMeta::new(None, preset.architecture(), None);
        assert_eq!(
            custom.fine_tune_recipe(2),
            None,
            "no preset, nothing to fine-tune with"
        );
    }

    #[test]
    fn drawings_join_training_only_and_make_up_a_tenth_of_it() {
        let pixels: Vec<u8> = (0..100 * 784).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
        let train = Digits::new(pixels, Some(labels));
        let split = train.split(0.2, 42);
        let validation = split.validation.clone();
        let trained = split.train.len();
        let drawings = vec![(7u8, vec![200u8; 784]), (3u8, vec![100u8; 784])];
        let (digits, mixed, extra) = mixed_in(&train, split, &drawings);
        assert_eq!(digits.len(), 102);
        assert_eq!((digits.label(100), digits.label(101)), (Some(7), Some(3)));
        assert_eq!(digits.image(101), &[100u8; 784][..]);
        assert_eq!(digits.image(5), train.image(5));
        assert_eq!(mixed.validation, validation, "judged on the same rows");
        assert_eq!(extra, 2 * (trained / 20).max(1));
        assert_eq!(mixed.train.len(), trained + extra);
        assert!(mixed.train[trained..].iter().all(|&r| r >= 100));
    }
}

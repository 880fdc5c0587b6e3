//! Predictions: the drawing's classification (with its round-trip latency) and test.csv's
//! labels with the submission text.

use digit_lab::model_file::ModelMeta;
use digit_lab::protocol::{DataRole, DigitImage, Failure, Operation, Reply};

use super::insights::Provenance;
use super::{Feature, Incoming};

#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    pub pixels: Vec<u8>,
    pub probabilities: Vec<f32>,
    /// Milliseconds from sending the drawing to receiving the answer.
    pub latency_ms: f64,
}

impl Classification {
    /// The most probable digit; none when the probabilities are not numbers.
    pub fn top_class(&self) -> Option<usize> {
        self.probabilities
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_finite())
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(class, _)| class)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    pub preview: Vec<DigitImage>,
    pub rows: usize,
    pub csv: String,
    /// The model that labelled the rows.
    pub model: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PredictState {
    pub classification: Option<Classification>,
    classify_sent_ms: f64,
    pub predictions: Option<Predictions>,
    /// (done, total) while test.csv is being predicted.
    pub progress: Option<(usize, usize)>,
    model: Provenance,
}

impl PredictState {
    /// A drawing was sent to be classified.
    pub fn classify_sent(&mut self, now_ms: f64) {
        self.classify_sent_ms = now_ms;
    }

    /// The canvas is empty.
    pub fn clear_classification(&mut self) {
        self.classification = None;
    }

    /// Predicting every row of a test.csv of `rows` rows was asked for.
    pub fn prediction_started(&mut self, rows: usize) {
        self.predictions = None;
        self.progress = Some((0, rows));
    }
}

impl Feature for PredictState {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        let model_changed = self.model.follow(incoming.reply);
        match incoming.reply {
            Reply::Classification {
                pixels,
                probabilities,
            } => {
                self.classification = Some(Classification {
                    pixels: pixels.clone(),
                    probabilities: probabilities.clone(),
                    latency_ms: incoming.now_ms - self.classify_sent_ms,
                })
            }
            Reply::PredictProgress { done, total } => self.progress = Some((*done, *total)),
            Reply::Predictions { preview, rows } => {
                self.progress = None;
                let csv = incoming
                    .bytes
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                self.predictions = Some(Predictions {
                    preview: preview.clone(),
                    rows: *rows,
                    csv,
                    model: self.model.label(),
                });
            }
            Reply::DataLoaded(summary) if summary.role == DataRole::Test => self.predictions = None,
            // A submission (and an answer) of the previous model must not pass for this one's.
            Reply::ModelReady(_) => {
                self.classification = None;
                self.predictions = None;
            }
            Reply::Error(Failure {
                operation: Operation::PredictTest,
                ..
            }) => self.progress = None,
            // The prediction died with the worker: the button is usable again.
            Reply::WorkerCrashed { .. } => self.progress = None,
            _ => return model_changed,
        }
        true
    }
}

/// What the TTA switch does for this model: the variants its validation chose, that none
/// helped it (so predictions stay plain), or the default for a model with no choice recorded.
pub fn tta_description(meta: Option<&ModelMeta>) -> String {
    let chosen = meta.and_then(|m| m.tta);
    match (chosen, meta.and_then(ModelMeta::prediction_tta)) {
        (Some(choice), Some(tta)) => format!(
            "test-time augmentation: {} (what this model's validation chose: {:.2}% against \
             {:.2}% plain)",
            tta.describe(),
            choice.accuracy * 100.0,
            choice.plain_accuracy * 100.0
        ),
        (Some(choice), None) => format!(
            "test-time augmentation: none helped this model on its validation rows ({:.2}% \
             plain), so predictions stay plain",
            choice.plain_accuracy * 100.0
        ),
        (None, _) => {
            "test-time augmentation (the digit and four views shifted by a pixel)".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use digit_lab::evaluation::tta::{Tta, TtaChoice};
    use digit_lab::model::Preset;
    use digit_lab::protocol::{Prerequisite, Problem};

    #[test]
    fn the_tta_switch_says_what_validation_chose_for_the_model() {
        let mut meta = ModelMeta::new(Some(Preset::Tiny), Preset::Tiny.architecture(), None);
        let default = tta_description(Some(&meta));
        assert!(default.contains("shifted by a pixel"), "{default}");
        assert_eq!(tta_description(None), default);
        meta.tta = Some(TtaChoice {
            tta: Some(Tta::CANDIDATES[1]),
            plain_accuracy: 0.9962,
            accuracy: 0.9967,
            rows: 4199,
        });
        let chosen = tta_description(Some(&meta));
        assert!(chosen.contains("±5° rotations"), "{chosen}");
        assert!(chosen.contains("99.67% against 99.62% plain"), "{chosen}");
        meta.tta = Some(TtaChoice {
            tta: None,
            plain_accuracy: 0.9929,
            accuracy: 0.9929,
            rows: 4199,
        });
        let none = tta_description(Some(&meta));
        assert!(none.contains("stay plain"), "{none}");
    }

    #[test]
    fn the_latency_runs_from_sending_to_the_answer() {
        let mut state = PredictState::default();
        state.classify_sent(100.0);
        let reply = Reply::Classification {
            pixels: vec![0; 784],
            probabilities: vec![0.1, 0.7, 0.2],
        };
        state.apply(&Incoming::new(&reply, None, 112.5));
        let c = state.classification.as_ref().unwrap();
        assert_eq!(c.latency_ms, 12.5);
        assert_eq!(c.top_class(), Some(1));
    }

    #[test]
    fn not_a_number_is_no_answer() {
        let c = Classification {
            pixels: Vec::new(),
            probabilities: vec![f32::NAN; 10],
            latency_ms: 0.0,
        };
        assert_eq!(c.top_class(), None);
    }

    #[test]
    fn a_failed_prediction_stops_the_progress_and_a_finished_one_keeps_its_csv() {
        let mut state = PredictState::default();
        state.prediction_started(28000);
        assert_eq!(state.progress, Some((0, 28000)));
        let failed = Reply::Error(Failure::needs(Operation::PredictTest, Prerequisite::Model));
        assert!(state.apply(&Incoming::new(&failed, None, 0.0)));
        assert_eq!(state.progress, None);
        let other = Reply::Error(Failure::new(Operation::Train, Problem::Input("x".into())));
        state.prediction_started(3);
        assert!(!state.apply(&Incoming::new(&other, None, 0.0)));

        let done = Reply::Predictions {
            preview: Vec::new(),
            rows: 2,
        };
        let csv = b"ImageId,Label\n1,7\n2,2\n";
        state.apply(&Incoming::new(&done, Some(csv), 0.0));
        assert_eq!(state.progress, None);
        let predictions = state.predictions.as_ref().unwrap();
        assert_eq!(predictions.csv, "ImageId,Label\n1,7\n2,2\n");
        assert_eq!(predictions.rows, 2);
    }

    #[test]
    fn a_new_model_or_a_crash_clears_what_the_old_worker_was_doing() {
        let mut state = PredictState::default();
        let done = Reply::Predictions {
            preview: Vec::new(),
            rows: 1,
        };
        state.apply(&Incoming::new(&done, Some(b"ImageId,Label\n1,7\n"), 0.0));
        assert_eq!(state.predictions.as_ref().unwrap().model, "no model");
        let architecture = digit_lab::model::Preset::Small.architecture();
        let ready = Reply::ModelReady(Box::new(digit_lab::protocol::ModelInfo {
            source: digit_lab::protocol::ModelSource::Trained,
            meta: digit_lab::model_file::ModelMeta::new(None, architecture.clone(), None),
            layers: architecture.summary().unwrap(),
            parameters: 0,
        }));
        state.apply(&Incoming::new(&ready, None, 0.0));
        assert_eq!(
            state.predictions, None,
            "the old model's submission is gone"
        );
        state.apply(&Incoming::new(&done, Some(b"ImageId,Label\n1,1\n"), 0.0));
        assert_eq!(
            state.predictions.as_ref().unwrap().model,
            "custom (trained in this tab)"
        );
        state.prediction_started(10);
        let crash = Reply::WorkerCrashed {
            message: "unreachable".into(),
        };
        state.apply(&Incoming::new(&crash, None, 0.0));
        assert_eq!(state.progress, None);
    }
}

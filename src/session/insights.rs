//! Turning validation probabilities into what the insight views show.

use super::*;
use crate::data::dataset::Digits;
use crate::evaluation::metrics::{
    ClassReport, ConfusionMatrix, RankedPrediction, top_correct, top_errors,
};
use crate::evaluation::predict::argmax_rows;
use crate::protocol::GalleryItem;

/// How many errors (and correct predictions) the galleries show unless asked otherwise.
pub const DEFAULT_GALLERY: usize = 12;

/// Probabilities of the validation rows (`rows[i]` is the train.csv row of position `i`).
pub struct Validation {
    pub epoch: Option<usize>,
    pub rows: Vec<usize>,
    pub probabilities: Vec<f32>,
}

impl Validation {
    fn truth(&self, train: &Digits) -> Vec<u8> {
        self.rows
            .iter()
            .map(|&row| train.label(row).unwrap_or(0))
            .collect()
    }
}

pub fn build(validation: &Validation, train: &Digits, gallery: usize) -> Insights {
    let truth = validation.truth(train);
    let predicted = argmax_rows(&validation.probabilities);
    let confusion = ConfusionMatrix::new(&truth, &predicted);
    let item = |prediction: RankedPrediction| GalleryItem {
        pixels: train.image(validation.rows[prediction.position]).to_vec(),
        prediction,
    };
    Insights {
        epoch: validation.epoch,
        validation_rows: validation.rows.len(),
        report: ClassReport::new(&confusion),
        confusion,
        errors: top_errors(&validation.probabilities, &truth, gallery)
            .into_iter()
            .map(item)
            .collect(),
        correct: top_correct(&validation.probabilities, &truth, gallery)
            .into_iter()
            .map(item)
            .collect(),
    }
}

/// The validation digits of one confusion-matrix cell (up to `limit`) and how many there are.
pub fn cell(
    validation: &Validation,
    train: &Digits,
    truth: u8,
    predicted: u8,
    limit: usize,
) -> (Vec<DigitImage>, usize) {
    let labels = validation.truth(train);
    let guesses = argmax_rows(&validation.probabilities);
    let matching: Vec<usize> = (0..validation.rows.len())
        .filter(|&i| labels[i] == truth && guesses[i] == predicted)
        .collect();
    let images = matching
        .iter()
        .take(limit)
        .map(|&i| DigitImage {
            row: i,
            label: Some(truth),
            pixels: train.image(validation.rows[i]).to_vec(),
        })
        .collect();
    (images, matching.len())
}

impl Session {
    pub(super) fn send_insights(&self, gallery: usize, emit: Emit<'_>) {
        match (&self.validation, &self.train) {
            (Some(validation), Some(train)) => emit(
                Reply::Insights(Box::new(insights::build(validation, train, gallery))),
                None,
            ),
            _ => emit(needs(Operation::Insights, Prerequisite::Validation), None),
        }
    }

    pub(super) fn confusion_cell(&self, truth: u8, predicted: u8, limit: usize, emit: Emit<'_>) {
        if let (Some(validation), Some(train)) = (&self.validation, &self.train) {
            let (images, total) = insights::cell(validation, train, truth, predicted, limit);
            emit(
                Reply::ConfusionCell {
                    truth,
                    predicted,
                    images,
                    total,
                },
                None,
            );
        }
    }

    /// Predict the validation split of the loaded train.csv with the current model (for a model
    /// loaded from a file, using its own recorded split), so the insight views have data.
    pub(super) async fn evaluate_validation(&mut self, emit: Emit<'_>) {
        let operation = Operation::Evaluate;
        let Some(train) = self.train.clone() else {
            return emit(needs(operation, Prerequisite::TrainData), None);
        };
        let Some(model) = self.model.as_ref() else {
            return emit(needs(operation, Prerequisite::Model), None);
        };
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        let Split { validation, .. } = model.meta.validation_split(&train);
        let result = predict_ensemble(
            &model.nets,
            &train,
            &validation,
            &device.device,
            EVAL_BATCH_SIZE,
            None,
            &mut |_, _| {},
        )
        .await;
        match result {
            Ok(probabilities) => {
                self.validation = Some(insights::Validation {
                    epoch: None,
                    rows: validation,
                    probabilities,
                });
                self.send_insights(insights::DEFAULT_GALLERY, emit);
            }
            Err(e) => emit(device_failed(operation, e), None),
        }
    }
}

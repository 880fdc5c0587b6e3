//! Running the current model: a drawing, one image's activations, every row of test.csv.

use super::*;

impl Session {
    pub(super) async fn classify(&self, pixels: Vec<u8>, emit: Emit<'_>) {
        let operation = Operation::Classify;
        let Some((nets, _)) = self.inference_model() else {
            return emit(needs(operation, Prerequisite::Model), None);
        };
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        if pixels.len() != crate::data::csv::IMAGE_PIXELS {
            let problem = Problem::Input("a drawing must be 28x28 pixels".into());
            return emit(failed(operation, problem), None);
        }
        let digits = Digits::new(pixels.clone(), None);
        match predict_ensemble(
            &nets,
            &digits,
            &[0],
            &device.device,
            1,
            None,
            &mut |_, _| {},
        )
        .await
        {
            Ok(probabilities) => emit(
                Reply::Classification {
                    pixels,
                    probabilities,
                },
                None,
            ),
            Err(e) => emit(device_failed(operation, e), None),
        }
    }

    pub(super) async fn activations(&self, image: ImageRef, emit: Emit<'_>) {
        let operation = Operation::Activations;
        let Some((nets, architecture)) = self.inference_model() else {
            return emit(needs(operation, Prerequisite::Model), None);
        };
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        let pixels = match &image {
            ImageRef::Pixels(pixels) => Some(pixels.clone()),
            ImageRef::Test(row) => self
                .test
                .as_ref()
                .filter(|d| *row < d.len())
                .map(|d| d.image(*row).to_vec()),
            ImageRef::Validation(position) => self.validation_image(*position),
        };
        let Some(pixels) = pixels else {
            let problem = Problem::Input("that image is not available".into());
            return emit(failed(operation, problem), None);
        };
        match feature_maps(&nets[0], architecture, &pixels, &device.device).await {
            Ok(layers) => emit(
                Reply::Activations {
                    input: pixels,
                    layers,
                },
                None,
            ),
            Err(message) => emit(device_failed(operation, message), None),
        }
    }

    pub(super) async fn filters(&self, emit: Emit<'_>) {
        let operation = Operation::Activations;
        let Some((nets, _)) = self.inference_model() else {
            return emit(needs(operation, Prerequisite::Model), None);
        };
        match first_layer_filters(&nets[0]).await {
            Ok(layer) => emit(Reply::Filters { layer }, None),
            Err(message) => emit(device_failed(operation, message), None),
        }
    }

    pub(super) fn validation_image(&self, position: usize) -> Option<Vec<u8>> {
        let train = self.train.as_ref()?;
        let row = match &self.validation {
            Some(v) => *v.rows.get(position)?,
            None => position,
        };
        (row < train.len()).then(|| train.image(row).to_vec())
    }

    pub(super) async fn predict_test(&self, tta: bool, emit: Emit<'_>) {
        let operation = Operation::PredictTest;
        let Some(test) = self.test.clone() else {
            return emit(needs(operation, Prerequisite::TestData), None);
        };
        let Some((nets, _)) = self.inference_model() else {
            return emit(needs(operation, Prerequisite::Model), None);
        };
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        let rows: Vec<usize> = (0..test.len()).collect();
        // "TTA on" means what the model's validation chose; a run's weights have no choice.
        let tta = match (&self.run, &self.model) {
            _ if !tta => None,
            (None, Some(model)) => model.meta.prediction_tta(),
            _ => Some(Tta::default()),
        };
        let result = predict_ensemble(
            &nets,
            &test,
            &rows,
            &device.device,
            PREDICT_BATCH_SIZE,
            tta.as_ref(),
            &mut |done, total| emit(Reply::PredictProgress { done, total }, None),
        )
        .await;
        match result {
            Ok(probabilities) => {
                let labels = argmax_rows(&probabilities);
                let preview = (0..PREVIEW_COUNT.min(test.len()))
                    .map(|row| DigitImage {
                        row,
                        label: Some(labels[row]),
                        pixels: test.image(row).to_vec(),
                    })
                    .collect();
                emit(
                    Reply::Predictions {
                        preview,
                        rows: labels.len(),
                    },
                    Some(submission_csv(&labels).into_bytes()),
                );
            }
            Err(e) => emit(device_failed(operation, e), None),
        }
    }
}

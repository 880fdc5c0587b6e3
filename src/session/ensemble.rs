//! Combining model files into one ensemble file, measured on the validation split when
//! train.csv is loaded, so the library can show whether it beats its members.

use super::*;
use crate::evaluation::metrics::loss_and_accuracy;
use crate::evaluation::tta::choose_tta;

impl Session {
    pub(super) async fn combine_models(
        &mut self,
        file_name: &str,
        parts: &[(String, usize)],
        bytes: &[u8],
        emit: Emit<'_>,
    ) {
        let operation = Operation::CombineModels;
        if self.run.is_some() {
            return emit(failed(operation, Problem::TrainingInProgress), None);
        }
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        let Some(files) = cut(parts, bytes) else {
            let problem = Problem::Input("the model files arrived cut short".into());
            return emit(failed(operation, problem), None);
        };
        let combined = model_file::combine(&files).and_then(|file| {
            let (nets, meta) = model_file::from_bytes(file_name, &file, &device.device)?;
            Ok((file, nets, meta))
        });
        let (mut file, nets, mut meta) = match combined {
            Ok(combined) => combined,
            Err(e) => return emit(failed(operation, Problem::ModelFile(e)), None),
        };
        let mut validation = None;
        if let Some(train) = self.train.clone() {
            let Split {
                validation: rows, ..
            } = meta.validation_split(&train);
            if !rows.is_empty() {
                let probabilities = match predict_ensemble(
                    &nets,
                    &train,
                    &rows,
                    &device.device,
                    EVAL_BATCH_SIZE,
                    None,
                    &mut |_, _| {},
                )
                .await
                {
                    Ok(probabilities) => probabilities,
                    Err(e) => return emit(device_failed(operation, e), None),
                };
                let truth: Vec<u8> = rows.iter().map(|&r| train.label(r).unwrap_or(0)).collect();
                let (loss, accuracy) = loss_and_accuracy(&probabilities, &truth);
                file = match model_file::with_figures(file_name, &file, accuracy, loss) {
                    Ok(file) => file,
                    Err(e) => return emit(failed(operation, Problem::ModelFile(e)), None),
                };
                if let Some(ensemble) = meta.ensemble.as_mut() {
                    ensemble.val_accuracy = Some(accuracy);
                    ensemble.val_loss = Some(loss);
                }
                // The ensemble's own TTA choice, so the Predict panel's switch never makes it
                // worse on these rows.
                let choice = match choose_tta(
                    &nets,
                    &train,
                    &rows,
                    &device.device,
                    EVAL_BATCH_SIZE,
                    &mut |_, _| {},
                )
                .await
                {
                    Ok(choice) => choice,
                    Err(e) => return emit(device_failed(operation, e), None),
                };
                file = match model_file::with_tta_choice(file_name, &file, choice) {
                    Ok(file) => file,
                    Err(e) => return emit(failed(operation, Problem::ModelFile(e)), None),
                };
                meta.tta = Some(choice);
                validation = Some(insights::Validation {
                    epoch: None,
                    rows,
                    probabilities,
                });
            }
        }
        self.set_model(nets, meta, ModelSource::File(file_name.into()), file, emit);
        self.validation = validation;
        if self.validation.is_some() {
            self.send_insights(insights::DEFAULT_GALLERY, emit);
        }
    }
}

/// The payload cut into its named files, or `None` when the lengths do not add up to it.
fn cut<'a>(parts: &'a [(String, usize)], bytes: &'a [u8]) -> Option<Vec<(&'a str, &'a [u8])>> {
    let mut files = Vec::with_capacity(parts.len());
    let mut rest = bytes;
    for (name, len) in parts {
        if *len > rest.len() {
            return None;
        }
        let (file, tail) = rest.split_at(*len);
        files.push((name.as_str(), file));
        rest = tail;
    }
    rest.is_empty().then_some(files)
}

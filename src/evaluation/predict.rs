//! Batched inference with probabilities, of one model or an ensemble, optionally with test-time
//! augmentation. Every read from the device is async (one per batch), so the same code runs on
//! WebGPU in a browser.

use crate::augment::apply;
use crate::data::dataset::Digits;
use crate::model::{DigitNet, NUM_CLASSES};
use burn::prelude::*;
use burn::tensor::activation::softmax;

pub use super::tta::Tta;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("reading results from the device failed: {0}")]
pub struct ReadError(pub String);

/// Probabilities (`rows.len() × 10`, row-major) of a model in inference mode for the given rows.
/// `on_batch(done, total)` is called after each batch.
pub async fn predict_probabilities(
    model: &DigitNet,
    digits: &Digits,
    rows: &[usize],
    device: &Device,
    batch_size: usize,
    tta: Option<&Tta>,
    on_batch: &mut dyn FnMut(usize, usize),
) -> Result<Vec<f32>, ReadError> {
    let members = std::slice::from_ref(model);
    predict_ensemble(members, digits, rows, device, batch_size, tta, on_batch).await
}

/// Like [`predict_probabilities`] for an ensemble: the mean of every member's probabilities
/// (each over the image and its TTA variants), still one read per batch.
pub async fn predict_ensemble(
    members: &[DigitNet],
    digits: &Digits,
    rows: &[usize],
    device: &Device,
    batch_size: usize,
    tta: Option<&Tta>,
    on_batch: &mut dyn FnMut(usize, usize),
) -> Result<Vec<f32>, ReadError> {
    if members.is_empty() {
        return Err(ReadError("an ensemble needs at least one model".into()));
    }
    let variants = tta.map(Tta::variants).unwrap_or_default();
    let mut probabilities = Vec::with_capacity(rows.len() * NUM_CLASSES);
    for chunk in rows.chunks(batch_size.max(1)) {
        let images = digits.images_tensor(chunk, device);
        let mut inputs = vec![images.clone()];
        for variant in &variants {
            inputs.push(apply(images.clone(), &vec![*variant; chunk.len()]));
        }
        let mut sum: Option<Tensor<2>> = None;
        for member in members {
            for input in &inputs {
                let p = softmax(member.forward(input.clone()), 1);
                sum = Some(match sum {
                    Some(total) => total + p,
                    None => p,
                });
            }
        }
        let count = (members.len() * inputs.len()) as f32;
        let mean = sum
            .expect("at least one member and one input")
            .div_scalar(count);
        let data = mean
            .into_data_async()
            .await
            .map_err(|e| ReadError(format!("{e:?}")))?;
        let values = data
            .try_into_vec::<f32>()
            .map_err(|e| ReadError(format!("{e:?}")))?;
        probabilities.extend_from_slice(&values);
        on_batch(probabilities.len() / NUM_CLASSES, rows.len());
    }
    Ok(probabilities)
}

/// Index of the most probable class of each row.
pub fn argmax_rows(probabilities: &[f32]) -> Vec<u8> {
    probabilities
        .chunks_exact(NUM_CLASSES)
        .map(|p| {
            let mut best = 0;
            for (class, &value) in p.iter().enumerate() {
                if value > p[best] {
                    best = class;
                }
            }
            best as u8
        })
        .collect()
}

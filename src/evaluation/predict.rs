//! Batched inference with probabilities, optionally with test-time augmentation. Every read from
//! the device is async (one per batch), so the same code runs on WebGPU in a browser.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use crate::augment::{AugmentConfig, augment_batch};
use crate::data::dataset::Digits;
use crate::model::{DigitNet, NUM_CLASSES};
use crate::rng::Rng;

/// Test-time augmentation: average the probabilities of the original image and `copies`
/// randomly transformed versions of it (a milder range than training by default).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tta {
    pub copies: usize,
    pub augmentation: AugmentConfig,
    pub seed: u64,
}

impl Default for Tta {
    fn default() -> Self {
        Self {
            copies: 4,
            augmentation: AugmentConfig {
                rotation_degrees: 5.0,
                zoom: 0.05,
                width_shift: 0.05,
                height_shift: 0.05,
                shear_degrees: 0.0,
            },
            seed: 7,
        }
    }
}

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
    let mut probabilities = Vec::with_capacity(rows.len() * NUM_CLASSES);
    let mut rng = tta.map(|t| Rng::derive(t.seed, 0x77A));
    for chunk in rows.chunks(batch_size.max(1)) {
        let images = digits.images_tensor(chunk, device);
        let mut sum = softmax(model.forward(images.clone()), 1);
        if let (Some(tta), Some(rng)) = (tta, rng.as_mut()) {
            for _ in 0..tta.copies {
                let shifted = augment_batch(images.clone(), &tta.augmentation, rng);
                sum = sum + softmax(model.forward(shifted), 1);
            }
            sum = sum.div_scalar((tta.copies + 1) as f32);
        }
        let data = sum
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

//! Test-time augmentation (TTA) and its choice by validation: which few fixed variants of an
//! image to average with it is decided per model on its own validation rows, so TTA never
//! makes a model worse there than its plain prediction.

use serde::{Deserialize, Serialize};

use crate::augment::Affine;
use crate::evaluation::metrics::loss_and_accuracy;
use crate::model::NUM_CLASSES;

/// Average the probabilities of the image and a few fixed variants of it: shifted by
/// `shift_pixels` left, right, up and down, and rotated by ±`rotation_degrees` (a zero skips
/// that family). Fixed and small on purpose: averaging over the training augmentation's random
/// range lowered validation accuracy (99.57% → 99.52% for the old bundled model), and neither
/// family helps every model (README.md, "Recipe", has the sweep), hence [`TtaChoice`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tta {
    pub shift_pixels: f32,
    pub rotation_degrees: f32,
}

impl Default for Tta {
    /// 1-pixel shifts: what a model without a recorded choice uses.
    fn default() -> Self {
        Self {
            shift_pixels: 1.0,
            rotation_degrees: 0.0,
        }
    }
}

impl Tta {
    /// What validation chooses among, cheapest first: 1-pixel shifts (4 variants), ±5°
    /// rotations (2), both (6).
    pub const CANDIDATES: [Tta; 3] = [
        Tta {
            shift_pixels: 1.0,
            rotation_degrees: 0.0,
        },
        Tta {
            shift_pixels: 0.0,
            rotation_degrees: 5.0,
        },
        Tta {
            shift_pixels: 1.0,
            rotation_degrees: 5.0,
        },
    ];

    /// The candidates' variants together (each candidate's are a subset of these).
    const ALL_CANDIDATES: Tta = Tta::CANDIDATES[2];

    /// The transforms averaged besides the image itself.
    pub fn variants(&self) -> Vec<Affine> {
        let mut variants = Vec::new();
        let s = self.shift_pixels;
        if s != 0.0 {
            for (shift_x, shift_y) in [(s, 0.0), (-s, 0.0), (0.0, s), (0.0, -s)] {
                variants.push(Affine {
                    shift_x,
                    shift_y,
                    ..Affine::IDENTITY
                });
            }
        }
        let r = self.rotation_degrees;
        if r != 0.0 {
            for rotation_degrees in [r, -r] {
                variants.push(Affine {
                    rotation_degrees,
                    ..Affine::IDENTITY
                });
            }
        }
        variants
    }

    /// "1 px shifts", "±5° rotations", "1 px shifts and ±5° rotations".
    pub fn describe(&self) -> String {
        let shifts = (self.shift_pixels != 0.0).then(|| format!("{} px shifts", self.shift_pixels));
        let rotations = (self.rotation_degrees != 0.0)
            .then(|| format!("±{}° rotations", self.rotation_degrees));
        match (shifts, rotations) {
            (Some(s), Some(r)) => format!("{s} and {r}"),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => "no variants".into(),
        }
    }
}

/// What validation said about TTA for one model (or ensemble): the candidate with the highest
/// accuracy on its validation rows if one beat the plain prediction, else none (a tie keeps
/// the plain, cheaper prediction).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TtaChoice {
    pub tta: Option<Tta>,
    pub plain_accuracy: f64,
    /// Accuracy with the chosen TTA (the plain accuracy when none was chosen).
    pub accuracy: f64,
    pub rows: usize,
}

impl TtaChoice {
    /// The choice from the probabilities (`rows × 10` each) of the images themselves
    /// (`per_input[0]`) and of each of [`Tta::CANDIDATES`]' variants in the order
    /// `Tta::CANDIDATES[2].variants()` lists them (`per_input[1..]`).
    pub fn from_probabilities(per_input: &[Vec<f32>], labels: &[u8]) -> TtaChoice {
        let all = Tta::ALL_CANDIDATES.variants();
        assert_eq!(
            per_input.len(),
            all.len() + 1,
            "the image and every variant"
        );
        let accuracy_of = |inputs: &[usize]| {
            let mut mean = vec![0.0f32; labels.len() * NUM_CLASSES];
            for &input in inputs {
                for (sum, p) in mean.iter_mut().zip(&per_input[input]) {
                    *sum += p / inputs.len() as f32;
                }
            }
            loss_and_accuracy(&mean, labels).1
        };
        let plain_accuracy = accuracy_of(&[0]);
        let mut choice = TtaChoice {
            tta: None,
            plain_accuracy,
            accuracy: plain_accuracy,
            rows: labels.len(),
        };
        for candidate in Tta::CANDIDATES {
            let own = candidate.variants();
            let inputs: Vec<usize> = std::iter::once(0)
                .chain(
                    (0..all.len())
                        .filter(|&j| own.contains(&all[j]))
                        .map(|j| j + 1),
                )
                .collect();
            let accuracy = accuracy_of(&inputs);
            if accuracy > choice.accuracy {
                choice.tta = Some(candidate);
                choice.accuracy = accuracy;
            }
        }
        choice
    }

    /// Whether a recorded choice (read from a file) can be used as it is.
    pub fn check(&self) -> Result<(), String> {
        let fraction = |v: f64| (0.0..=1.0).contains(&v);
        if !fraction(self.accuracy) || !fraction(self.plain_accuracy) {
            return Err("has accuracies out of range".into());
        }
        if let Some(t) = self.tta
            && !((0.0..=14.0).contains(&t.shift_pixels)
                && (0.0..180.0).contains(&t.rotation_degrees))
        {
            return Err("asks for shifts over 14 px or rotations of 180° or more".into());
        }
        Ok(())
    }

    /// "1 px shifts (99.67% against 99.62% plain on 4199 validation rows)" or "none (…)".
    pub fn describe(&self) -> String {
        let what = self.tta.map_or("none".into(), |t| t.describe());
        format!(
            "{what} ({:.2}% against {:.2}% plain on {} validation rows)",
            self.accuracy * 100.0,
            self.plain_accuracy * 100.0,
            self.rows
        )
    }
}

#[cfg(feature = "engine")]
pub use engine::choose_tta;

#[cfg(feature = "engine")]
mod engine {
    use burn::prelude::*;
    use burn::tensor::activation::softmax;

    use super::{Tta, TtaChoice};
    use crate::augment::apply;
    use crate::data::dataset::Digits;
    use crate::evaluation::predict::ReadError;
    use crate::model::{DigitNet, NUM_CLASSES};

    /// Measures every candidate TTA of `members` (their mean, for an ensemble) on labelled
    /// `rows` and returns the choice: each image and its variants predicted once, one read per
    /// batch. `on_batch(done, total)` is called after each batch.
    pub async fn choose_tta(
        members: &[DigitNet],
        digits: &Digits,
        rows: &[usize],
        device: &Device,
        batch_size: usize,
        on_batch: &mut dyn FnMut(usize, usize),
    ) -> Result<TtaChoice, ReadError> {
        if members.is_empty() {
            return Err(ReadError("an ensemble needs at least one model".into()));
        }
        let variants = Tta::ALL_CANDIDATES.variants();
        let mut per_input = vec![Vec::with_capacity(rows.len() * NUM_CLASSES); variants.len() + 1];
        let mut done = 0;
        for chunk in rows.chunks(batch_size.max(1)) {
            let images = digits.images_tensor(chunk, device);
            let inputs = std::iter::once(images.clone()).chain(
                variants
                    .iter()
                    .map(|v| apply(images.clone(), &vec![*v; chunk.len()])),
            );
            let means: Vec<Tensor<2>> = inputs
                .map(|input| {
                    let sum = members
                        .iter()
                        .map(|m| softmax(m.forward(input.clone()), 1))
                        .reduce(|a, b| a + b)
                        .expect("at least one member");
                    sum.div_scalar(members.len() as f32)
                })
                .collect();
            let values = Tensor::cat(means, 0)
                .into_data_async()
                .await
                .map_err(|e| ReadError(format!("{e:?}")))?
                .try_into_vec::<f32>()
                .map_err(|e| ReadError(format!("{e:?}")))?;
            for (input, part) in per_input
                .iter_mut()
                .zip(values.chunks_exact(chunk.len() * NUM_CLASSES))
            {
                input.extend_from_slice(part);
            }
            done += chunk.len();
            on_batch(done, rows.len());
        }
        let labels: Vec<u8> = rows.iter().map(|&r| digits.label(r).unwrap_or(0)).collect();
        Ok(TtaChoice::from_probabilities(&per_input, &labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probabilities that put `confidence` on `class` for every row.
    fn confident(classes: &[u8], confidence: f32) -> Vec<f32> {
        let rest = (1.0 - confidence) / 9.0;
        classes
            .iter()
            .flat_map(|&c| (0..10).map(move |k| if k == c { confidence } else { rest }))
            .collect()
    }

    #[test]
    fn a_candidate_is_chosen_only_when_it_beats_the_plain_prediction() {
        let labels = [3u8, 5, 7, 1];
        // The plain prediction misses row 1 (says 0), narrowly.
        let mut plain = confident(&labels, 0.9);
        plain[10..20].copy_from_slice(&confident(&[0], 0.4)[..]);
        plain[15] = 0.35;
        // Rotations (inputs 5 and 6) are sure of the truth, shifts (1..=4) repeat the miss.
        let shift_miss = plain.clone();
        let rotation = confident(&labels, 0.99);
        let per_input = [
            vec![plain.clone()],
            vec![shift_miss; 4],
            vec![rotation.clone(); 2],
        ]
        .concat();
        let choice = TtaChoice::from_probabilities(&per_input, &labels);
        assert_eq!(choice.plain_accuracy, 0.75);
        assert_eq!(choice.accuracy, 1.0);
        assert_eq!(choice.tta, Some(Tta::CANDIDATES[1]), "rotations alone");

        // When no candidate gains a row, the plain prediction stays (ties included).
        let per_input = vec![plain.clone(); 7];
        let choice = TtaChoice::from_probabilities(&per_input, &labels);
        assert_eq!(choice.tta, None);
        assert_eq!(choice.accuracy, choice.plain_accuracy);
        assert!(choice.describe().starts_with("none (75.00% against 75.00%"));
    }

    #[test]
    fn candidates_are_subsets_of_the_variants_measured() {
        let all = Tta::ALL_CANDIDATES.variants();
        assert_eq!(all.len(), 6);
        for candidate in Tta::CANDIDATES {
            assert!(candidate.variants().iter().all(|v| all.contains(v)));
        }
        assert_eq!(Tta::CANDIDATES[0], Tta::default());
        assert_eq!(
            Tta::CANDIDATES[2].describe(),
            "1 px shifts and ±5° rotations"
        );
    }
}

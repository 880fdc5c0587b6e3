//! Labelled digits kept as `u8` until a batch is built, with a seeded stratified split and
//! deterministic per-epoch shuffling.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::csv::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::NUM_CLASSES;
use crate::rng::Rng;

/// Images (row-major 28x28 `u8`, one after another) with optional labels (`None` for test.csv).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Digits {
    pixels: Vec<u8>,
    labels: Option<Vec<u8>>,
}

/// Which rows of a labelled set train and which validate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
}

impl Digits {
    /// `pixels.len()` must be a multiple of 784 and `labels` (if any) one per image, each 0..=9;
    /// the CSV parser guarantees both, so this only checks them in debug builds.
    pub fn new(pixels: Vec<u8>, labels: Option<Vec<u8>>) -> Self {
        debug_assert_eq!(pixels.len() % IMAGE_PIXELS, 0);
        debug_assert!(
            labels
                .as_ref()
                .is_none_or(|l| l.len() * IMAGE_PIXELS == pixels.len())
        );
        Self { pixels, labels }
    }

    pub fn from_csv(parsed: super::csv::ParsedCsv) -> Self {
        let labels = match parsed.kind {
            super::csv::CsvKind::Train => Some(parsed.labels),
            super::csv::CsvKind::Test => None,
        };
        Self::new(parsed.pixels, labels)
    }

    pub fn len(&self) -> usize {
        self.pixels.len() / IMAGE_PIXELS
    }

    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    pub fn is_labelled(&self) -> bool {
        self.labels.is_some()
    }

    /// Every image's pixels, one image after another.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    pub fn image(&self, index: usize) -> &[u8] {
        &self.pixels[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
    }

    pub fn label(&self, index: usize) -> Option<u8> {
        self.labels.as_ref().map(|labels| labels[index])
    }

    pub fn labels(&self) -> Option<&[u8]> {
        self.labels.as_deref()
    }

    /// The first `count` rows (for quick experiments and tests).
    pub fn head(&self, count: usize) -> Self {
        let count = count.min(self.len());
        Self {
            pixels: self.pixels[..count * IMAGE_PIXELS].to_vec(),
            labels: self.labels.as_ref().map(|l| l[..count].to_vec()),
        }
    }

    pub fn label_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &label in self.labels.as_deref().unwrap_or_default() {
            counts[label as usize] += 1;
        }
        counts
    }

    /// A stratified split: each class contributes `validation_fraction` of its rows (rounded) to
    /// validation, chosen by a seeded shuffle. Both lists are in ascending row order.
    pub fn split(&self, validation_fraction: f64, seed: u64) -> Split {
        self.split_first(self.len(), validation_fraction, seed)
    }

    /// [`Digits::split`] of the first `rows` rows only (what a model trained on a prefix saw).
    pub fn split_first(&self, rows: usize, validation_fraction: f64, seed: u64) -> Split {
        let fraction = validation_fraction.clamp(0.0, 1.0);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); NUM_CLASSES];
        let labels = self.labels.as_deref().unwrap_or_default();
        for (row, &label) in labels[..rows.min(labels.len())].iter().enumerate() {
            by_class[label as usize].push(row);
        }
        let mut rng = Rng::derive(seed, 0x5B117);
        let (mut train, mut validation) = (Vec::new(), Vec::new());
        for mut rows in by_class {
            rng.shuffle(&mut rows);
            let take = (rows.len() as f64 * fraction).round() as usize;
            validation.extend_from_slice(&rows[..take]);
            train.extend_from_slice(&rows[take..]);
        }
        train.sort_unstable();
        validation.sort_unstable();
        Split { train, validation }
    }

    /// Images of the given rows as a `[n, 1, 28, 28]` tensor scaled to 0..1.
    pub fn images_tensor(&self, rows: &[usize], device: &Device) -> Tensor<4> {
        let mut values = Vec::with_capacity(rows.len() * IMAGE_PIXELS);
        for &row in rows {
            values.extend(self.image(row).iter().map(|&p| p as f32 / 255.0));
        }
        let shape = [rows.len(), 1, IMAGE_SIDE, IMAGE_SIDE];
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// Labels of the given rows as an int tensor (zeros for an unlabelled set).
    pub fn labels_tensor(&self, rows: &[usize], device: &Device) -> Tensor<1, Int> {
        let labels: Vec<i32> = rows
            .iter()
            .map(|&row| self.label(row).unwrap_or(0) as i32)
            .collect();
        Tensor::from_data(TensorData::new(labels, [rows.len()]), device)
    }
}

/// The rows of one epoch in a seeded random order; the same (seed, epoch) gives the same order.
pub fn epoch_order(rows: &[usize], seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = rows.to_vec();
    Rng::derive(seed, 0xE90C_0000 + epoch as u64).shuffle(&mut order);
    order
}

/// Batches of an epoch: every row exactly once, the last batch possibly smaller.
pub fn batches(order: &[usize], batch_size: usize) -> impl Iterator<Item = &[usize]> {
    order.chunks(batch_size.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Digits {
        let pixels = (0..n * IMAGE_PIXELS)
            .map(|i| (i / IMAGE_PIXELS) as u8)
            .collect();
        let labels = (0..n).map(|i| (i % NUM_CLASSES) as u8).collect();
        Digits::new(pixels, Some(labels))
    }

    #[test]
    fn split_is_deterministic_stratified_and_disjoint() {
        let digits = toy(1000);
        let a = digits.split(0.1, 7);
        assert_eq!(a, digits.split(0.1, 7));
        assert_ne!(a, digits.split(0.1, 8));
        assert_eq!(a.validation.len(), 100);
        assert_eq!(a.train.len() + a.validation.len(), 1000);
        let mut all: Vec<usize> = a.train.iter().chain(&a.validation).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        let mut per_class = [0; NUM_CLASSES];
        for &row in &a.validation {
            per_class[digits.label(row).unwrap() as usize] += 1;
        }
        assert_eq!(per_class, [10; NUM_CLASSES]);
    }

    #[test]
    fn a_split_of_the_first_rows_is_the_split_of_those_rows_alone() {
        let digits = toy(1000);
        assert_eq!(
            digits.split_first(300, 0.2, 5),
            digits.head(300).split(0.2, 5)
        );
        assert_eq!(digits.split_first(5000, 0.2, 5), digits.split(0.2, 5));
    }

    #[test]
    fn epochs_cover_every_row_once_including_the_last_partial_batch() {
        let rows: Vec<usize> = (0..103).collect();
        let order = epoch_order(&rows, 1, 0);
        assert_eq!(order, epoch_order(&rows, 1, 0));
        assert_ne!(order, epoch_order(&rows, 1, 1));
        let sizes: Vec<usize> = batches(&order, 25).map(<[usize]>::len).collect();
        assert_eq!(sizes, [25, 25, 25, 25, 3]);
        let mut seen: Vec<usize> = batches(&order, 25).flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, rows);
    }

    #[test]
    fn label_counts_and_head() {
        let digits = toy(25);
        assert_eq!(digits.label_counts(), [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]);
        let head = digits.head(3);
        assert_eq!(head.len(), 3);
        assert_eq!(head.image(2)[0], 2);
        assert_eq!(head.label(2), Some(2));
    }
}

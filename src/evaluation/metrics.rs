//! Host-side metrics on predicted probabilities: loss, accuracy, the confusion matrix, a
//! scikit-learn style classification report and the notebooks' "most important errors" ranking.
//! Ranking happens here, after one read, because Burn's sort on WebGPU needs a synchronous read.

use serde::{Deserialize, Serialize};

use crate::model::NUM_CLASSES;

/// Keras clips probabilities to [1e-7, 1 - 1e-7] in categorical cross-entropy.
const PROBABILITY_FLOOR: f32 = 1e-7;

/// Mean cross-entropy and accuracy of probabilities (`n × 10`) against labels. The loss is NaN
/// when any probability is not a number: the floor must not turn broken weights (NaN
/// everywhere) into a finite loss that passes for a validated epoch.
pub fn loss_and_accuracy(probabilities: &[f32], labels: &[u8]) -> (f64, f64) {
    if labels.is_empty() {
        return (0.0, 0.0);
    }
    let mut loss = 0.0;
    let mut correct = 0usize;
    for (p, &label) in probabilities.chunks_exact(NUM_CLASSES).zip(labels) {
        if p.iter().any(|v| !v.is_finite()) {
            loss = f64::NAN;
        }
        loss -= (p[label as usize].max(PROBABILITY_FLOOR) as f64).ln();
        correct += usize::from(argmax(p) == label as usize);
    }
    let n = labels.len() as f64;
    (loss / n, correct as f64 / n)
}

fn argmax(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |best, i| if p[i] > p[best] { i } else { best })
}

/// Counts with the true label on rows and the predicted label on columns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    pub counts: [[u32; NUM_CLASSES]; NUM_CLASSES],
}

impl ConfusionMatrix {
    pub fn new(truth: &[u8], predicted: &[u8]) -> Self {
        let mut counts = [[0; NUM_CLASSES]; NUM_CLASSES];
        for (&t, &p) in truth.iter().zip(predicted) {
            counts[t as usize][p as usize] += 1;
        }
        Self { counts }
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().flatten().sum()
    }

    pub fn correct(&self) -> u32 {
        (0..NUM_CLASSES).map(|i| self.counts[i][i]).sum()
    }

    /// Each row divided by its total (rows with no samples stay zero).
    pub fn normalized_rows(&self) -> [[f64; NUM_CLASSES]; NUM_CLASSES] {
        let mut out = [[0.0; NUM_CLASSES]; NUM_CLASSES];
        for (row, counts) in out.iter_mut().zip(&self.counts) {
            let total: u32 = counts.iter().sum();
            if total > 0 {
                for (cell, &count) in row.iter_mut().zip(counts) {
                    *cell = count as f64 / total as f64;
                }
            }
        }
        out
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u32,
}

/// Like `sklearn.metrics.classification_report` (with `zero_division=0`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    pub classes: [ClassScores; NUM_CLASSES],
    pub accuracy: f64,
    pub macro_avg: ClassScores,
    pub weighted_avg: ClassScores,
}

impl ClassReport {
    pub fn new(matrix: &ConfusionMatrix) -> Self {
        let ratio = |a: u32, b: u32| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let mut classes = [ClassScores::default(); NUM_CLASSES];
        for (class, scores) in classes.iter_mut().enumerate() {
            let hits = matrix.counts[class][class];
            let predicted: u32 = (0..NUM_CLASSES).map(|t| matrix.counts[t][class]).sum();
            let support: u32 = matrix.counts[class].iter().sum();
            let precision = ratio(hits, predicted);
            let recall = ratio(hits, support);
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            *scores = ClassScores {
                precision,
                recall,
                f1,
                support,
            };
        }
        let total = matrix.total();
        let average = |weight: &dyn Fn(&ClassScores) -> f64| {
            let weights: f64 = classes.iter().map(weight).sum();
            let mean = |field: fn(&ClassScores) -> f64| {
                if weights == 0.0 {
                    0.0
                } else {
                    classes.iter().map(|c| field(c) * weight(c)).sum::<f64>() / weights
                }
            };
            ClassScores {
                precision: mean(|c| c.precision),
                recall: mean(|c| c.recall),
                f1: mean(|c| c.f1),
                support: total,
            }
        };
        Self {
            classes,
            accuracy: ratio(matrix.correct(), total),
            macro_avg: average(&|_| 1.0),
            weighted_avg: average(&|c| c.support as f64),
        }
    }

    /// Plain-text table in scikit-learn's layout.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{:>14} {:>9} {:>9} {:>9} {:>9}\n\n",
            "", "precision", "recall", "f1-score", "support"
        );
        let row = |name: &str, s: &ClassScores| {
            format!(
                "{name:>14} {:>9.4} {:>9.4} {:>9.4} {:>9}\n",
                s.precision, s.recall, s.f1, s.support
            )
        };
        for (class, scores) in self.classes.iter().enumerate() {
            out += &row(&format!("{class}"), scores);
        }
        out += &format!(
            "\n{:>14} {:>9} {:>9} {:>9.4} {:>9}\n",
            "accuracy", "", "", self.accuracy, self.macro_avg.support
        );
        out += &row("macro avg", &self.macro_avg);
        out += &row("weighted avg", &self.weighted_avg);
        out
    }
}

/// One validation image as the insight views show it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankedPrediction {
    /// Position in the evaluated rows.
    pub position: usize,
    pub truth: u8,
    pub predicted: u8,
    pub predicted_probability: f32,
    pub truth_probability: f32,
}

impl RankedPrediction {
    /// The notebooks' error measure: P(predicted) − P(true).
    pub fn error_margin(&self) -> f32 {
        self.predicted_probability - self.truth_probability
    }
}

fn ranked(position: usize, p: &[f32], truth: u8) -> RankedPrediction {
    let predicted = argmax(p);
    RankedPrediction {
        position,
        truth,
        predicted: predicted as u8,
        predicted_probability: p[predicted],
        truth_probability: p[truth as usize],
    }
}

fn ranked_rows(probabilities: &[f32], labels: &[u8]) -> impl Iterator<Item = RankedPrediction> {
    probabilities
        .chunks_exact(NUM_CLASSES)
        .zip(labels)
        .enumerate()
        .map(|(i, (p, &truth))| ranked(i, p, truth))
}

/// Misclassified rows, most confident mistakes first (largest P(predicted) − P(true)); ties keep
/// row order.
pub fn top_errors(probabilities: &[f32], labels: &[u8], limit: usize) -> Vec<RankedPrediction> {
    let mut errors: Vec<RankedPrediction> = ranked_rows(probabilities, labels)
        .filter(|r| r.predicted != r.truth)
        .collect();
    errors.sort_by(|a, b| b.error_margin().total_cmp(&a.error_margin()));
    errors.truncate(limit);
    errors
}

/// Correct rows, most confident first.
pub fn top_correct(probabilities: &[f32], labels: &[u8], limit: usize) -> Vec<RankedPrediction> {
    let mut correct: Vec<RankedPrediction> = ranked_rows(probabilities, labels)
        .filter(|r| r.predicted == r.truth)
        .collect();
    correct.sort_by(|a, b| b.predicted_probability.total_cmp(&a.predicted_probability));
    correct.truncate(limit);
    correct
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot_ish(class: usize, confidence: f32) -> [f32; NUM_CLASSES] {
        let mut p = [(1.0 - confidence) / 9.0; NUM_CLASSES];
        p[class] = confidence;
        p
    }

    #[test]
    fn report_matches_hand_computed_scores() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let matrix = ConfusionMatrix::new(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2]);
        assert_eq!(matrix.counts[0][0], 2);
        assert_eq!(matrix.counts[0][1], 1);
        assert_eq!(matrix.total(), 6);
        let report = ClassReport::new(&matrix);
        let c0 = report.classes[0];
        assert_eq!((c0.precision, c0.recall, c0.support), (1.0, 2.0 / 3.0, 3));
        assert!((c0.f1 - 0.8).abs() < 1e-12);
        let c1 = report.classes[1];
        assert_eq!((c1.precision, c1.recall), (0.5, 0.5));
        let c2 = report.classes[2];
        assert_eq!((c2.precision, c2.recall), (0.5, 1.0));
        assert!((report.accuracy - 4.0 / 6.0).abs() < 1e-12);
        // Classes 3..9 have no samples: sklearn counts them as zeros in the macro average.
        let macro_precision = (1.0 + 0.5 + 0.5) / 10.0;
        assert!((report.macro_avg.precision - macro_precision).abs() < 1e-12);
        let weighted_recall = (3.0 * (2.0 / 3.0) + 2.0 * 0.5 + 1.0 * 1.0) / 6.0;
        assert!((report.weighted_avg.recall - weighted_recall).abs() < 1e-12);
        assert!(report.to_text().contains("weighted avg"));
        let normalized = matrix.normalized_rows();
        assert!((normalized[0][0] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(normalized[5], [0.0; NUM_CLASSES]);
    }

    #[test]
    fn errors_are_ranked_by_predicted_minus_true_probability() {
        let rows = [
            (one_hot_ish(3, 0.6), 5u8), // wrong, margin 0.6 - 0.044
            (one_hot_ish(7, 0.99), 1),  // wrong, most confident mistake
            (one_hot_ish(2, 0.9), 2),   // correct
            (one_hot_ish(4, 0.5), 9),   // wrong, least confident
        ];
        let probabilities: Vec<f32> = rows.iter().flat_map(|(p, _)| *p).collect();
        let labels: Vec<u8> = rows.iter().map(|(_, l)| *l).collect();
        let errors = top_errors(&probabilities, &labels, 12);
        let order: Vec<usize> = errors.iter().map(|e| e.position).collect();
        assert_eq!(order, [1, 0, 3]);
        assert!(
            errors
                .windows(2)
                .all(|w| w[0].error_margin() >= w[1].error_margin())
        );
        assert_eq!((errors[0].truth, errors[0].predicted), (1, 7));
        assert_eq!(top_errors(&probabilities, &labels, 1).len(), 1);
        let correct = top_correct(&probabilities, &labels, 12);
        assert_eq!(correct.len(), 1);
        assert_eq!(correct[0].position, 2);
        let (loss, accuracy) = loss_and_accuracy(&probabilities, &labels);
        assert_eq!(accuracy, 0.25);
        assert!(loss > 0.0);
    }
}

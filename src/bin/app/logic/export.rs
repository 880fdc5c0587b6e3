//! What the page's "CSV" buttons download: a run's per-epoch metrics and a confusion matrix, as
//! plain text a spreadsheet or pandas reads directly (comma-separated, one header row, `\n`).

use digit_lab::evaluation::metrics::ConfusionMatrix;
use digit_lab::training::events::EpochSummary;

/// One row per epoch, numbered from 1 as the page shows them; a run without a validation split leaves its validation cells empty.
pub fn epochs_csv(epochs: &[EpochSummary]) -> String {
    let mut csv = String::from(
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second\n",
    );
    let optional = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for e in epochs {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            e.epoch + 1,
            e.train_loss,
            e.train_accuracy,
            optional(e.val_loss),
            optional(e.val_accuracy),
            e.learning_rate,
            e.seconds,
            e.images_per_second,
        ));
    }
    csv
}

/// Rows are the true digit, columns the predicted one (as the Insights table shows it).
pub fn confusion_csv(matrix: &ConfusionMatrix) -> String {
    let mut csv = String::from("true\\predicted");
    for predicted in 0..matrix.counts.len() {
        csv.push_str(&format!(",{predicted}"));
    }
    csv.push('\n');
    for (truth, row) in matrix.counts.iter().enumerate() {
        csv.push_str(&truth.to_string());
        for count in row {
            csv.push_str(&format!(",{count}"));
        }
        csv.push('\n');
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, val: Option<f64>) -> EpochSummary {
        EpochSummary {
            epoch,
            train_loss: 0.5,
            train_accuracy: 0.875,
            val_loss: val.map(|_| 0.25),
            val_accuracy: val,
            learning_rate: 0.001,
            seconds: 2.5,
            images_per_second: 1800.0,
        }
    }

    #[test]
    fn epochs_are_one_row_each_with_empty_cells_without_validation() {
        let csv = epochs_csv(&[epoch(0, Some(0.9625)), epoch(1, None)]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("epoch,train_loss,"));
        assert_eq!(lines[1], "1,0.5,0.875,0.25,0.9625,0.001,2.5,1800");
        assert_eq!(lines[2], "2,0.5,0.875,,,0.001,2.5,1800");
        assert!(csv.ends_with('\n') && !csv.contains('\r'));
        assert!(lines.iter().all(|l| l.split(',').count() == 8));
    }

    #[test]
    fn the_confusion_matrix_reads_back_as_its_counts() {
        let matrix = ConfusionMatrix::new(&[0, 0, 3, 9, 9], &[0, 8, 3, 9, 4]);
        let csv = confusion_csv(&matrix);
        let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 11);
        assert_eq!(rows[0][0], "true\\predicted");
        assert_eq!(
            rows[0][1..],
            ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
        );
        for (truth, row) in rows[1..].iter().enumerate() {
            assert_eq!(row[0], truth.to_string());
            let counts: Vec<u32> = row[1..].iter().map(|c| c.parse().unwrap()).collect();
            assert_eq!(counts, matrix.counts[truth]);
        }
        assert_eq!(rows[1][9], "1", "a 0 taken for an 8");
    }
}

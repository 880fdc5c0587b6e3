//! Kaggle's submission format: `ImageId,Label`, ids 1..N in test.csv order, `\n` line ends.

use std::fmt::Write;

pub const HEADER: &str = "ImageId,Label";

pub fn submission_csv(labels: &[u8]) -> String {
    let mut out = String::with_capacity(HEADER.len() + 1 + labels.len() * 8);
    out.push_str(HEADER);
    out.push('\n');
    for (index, label) in labels.iter().enumerate() {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{},{label}", index + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_kaggle_format() {
        assert_eq!(submission_csv(&[3, 7, 8]), "ImageId,Label\n1,3\n2,7\n3,8\n");
        assert_eq!(submission_csv(&[]), "ImageId,Label\n");
    }
}

//! `CsvError` and the wording of rejections: one sentence saying where and what, then a hint on
//! how to go on, since the reader is someone holding a file, not a programmer.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::CsvKind;

pub(super) const PIXEL_HINT: &str =
    "Pixels are whole numbers from 0 to 255; fix or remove this row.";
pub(super) const LABEL_HINT: &str =
    "Labels are the digit shown, a whole number from 0 to 9; fix or remove this row.";
pub(super) const FILE_HINT: &str = "Choose Kaggle's train.csv or test.csv, as plain text or gzip \
                                    (.csv.gz); extract ZIP archives first.";

/// Why a file was rejected: where (1-based physical line and column, with the column's header
/// name), what was found and expected, and a hint on how to go on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct CsvError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub column_name: Option<String>,
    pub problem: String,
    pub hint: String,
    /// The caller stopped the parse (`parse_csv_cancellable`); nothing is known to be wrong.
    #[serde(default)]
    pub cancelled: bool,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        if let Some(name) = &self.column_name {
            write!(f, " ({name})")?;
        }
        write!(f, ": {}.", self.problem)?;
        if !self.hint.is_empty() {
            write!(f, " {}", self.hint)?;
        }
        Ok(())
    }
}

impl CsvError {
    pub(super) fn new(file: &str, problem: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            column: None,
            column_name: None,
            problem: problem.into(),
            hint: hint.into(),
            cancelled: false,
        }
    }

    pub(super) fn cancelled(file: &str) -> Self {
        let hint = "Nothing was loaded from it; choose the file again to load it.";
        Self {
            cancelled: true,
            ..Self::new(file, "reading the file was cancelled", hint)
        }
    }

    /// `column` is 0-based; it is stored 1-based, with its header name when it has one.
    pub(super) fn in_column(mut self, kind: CsvKind, column: usize) -> Self {
        self.column = Some(column + 1);
        self.column_name = kind.column_name(column);
        self
    }
}

pub(super) fn too_large(file: &str, problem: String) -> CsvError {
    let hint = "Kaggle's train.csv is 76 MB (9 MB gzipped); check that this is the right file.";
    CsvError::new(file, problem, hint)
}

pub(super) fn size_text(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Most bytes of a field quoted in a message.
const SHOWN_BYTES: usize = 40;

/// A number as shown in a message: plain, cut if long (a 1 GiB line may be one "number").
pub(super) fn show_number(digits: &[u8]) -> String {
    let cut = String::from_utf8_lossy(&digits[..digits.len().min(SHOWN_BYTES)]);
    let ellipsis = if digits.len() > SHOWN_BYTES {
        "..."
    } else {
        ""
    };
    format!("{cut}{ellipsis}")
}

/// A field as shown in a message: backquoted, escaped if not plain text, cut if long.
pub(super) fn show(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(SHOWN_BYTES)];
    let text = match std::str::from_utf8(cut) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_owned(),
        _ => cut.escape_ascii().to_string(),
    };
    let ellipsis = if bytes.len() > SHOWN_BYTES { "..." } else { "" };
    format!("`{text}{ellipsis}`")
}

#[cfg(test)]
mod tests {
    use super::CsvError;

    #[test]
    fn display_omits_missing_parts() {
        let error = CsvError::new("test.csv", "the file is empty", "Try again.");
        assert_eq!(error.to_string(), "test.csv: the file is empty. Try again.");
        let error = CsvError {
            line: Some(3),
            ..error
        };
        assert_eq!(
            error.to_string(),
            "test.csv, line 3: the file is empty. Try again."
        );
    }
}

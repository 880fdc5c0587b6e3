//! The header line: it tells train.csv from test.csv (or confirms the kind expected), and every
//! name is checked, so a shifted or foreign file is caught before its rows are misread.

use super::CsvKind;
use super::error::{CsvError, show};
use super::text::Cursor;

impl Cursor<'_> {
    /// Reads the header line: detects the kind from its first name, then checks every name.
    pub(super) fn read_header(&mut self, expected: Option<CsvKind>) -> Result<CsvKind, CsvError> {
        let end = self.line_end(self.pos);
        let names = self.text[self.pos..end].split(|&b| b == b',').map(unquote);
        let first = names.clone().next().unwrap_or_default();
        let wanted = match expected {
            Some(kind) => format!("`{}`", kind.header_text()),
            None => {
                "`label,pixel0,...,pixel783` (train.csv) or `pixel0,...,pixel783` (test.csv)".into()
            }
        };
        let kind = match first {
            b"label" => CsvKind::Train,
            b"pixel0" => CsvKind::Test,
            _ if looks_numeric(first) => {
                let first = show(first);
                let problem =
                    format!("the first line starts with {first}: the header line is missing");
                let hint =
                    format!("Add the header line {wanted} at the top, or use Kaggle's file.");
                return Err(self.error(problem, hint));
            }
            _ => {
                let problem = format!("the header starts with {}; expected {wanted}", show(first));
                let error = self.error(problem, "Use Kaggle's original header line.");
                let column_name = expected.and_then(|kind| kind.column_name(0));
                return Err(CsvError {
                    column: Some(1),
                    column_name,
                    ..error
                });
            }
        };
        if expected.is_some_and(|expected| expected != kind) {
            return Err(match kind {
                CsvKind::Test => self.error(
                    "this is an unlabelled test file (its header starts with `pixel0`, there is \
                     no `label` column); a labelled training file was expected",
                    "Load it as the test file (the images to predict), and choose train.csv here.",
                ),
                CsvKind::Train => self.error(
                    "this is a labelled training file (its header starts with `label`); an \
                     unlabelled test file was expected",
                    "Load it as the training file, and choose test.csv here.",
                ),
            });
        }

        let count = names.clone().count();
        let header_error = |problem: String, column| {
            let hint = format!("Kaggle's header is `{}`; fix it.", kind.header_text());
            self.error(problem, hint).in_column(kind, column)
        };
        let count_problem = || {
            format!(
                "the header has {count} columns; expected {}",
                kind.columns()
            )
        };
        for (column, name) in names.enumerate() {
            let Some(wanted) = kind.column_name(column) else {
                return Err(header_error(count_problem(), column));
            };
            if name != wanted.as_bytes() {
                let problem = format!(
                    "the header names this column {}; expected `{wanted}`",
                    show(name)
                );
                return Err(header_error(problem, column));
            }
        }
        if count < kind.columns() {
            return Err(header_error(count_problem(), count));
        }
        self.pos = (end + 1).min(self.text.len());
        self.line += 1;
        Ok(kind)
    }
}

/// A header name without surrounding blanks and quotes.
fn unquote(field: &[u8]) -> &[u8] {
    let field = field.trim_ascii();
    match field
        .strip_prefix(b"\"")
        .and_then(|f| f.strip_suffix(b"\""))
    {
        Some(inner) => inner.trim_ascii(),
        None => field,
    }
}

fn looks_numeric(field: &[u8]) -> bool {
    field.iter().any(u8::is_ascii_digit)
        && field
            .iter()
            .all(|b| b.is_ascii_digit() || b"+-.".contains(b))
}

#[cfg(test)]
mod tests {
    use crate::data::csv::CsvKind;
    use crate::data::csv::test_support::{self, assert_at, csv, error, fields, parse, train_csv};

    #[test]
    fn rejects_a_missing_header() {
        let rows = [fields(CsvKind::Train, 3)];
        let text = csv(CsvKind::Train, &rows);
        let headerless = text.split_once('\n').unwrap().1;
        assert_at(&error(headerless), Some(1), None, "header line is missing");
        let error = error(&format!("\n\n{headerless}"));
        assert_at(&error, Some(3), None, "the first line starts with `3`");
    }

    #[test]
    fn rejects_wrong_header_names() {
        let text = train_csv(2).replacen("pixel2,", "px3,", 1);
        let error = error(&text);
        assert_at(
            &error,
            Some(1),
            Some(4),
            "column 4 (pixel2): the header names this column `px3`",
        );
        let error = test_support::error(&text.replacen("label", "digit", 1));
        assert_at(
            &error,
            Some(1),
            Some(1),
            "the header starts with `digit`; expected",
        );
        let error = parse(
            text.replacen("label", "lbl", 1).as_bytes(),
            Some(CsvKind::Train),
        )
        .unwrap_err();
        assert_eq!(error.column_name.as_deref(), Some("label"));
    }

    #[test]
    fn rejects_a_wrong_count_of_header_columns() {
        let text = train_csv(2);
        let (head, body) = text.split_once('\n').unwrap();
        let short: Vec<_> = head.split(',').take(700).collect();
        let error = error(&format!("{}\n{body}", short.join(",")));
        assert_at(
            &error,
            Some(1),
            Some(701),
            "the header has 700 columns; expected 785",
        );
        assert_eq!(error.column_name.as_deref(), Some("pixel699"));
        let error = test_support::error(&format!("{head},extra\n{body}"));
        assert_at(
            &error,
            Some(1),
            Some(786),
            "the header has 786 columns; expected 785",
        );
    }

    #[test]
    fn rejects_a_test_file_where_training_data_is_expected_and_back() {
        let test = csv(CsvKind::Test, &[fields(CsvKind::Test, 0)]);
        let error = parse(test.as_bytes(), Some(CsvKind::Train)).unwrap_err();
        assert_at(&error, Some(1), None, "unlabelled test file");
        assert!(error.hint.contains("Load it as the test file"), "{error}");
        let error = parse(train_csv(1).as_bytes(), Some(CsvKind::Test)).unwrap_err();
        assert_at(&error, Some(1), None, "labelled training file");
        assert!(
            error.hint.contains("Load it as the training file"),
            "{error}"
        );
    }
}

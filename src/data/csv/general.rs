//! The general field parser, taken only when the fast path fails: it allows blanks and quotes,
//! and otherwise says precisely what is wrong (empty, not a number, out of range, wrong count of
//! values, binary data) and how to fix it. It is cold code, so it favours clarity over speed,
//! but each field costs only its own length: a scan never runs past the field's end, and the rest
//! of the line is looked at only to word an error (a row of 785 quoted fields, or one 1 GiB line,
//! would otherwise be scanned once per field).

use super::CsvKind;
use super::error::{CsvError, LABEL_HINT, PIXEL_HINT, show, show_number};
use super::fast::parse_digits;
use super::sniff::is_binary_control;
use super::text::Cursor;

impl Cursor<'_> {
    /// Reads the field at `start` with blanks and quotes allowed, or says precisely what is wrong
    /// with it. Returns its value and the position after its separator.
    #[cold]
    pub(super) fn read_field_slowly(
        &self,
        kind: CsvKind,
        column: usize,
        start: usize,
    ) -> Result<(u8, usize), CsvError> {
        let text = self.text;
        let field = self.skip_blanks(start);
        // `after`: where the field's separator (`,`, `\n` or the end) should be.
        let (value, after) = if text.get(field) == Some(&b'"') {
            let close = self.find(field + 1, |b| b == b'"' || b == b'\n');
            if text.get(close) != Some(&b'"') {
                let problem = "a quote opens here but does not close on this line".to_owned();
                return Err(self.value_error(kind, column, problem));
            }
            (&text[field + 1..close], self.skip_blanks(close + 1))
        } else {
            let end = self.find(field, |b| b == b',' || b == b'\n');
            (&text[field..end], end)
        };
        let row_ends = matches!(text.get(after), None | Some(b'\n'));
        if !row_ends && text[after] != b',' {
            let junk_end = self.find(after, |b| b == b',' || b == b'\n');
            let problem = format!(
                "unexpected {} after the closing quote",
                show(&text[after..junk_end])
            );
            return Err(self.value_error(kind, column, problem));
        }

        let last = kind.columns() - 1;
        let wrong_count = |found: usize, first_bad: usize| {
            let expected = kind.columns();
            self.error(
                format!("the row has {found} values; expected {expected} like the header"),
                "The file may be cut short or edited: fix the row, or download the file again.",
            )
            .in_column(kind, first_bad)
        };
        // A short row is reported as such before its last value (often cut off) is judged.
        if row_ends && column < last {
            return Err(wrong_count(column + 1, column + 1));
        }
        let value = self.field_value(kind, column, value.trim_ascii())?;
        match (row_ends, column == last) {
            (true, _) => Ok((value, (after + 1).min(text.len()))),
            (false, false) => Ok((value, after + 1)),
            (false, true) => {
                let rest = &text[after..self.line_end(after)];
                let extra_values = rest.iter().filter(|&&b| b == b',').count();
                Err(wrong_count(column + 1 + extra_values, column + 1))
            }
        }
    }

    /// The first position from `from` on that is not a blank inside the line (`\n` ends it).
    fn skip_blanks(&self, from: usize) -> usize {
        self.find(from, |b| !b.is_ascii_whitespace() || b == b'\n')
    }

    /// The value of a trimmed, unquoted field, or what is wrong with it.
    fn field_value(&self, kind: CsvKind, column: usize, value: &[u8]) -> Result<u8, CsvError> {
        let (range, max) = if column < kind.label_columns() {
            ("0..9", 9)
        } else {
            ("0..255", 255)
        };
        let digits = value.strip_prefix(b"-").unwrap_or(value);
        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
            let number = parse_digits(digits);
            let negative = digits.len() < value.len() && number > 0;
            if negative || number > max {
                return Err(self.out_of_range(kind, column, &show_number(value)));
            }
            return Ok(number as u8);
        }
        let (shown, as_text) = (show(value), std::str::from_utf8(value));
        let problem = if value.is_empty() {
            format!("the value is empty; expected a whole number {range}")
        } else if as_text.is_err() || value.iter().any(|&b| is_binary_control(b)) {
            format!("found binary data {shown}; this part of the file is not CSV text")
        } else if as_text.is_ok_and(|s| s.parse::<f64>().is_ok_and(f64::is_finite)) {
            format!("value {shown} is not a whole number; expected an integer {range}")
        } else {
            format!("value {shown} is not a number; expected an integer {range}")
        };
        Err(self.value_error(kind, column, problem))
    }

    pub(super) fn out_of_range(&self, kind: CsvKind, column: usize, value: &str) -> CsvError {
        let problem = if column < kind.label_columns() {
            format!("label {value} is outside 0..9")
        } else {
            format!("value {value} is outside 0..255")
        };
        self.value_error(kind, column, problem)
    }

    /// An error in a data field, with the hint for its column (label or pixel).
    fn value_error(&self, kind: CsvKind, column: usize, problem: String) -> CsvError {
        let hint = if column < kind.label_columns() {
            LABEL_HINT
        } else {
            PIXEL_HINT
        };
        self.error(problem, hint).in_column(kind, column)
    }
}

#[cfg(test)]
mod tests {
    use crate::data::csv::test_support::{
        self, all_quoted, assert_at, csv, error, fields, header, parse, train_csv, with_value,
    };
    use crate::data::csv::text::SCANNED;
    use crate::data::csv::{CsvError, CsvKind, ParsedCsv};

    /// Parses `text`, returning also how many bytes the scans examined.
    fn scanned(text: &str) -> (Result<ParsedCsv, CsvError>, usize) {
        SCANNED.set(0);
        let parsed = parse(text.as_bytes(), None);
        (parsed, SCANNED.get())
    }

    #[test]
    fn quoted_rows_cost_their_length_not_fields_times_length() {
        // Before, every slow field scanned the rest of its line: ~400x the text for this file.
        let plain = train_csv(1000);
        let quoted = all_quoted(&plain);
        let (parsed, examined) = scanned(&quoted);
        assert_eq!(parsed, parse(plain.as_bytes(), None));
        assert!(
            examined <= 2 * quoted.len(),
            "{examined} for {}",
            quoted.len()
        );
        // Blanks around every value, and a 10 MB blank in a valid row.
        let padded = plain.replace(',', " , ");
        let (parsed, examined) = scanned(&padded);
        assert_eq!(parsed, parse(plain.as_bytes(), None));
        assert!(
            examined <= 2 * padded.len(),
            "{examined} for {}",
            padded.len()
        );
        let wide = plain.replacen("\n1,", &format!("\n1,{}", " ".repeat(10 << 20)), 1);
        let (parsed, examined) = scanned(&wide);
        assert_eq!(parsed, parse(plain.as_bytes(), None));
        assert!(examined <= 2 * wide.len(), "{examined} for {}", wide.len());
    }

    #[test]
    fn one_enormous_line_is_rejected_after_one_pass() {
        let head = header(CsvKind::Train) + "\n";
        let quoted_fields = "\"0\",".repeat(10 << 20 >> 2);
        let digits = "7".repeat(10 << 20);
        let pixel5 = format!("1,0,0,0,0,{digits},0\n");
        let cases = [
            (
                format!("{head}{quoted_fields}"),
                786,
                "the row has 2621441 values; expected 785",
            ),
            (
                format!("{head}{quoted_fields}\n"),
                786,
                "the row has 2621441 values",
            ),
            (
                format!("{head}{digits}"),
                2,
                "the row has 1 values; expected 785",
            ),
            (
                format!("{head} {digits}\n"),
                2,
                "the row has 1 values; expected 785",
            ),
            (
                format!("{head}\"{digits}"),
                1,
                "a quote opens here but does not close",
            ),
            (format!("{head}\"0\"{digits},0"), 1, "unexpected `7777"),
            (
                head + &pixel5,
                6,
                "(pixel4): value 7777777777777777777777777777777777777777... is",
            ),
        ];
        for (text, column, needle) in cases {
            let (parsed, examined) = scanned(&text);
            let error = parsed.unwrap_err();
            assert_at(&error, Some(2), Some(column), needle);
            assert!(error.to_string().len() < 300, "{error}");
            assert!(
                examined <= 2 * text.len(),
                "{examined} for {}: {error}",
                text.len()
            );
        }
    }

    #[test]
    fn accepts_unusual_but_valid_text() {
        let rows: Vec<_> = (0..3).map(|seed| fields(CsvKind::Train, seed)).collect();
        let plain = csv(CsvKind::Train, &rows);
        let wanted = parse(plain.as_bytes(), None).unwrap();
        let variants = [
            plain.replace('\n', "\r\n"),
            format!("\u{feff}{plain}"),
            plain.trim_end().to_owned(),
            plain.trim_end().replace('\n', "\r\n"),
            format!("\n \n\t\r\n{}\n\n   \n{}\n\r\n\n", plain.trim_end(), "  \t"),
            plain.replacen('\n', "\n\n  \n", 2),
            all_quoted(&plain),
            plain.replace(',', " ,\t"),
            plain.replace(',', ", ").replace('\n', " \n"),
            plain.replace(",0,", ",000,"),
        ];
        for (i, text) in variants.iter().enumerate() {
            assert_eq!(
                parse(text.as_bytes(), Some(CsvKind::Train)).as_ref(),
                Ok(&wanted),
                "variant {i}"
            );
        }
    }

    #[test]
    fn rejects_rows_with_a_wrong_column_count() {
        let text = train_csv(3);
        let mut lines: Vec<_> = text.lines().map(str::to_owned).collect();
        lines[2] = "1,0,0".to_owned();
        let error = error(&lines.join("\n"));
        assert_at(
            &error,
            Some(3),
            Some(4),
            "(pixel2): the row has 3 values; expected 785",
        );
        lines[2] = lines[1].clone() + ",7,8";
        assert_at(
            &test_support::error(&lines.join("\n")),
            Some(3),
            Some(786),
            "787 values",
        );
        lines[2] = lines[1].clone() + ",";
        assert_at(
            &test_support::error(&lines.join("\n")),
            Some(3),
            Some(786),
            "786 values",
        );
        // A file cut mid-row: right after a comma, and in a value.
        let cut = &text[..text.rfind(',').unwrap() + 1];
        let error = test_support::error(cut);
        assert_at(&error, Some(4), Some(785), "(pixel783): the value is empty");
        let error = test_support::error(&text[..text.len() - 600]);
        assert_at(
            &error,
            Some(4),
            Some(549),
            "(pixel547): the row has 548 values; expected",
        );
    }

    #[test]
    fn rejects_values_that_are_not_whole_numbers() {
        let cases = [
            (
                16,
                "abc",
                "(pixel15): value `abc` is not a number; expected an integer 0..255",
            ),
            (1, "", "(pixel0): the value is empty"),
            (
                5,
                "12.5",
                "value `12.5` is not a whole number; expected an integer 0..255",
            ),
            (
                0,
                "1e0",
                "(label): value `1e0` is not a whole number; expected an integer 0..9",
            ),
            (9, "\"12", "a quote opens here but does not close"),
            (9, "\"12\"x", "unexpected `x` after the closing quote"),
            (9, "1 2", "value `1 2` is not a number"),
        ];
        for (column, value, needle) in cases {
            assert_at(
                &error(&with_value(column, value)),
                Some(2),
                Some(column + 1),
                needle,
            );
        }
        let error = error(&with_value(1, "0").replacen("\n0,0,", "\n0,,", 1));
        assert_at(&error, Some(2), Some(2), "(pixel0): the value is empty");
    }
}

//! The fast path for data rows, where nearly all the time goes (42,000 rows of 785 values):
//! runs of `0,` eight bytes at a time and branch-free digit scanning. It only accepts plain
//! fields; anything else goes to the general parser, which also words every error.

use super::CsvKind;
use super::error::CsvError;
use super::text::Cursor;

/// Above every valid value; stops digit accumulation from overflowing on long numbers.
const SATURATED: u32 = 1000;

impl Cursor<'_> {
    /// Reads one data row into `row` (one value per column). Plain fields take a fast path (runs
    /// of `0,` eight bytes at a time, as most pixels are background); anything else (blanks,
    /// quotes, every error) goes through `read_field_slowly`.
    pub(super) fn read_row(&mut self, kind: CsvKind, row: &mut [u8]) -> Result<(), CsvError> {
        let text = self.text;
        let last = row.len() - 1;
        let mut pos = self.pos;
        let mut column = 0;
        while column < last {
            if column + 4 <= last && text.get(pos..pos + 8) == Some(b"0,0,0,0,") {
                row[column..column + 4].fill(0);
                column += 4;
                pos += 8;
                continue;
            }
            let (value, digits) = scan_number(text, pos);
            if digits > 0 && value <= 255 && text.get(pos + digits) == Some(&b',') {
                row[column] = value as u8;
                pos += digits + 1;
            } else {
                (row[column], pos) = self.read_field_slowly(kind, column, pos)?;
            }
            column += 1;
        }
        let (value, digits) = scan_number(text, pos);
        let line_end = match text.get(pos + digits) {
            None => Some(0),
            Some(b'\n') => Some(1),
            Some(b'\r') if text.get(pos + digits + 1) == Some(&b'\n') => Some(2),
            Some(_) => None,
        };
        match line_end {
            Some(length) if digits > 0 && value <= 255 => {
                row[last] = value as u8;
                pos += digits + length;
            }
            _ => (row[last], pos) = self.read_field_slowly(kind, last, pos)?,
        }
        // The fast path only checked 0..=255.
        if kind == CsvKind::Train && row[0] > 9 {
            return Err(self.out_of_range(kind, 0, &row[0].to_string()));
        }
        self.pos = pos;
        self.line += 1;
        Ok(())
    }
}

/// The value and count of the digits at `pos`, for the fast path: branch-free on four bytes at
/// once, since digit counts vary unpredictably (`0` vs `255`). Four or more digits give a value
/// above 255, which sends the field to the slow path.
#[inline(always)]
fn scan_number(text: &[u8], pos: usize) -> (u32, usize) {
    let rest = text.get(pos..).unwrap_or_default();
    let Some(&word) = rest.first_chunk::<4>() else {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        return (parse_digits(&rest[..digits]), digits);
    };
    // Digits become 0..=9; any byte outside that gets its top bit set in `non_digits`.
    let values = u32::from_le_bytes(word) ^ 0x3030_3030;
    let non_digits = (((values & 0x7f7f_7f7f) + 0x7676_7676) | values) & 0x8080_8080;
    let digits = (non_digits.trailing_zeros() / 8) as usize;
    if digits > 3 {
        return (SATURATED, digits);
    }
    // Right-align the digits in bytes 0..=2 (hundreds, tens, ones), dropping what follows them.
    let aligned = values << (8 * (3 - digits));
    let value = (aligned & 0xff) * 100 + (aligned >> 8 & 0xff) * 10 + (aligned >> 16 & 0xff);
    (value, digits)
}

/// The value of ASCII digits, saturating at a value above any valid one.
pub(super) fn parse_digits(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, &d| {
        (n * 10 + u32::from(d.wrapping_sub(b'0'))).min(SATURATED)
    })
}

#[cfg(test)]
mod tests {
    use crate::data::csv::CsvKind;
    use crate::data::csv::error::PIXEL_HINT;
    use crate::data::csv::test_support::{
        self, Rng, assert_at, csv, error, expected_values, fields, parse, with_value,
    };

    #[test]
    fn random_values_and_layouts_parse_exactly() {
        // Values of every width and leading zeros, mostly plain, sometimes blanks or quotes,
        // so both the fast path and the field-by-field path are checked against the truth.
        let mut rng = Rng(7);
        for _ in 0..30 {
            let mut rows = Vec::new();
            let mut texts = Vec::new();
            for _ in 0..4 {
                let values: Vec<u8> = (0..785)
                    .map(|c| match (c, rng.below(4)) {
                        (0, _) => rng.below(10) as u8,
                        (_, 0) => rng.below(256) as u8,
                        _ => 0,
                    })
                    .collect();
                let text: Vec<String> = values
                    .iter()
                    .map(|v| match rng.below(40) {
                        0 => format!(" {v}\t"),
                        1 => format!("\"{v}\""),
                        2 => format!("00{v}"),
                        _ => v.to_string(),
                    })
                    .collect();
                rows.push(values.iter().map(u8::to_string).collect::<Vec<_>>());
                texts.push(text);
            }
            let (pixels, labels) = expected_values(CsvKind::Train, &rows);
            let parsed = parse(csv(CsvKind::Train, &texts).as_bytes(), None).unwrap();
            assert_eq!((parsed.pixels, parsed.labels), (pixels, labels));
        }
    }

    #[test]
    fn rejects_values_out_of_range() {
        let mut rows: Vec<_> = (0..5).map(|seed| fields(CsvKind::Train, seed)).collect();
        rows[3][16] = "300".to_owned();
        let error = error(&csv(CsvKind::Train, &rows));
        assert_eq!(
            error.to_string(),
            format!(
                "train.csv, line 5, column 17 (pixel15): value 300 is outside 0..255. {PIXEL_HINT}"
            )
        );
        for (column, value, needle) in [
            (784, "-3", "(pixel783): value -3 is outside 0..255"),
            (400, "99999999999", "value 99999999999 is outside 0..255"),
            (0, "12", "(label): label 12 is outside 0..9"),
            (0, "-1", "label -1 is outside 0..9"),
            (0, "300", "label 300 is outside 0..9"),
        ] {
            let error = test_support::error(&with_value(column, value));
            assert_at(&error, Some(2), Some(column + 1), needle);
        }
    }
}

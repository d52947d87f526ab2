//! R-USR-5: importing users from CSV, `name,email[,products]` with products separated by `;` or
//! `*` for all. Every line is checked on its own; a bad line gets a line-numbered reason and the
//! good ones are applied.

use std::collections::{BTreeSet, HashMap};

use crate::access::ProductAccess;
use crate::email::Email;
use crate::error::DomainError;
use crate::person::PersonName;
use crate::product::ProductKey;

/// Most lines in one import request (a client sends a larger file in parts).
pub const MAX_IMPORT_LINES: usize = 100_000;
/// Largest file line number a part of a file may start at: more lines than any file has, and
/// line numbers stay exact as BIGINTs.
pub const MAX_FIRST_LINE: u64 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Line number in the file (1-based).
    pub line: u64,
    pub name: PersonName,
    pub email: Email,
    /// `None`: the line names no products, so the user's selection is left as it is (or empty
    /// for a new user).
    pub products: Option<ProductAccess>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

/// The reason a line is refused when its address came earlier in the file, on line `first`.
pub fn repeated(email: &Email, first: u64) -> String {
    format!("{email} is already on line {first}")
}

/// Parses an import file. `first_line` is the file line number of `data`'s first line (1 to
/// [`MAX_FIRST_LINE`]), for a file sent in parts. A header line (`name,email[,products]`) at the
/// top of the file is skipped.
pub fn parse_csv(
    data: &[u8],
    first_line: u64,
) -> Result<(Vec<ImportRow>, Vec<Rejection>), DomainError> {
    if !(1..=MAX_FIRST_LINE).contains(&first_line) {
        return Err(DomainError::InvalidImport {
            detail: format!("first_line must be 1 to {MAX_FIRST_LINE}, got {first_line}"),
        });
    }
    // Spreadsheets save "CSV UTF-8" with a byte order mark; it is no part of the first cell.
    let data = if first_line == 1 {
        data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
    } else {
        data
    };
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    // One parser for the whole file, reset for each line: building one is the costly part.
    let mut parser = csv_core::ReaderBuilder::new().build();
    // One record per physical line: each line is read on its own, so a broken line (an unclosed
    // quote, say) costs only itself, and line numbers are exact.
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    if lines.len() > MAX_IMPORT_LINES + 1 {
        return Err(DomainError::InvalidImport {
            detail: format!(
                "an import has at most {MAX_IMPORT_LINES} lines; send the file in parts"
            ),
        });
    }
    for (i, raw) in lines.into_iter().enumerate() {
        let line = first_line.saturating_add(i as u64);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = match read_record(&mut parser, raw) {
            Ok(r) => r,
            Err(reason) => {
                rejected.push(Rejection { line, reason });
                continue;
            }
        };
        if line == 1 && is_header(&record) {
            continue;
        }
        match parse_row(&record, line) {
            Ok(row) => {
                let key = row.email.normalized();
                if let Some(first) = seen.get(&key) {
                    rejected.push(Rejection {
                        line,
                        reason: repeated(&row.email, *first),
                    });
                } else {
                    seen.insert(key, line);
                    rows.push(row);
                }
            }
            Err(reason) => rejected.push(Rejection { line, reason }),
        }
    }
    Ok((rows, rejected))
}

/// Reads `line` as exactly one CSV record, its fields trimmed.
fn read_record(parser: &mut csv_core::Reader, line: &[u8]) -> Result<csv::ByteRecord, String> {
    use csv_core::ReadRecordResult;
    parser.reset();
    // A record's fields are never longer than the line, and it has at most one field more than
    // the line has bytes: the parser never runs out of room.
    let mut fields = vec![0u8; line.len()];
    let mut ends = vec![0usize; line.len() + 1];
    let mut records = Vec::new();
    let mut input = line;
    let (mut out, mut end) = (0, 0);
    while records.len() < 2 {
        // An empty input tells the parser that the line has ended.
        let at_end = input.is_empty();
        let (result, read, written, ended) =
            parser.read_record(input, &mut fields[out..], &mut ends[end..]);
        input = &input[read..];
        out += written;
        end += ended;
        match result {
            ReadRecordResult::InputEmpty if !at_end => {}
            ReadRecordResult::Record => {
                let mut record = csv::ByteRecord::new();
                let mut start = 0;
                for &stop in &ends[..end] {
                    record.push_field(&fields[start..stop]);
                    start = stop;
                }
                record.trim();
                records.push(record);
                (out, end) = (0, 0);
            }
            ReadRecordResult::InputEmpty
            | ReadRecordResult::End
            | ReadRecordResult::OutputFull
            | ReadRecordResult::OutputEndsFull => break,
        }
    }
    match (records.pop(), records.is_empty()) {
        (Some(record), true) => Ok(record),
        // None, or a second record on the line (a stray carriage return, say).
        _ => Err(format!(
            "cannot be read as one CSV line (a quote left open?); {FORM}"
        )),
    }
}

fn is_header(record: &csv::ByteRecord) -> bool {
    let fields: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(f).to_ascii_lowercase())
        .collect();
    fields.first().map(String::as_str) == Some("name")
        && fields.get(1).map(String::as_str) == Some("email")
}

const FORM: &str = "expected name,email[,products] with products separated by ';' or '*' for all";

fn parse_row(record: &csv::ByteRecord, line: u64) -> Result<ImportRow, String> {
    let fields: Vec<&str> = record
        .iter()
        .map(std::str::from_utf8)
        .collect::<Result<_, _>>()
        .map_err(|_| "is not valid UTF-8 text".to_owned())?;
    if !(2..=3).contains(&fields.len()) {
        return Err(format!("has {} fields; {FORM}", fields.len()));
    }
    let name = PersonName::parse(fields[0]).map_err(|e| e.to_string())?;
    let email = Email::parse(fields[1]).map_err(|e| e.to_string())?;
    let products = match fields.get(2).copied().unwrap_or("") {
        "" => None,
        field => Some(parse_products(field)?),
    };
    Ok(ImportRow {
        line,
        name,
        email,
        products,
    })
}

/// A products field: `*` for all, or keys separated by `;` (an empty list selects none).
pub fn parse_products(field: &str) -> Result<ProductAccess, String> {
    if field.trim() == "*" {
        return Ok(ProductAccess::All);
    }
    let keys = field
        .split(';')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| ProductKey::parse(k).map_err(|e| e.to_string()))
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(ProductAccess::Selected(keys))
}

/// A selection written as a products field, the inverse of [`parse_products`]: queued imports
/// keep each line's products in the file's own notation.
pub fn products_field(access: &ProductAccess) -> String {
    match access {
        ProductAccess::All => "*".to_owned(),
        ProductAccess::Selected(keys) => keys
            .iter()
            .map(ProductKey::as_str)
            .collect::<Vec<_>>()
            .join(";"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_first_line_out_of_range_is_refused_not_overflowed() {
        for first in [0, MAX_FIRST_LINE + 1, u64::MAX] {
            let e = parse_csv(b"A,a@example.com\nB,b@example.com", first).unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::InvalidImport, "{first}");
        }
        let (rows, _) = parse_csv(b"A,a@example.com\nB,b@example.com", MAX_FIRST_LINE).unwrap();
        assert_eq!(rows[1].line, MAX_FIRST_LINE + 1);
    }

    #[test]
    fn a_byte_order_mark_from_a_spreadsheet_is_not_part_of_the_header() {
        let plain = parse_csv(b"name,email\nJane Doe,jane@example.com\n", 1).unwrap();
        let marked = parse_csv(b"\xEF\xBB\xBFname,email\nJane Doe,jane@example.com\n", 1).unwrap();
        assert_eq!(marked, plain);
        assert!(
            marked.1.is_empty(),
            "the header is skipped, not refused: {:?}",
            marked.1
        );
        assert_eq!(marked.0.len(), 1);
    }

    #[test]
    fn r_usr_5_each_line_is_checked_alone_with_its_line_number() {
        let csv = "name,email,products\n\
                   Jane Doe,jane@example.com,autocad;revit\n\
                   John Roe,john@example.com,*\n\
                   ,nobody@example.com\n\
                   Ann Bee,not-an-email\n\
                   \n\
                   Carl Dee,carl@example.com\n\
                   Jane Again,JANE@example.com\n\
                   Dan Eff,dan@example.com,Bad Key\n\
                   \"Doe, Eve\",eve@example.com,maya\n\
                   one field\n";
        let (rows, rejected) = parse_csv(csv.as_bytes(), 1).unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.line, r.email.as_str().to_owned()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "jane@example.com".to_owned()),
                (3, "john@example.com".to_owned()),
                (7, "carl@example.com".to_owned()),
                (10, "eve@example.com".to_owned()),
            ]
        );
        assert_eq!(rows[1].products, Some(ProductAccess::All));
        assert_eq!(rows[2].products, None);
        assert_eq!(rows[3].name.as_str(), "Doe, Eve");
        let lines: Vec<u64> = rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![4, 5, 8, 9, 11]);
        assert!(rejected[2].reason.contains("line 2"), "{:?}", rejected[2]);
        assert!(
            rejected[4].reason.contains("name,email"),
            "{:?}",
            rejected[4]
        );
    }

    #[test]
    fn parts_of_a_file_keep_file_line_numbers() {
        let (_, rejected) = parse_csv(b"Ann,bad\n", 501).unwrap();
        assert_eq!(rejected[0].line, 501);
        // Only the top of the whole file may be a header.
        let (rows, rejected) = parse_csv(b"name,email\n", 501).unwrap();
        assert!(rows.is_empty());
        assert_eq!(rejected[0].line, 501);
    }

    proptest! {
        #[test]
        fn valid_lines_round_trip(
            name in "[A-Z][a-z]{1,10}( [A-Z][a-z]{1,10})?",
            local in "[a-z]{1,10}",
            keys in prop::collection::btree_set("[a-z][a-z0-9-]{0,8}", 0..4),
        ) {
            let products = keys.iter().cloned().collect::<Vec<_>>().join(";");
            let text = format!("{name},{local}@example.com,{products}\n");
            let (rows, rejected) = parse_csv(text.as_bytes(), 1).unwrap();
            prop_assert!(rejected.is_empty(), "{:?}", rejected);
            prop_assert_eq!(rows.len(), 1);
            prop_assert_eq!(rows[0].name.as_str(), name.as_str());
            let want = if keys.is_empty() {
                None
            } else {
                Some(ProductAccess::Selected(keys.iter().map(|k| ProductKey::parse(k).unwrap()).collect()))
            };
            prop_assert_eq!(&rows[0].products, &want);
        }

        #[test]
        fn a_products_field_reads_back_as_written(
            all in any::<bool>(),
            keys in prop::collection::btree_set("[a-z][a-z0-9-]{0,8}", 0..4),
        ) {
            let access = if all {
                ProductAccess::All
            } else {
                ProductAccess::Selected(keys.iter().map(|k| ProductKey::parse(k).unwrap()).collect())
            };
            prop_assert_eq!(parse_products(&products_field(&access)), Ok(access));
        }

        /// The parser reused line after line reads every line as a fresh `csv::Reader` does
        /// (what imports used before).
        #[test]
        fn a_reused_parser_reads_lines_as_a_fresh_reader(
            lines in prop::collection::vec(
                prop::collection::vec(prop_oneof![
                    Just(b'"'), Just(b','), Just(b' '), Just(b'\r'), Just(b'a'), Just(0xEF), Just(0xBB), Just(0xBF), any::<u8>()
                ], 0..12),
                1..8,
            ),
        ) {
            let mut parser = csv_core::ReaderBuilder::new().build();
            for line in lines {
                let line: Vec<u8> = line.into_iter().filter(|b| *b != b'\n').collect();
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .trim(csv::Trim::All)
                    .from_reader(&line[..]);
                let mut record = csv::ByteRecord::new();
                let fresh = match reader.read_byte_record(&mut record) {
                    Ok(true) if !reader.read_byte_record(&mut csv::ByteRecord::new()).unwrap_or(true) => Some(record),
                    _ => None,
                };
                prop_assert_eq!(read_record(&mut parser, &line).ok(), fresh, "{:?}", line);
            }
        }

        #[test]
        fn garbage_never_panics_and_every_bad_line_has_a_reason(data in prop::collection::vec(any::<u8>(), 0..400)) {
            let (rows, rejected) = parse_csv(&data, 1).unwrap();
            for r in &rejected {
                prop_assert!(r.line >= 1);
                prop_assert!(!r.reason.is_empty());
            }
            for r in &rows {
                prop_assert!(r.line >= 1);
            }
        }
    }
}

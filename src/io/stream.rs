//! Row-chunked reading of a float matrix file (`.npy` or `.csv`) and streamed `.npy` writing,
//! so that `encode` and `logprob` run in O(chunk) memory on inputs of any length. The checks
//! and messages are those of `read_matrix`: file, row and column of the first bad value.
use super::{extension, npy};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use std::path::{Path, PathBuf};

enum Source {
    Npy(Box<dyn Iterator<Item = std::io::Result<f64>>>),
    Csv { records: csv::StringRecordsIntoIter<std::fs::File>, pending: Option<(usize, csv::StringRecord)>, line: usize },
}

pub struct RowReader {
    path: PathBuf,
    source: Source,
    cols: usize,
    /// Rows returned so far.
    rows_read: usize,
    /// Total rows when known from a header (.npy).
    rows: Option<usize>,
}

impl RowReader {
    pub fn open(path: &Path) -> Result<RowReader> {
        match extension(path).as_str() {
            "npy" => {
                let (rows, cols, values) = npy::open_values(path)?;
                // (0, 2^32) fits any file (no values) but would size the chunk buffers.
                if rows == 0 || cols == 0 {
                    return Err(Error::input(path, format!("empty matrix ({rows} × {cols})")));
                }
                Ok(RowReader { path: path.to_path_buf(), source: Source::Npy(values), cols, rows_read: 0, rows: Some(rows) })
            }
            "csv" => {
                let reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_path(path).map_err(|e| match e.into_kind() {
                    csv::ErrorKind::Io(io) => Error::io(path, io),
                    other => Error::input(path, format!("{other:?}")),
                })?;
                let mut source = Source::Csv { records: reader.into_records(), pending: None, line: 0 };
                // The first non-blank record: a header (no cell is a number) or the first row.
                let first = next_record(path, &mut source)?.ok_or_else(|| Error::input(path, "no data rows"))?;
                let first = if super::csv_file::is_header(&first.1) { next_record(path, &mut source)?.ok_or_else(|| Error::input(path, "no data rows"))? } else { first };
                let cols = first.1.len();
                if let Source::Csv { pending, .. } = &mut source {
                    *pending = Some(first);
                }
                Ok(RowReader { path: path.to_path_buf(), source, cols, rows_read: 0, rows: None })
            }
            other => Err(Error::input(path, format!("unsupported extension '.{other}': expected .npy or .csv"))),
        }
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The next at most `max_rows` rows (None at the end).
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Matrix>> {
        // Sized by what remains (.npy) or by one chunk of rows that exist (.csv, cols from a row).
        let rows = self.rows.map_or(max_rows, |r| max_rows.min(r - self.rows_read));
        let mut data = Vec::with_capacity(rows.saturating_mul(self.cols).min(1 << 24));
        let cols = self.cols;
        match &mut self.source {
            Source::Npy(values) => {
                let want = max_rows.min(self.rows.unwrap_or(0) - self.rows_read) * cols;
                for _ in 0..want {
                    match values.next() {
                        Some(Ok(v)) => data.push(v),
                        Some(Err(e)) => return Err(Error::input(&self.path, format!("truncated or unreadable data: {e}"))),
                        None => return Err(Error::input(&self.path, format!("truncated: expected {} values", self.rows.unwrap_or(0) * cols))),
                    }
                }
            }
            Source::Csv { .. } => {
                for _ in 0..max_rows {
                    let Some((line, rec)) = next_record(&self.path, &mut self.source)? else { break };
                    if rec.len() != cols {
                        return Err(Error::cell(&self.path, line, rec.len().min(cols) + 1, format!("row has {} columns, expected {cols} like the first data row", rec.len())));
                    }
                    for (j, cell) in rec.iter().enumerate() {
                        data.push(cell.parse().map_err(|_| Error::cell(&self.path, line, j + 1, format!("'{cell}' is not a number")))?);
                    }
                }
            }
        }
        if data.is_empty() {
            if self.rows_read == 0 {
                return Err(Error::input(&self.path, "no data rows"));
            }
            return Ok(None);
        }
        let n = data.len() / cols;
        if let Some(k) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::cell(&self.path, self.rows_read + k / cols + 1, k % cols + 1, format!("value {} is not finite", data[k])));
        }
        self.rows_read += n;
        Ok(Some(Matrix::new(n, cols, data)))
    }
}

/// The next non-blank CSV record with its 1-based line number.
fn next_record(path: &Path, source: &mut Source) -> Result<Option<(usize, csv::StringRecord)>> {
    let Source::Csv { records, pending, line } = source else { unreachable!("csv source") };
    if let Some(p) = pending.take() {
        return Ok(Some(p));
    }
    for rec in records.by_ref() {
        *line += 1;
        let rec = rec.map_err(|e| Error::cell(path, *line, 1, format!("unreadable line: {e}")))?;
        if rec.len() == 1 && rec[0].is_empty() {
            continue;
        }
        return Ok(Some((*line, rec)));
    }
    Ok(None)
}

/// Number of data rows of a matrix file: from the header (.npy) or one streaming pass (.csv).
pub fn count_rows(path: &Path) -> Result<usize> {
    let mut reader = RowReader::open(path)?;
    if let Some(rows) = reader.rows {
        return Ok(rows);
    }
    let mut n = 0;
    while let Some(chunk) = reader.next_chunk(65_536)? {
        n += chunk.rows;
    }
    Ok(n)
}

/// Write a rows × cols float64 `.npy` atomically from chunks that `fill` emits in row order;
/// an error from `fill` (or a wrong row count) leaves any previous file untouched.
pub fn write_npy_rows(path: &Path, rows: usize, cols: usize, fill: impl FnOnce(&mut dyn FnMut(&[f64]) -> Result<()>) -> Result<()>) -> Result<()> {
    let mut inner: Option<Error> = None;
    let result = super::atomic_write(path, |w| {
        use npyz::WriterBuilder;
        let mut writer = npyz::WriteOptions::<f64>::new().default_dtype().shape(&[rows as u64, cols as u64]).writer(w).begin_nd()?;
        let mut written = 0usize;
        let mut emit = |values: &[f64]| -> Result<()> {
            written += values.len();
            writer.extend(values.iter().copied()).map_err(|e| Error::io(path, e))
        };
        if let Err(e) = fill(&mut emit) {
            inner = Some(e);
            return Err(std::io::Error::other("aborted"));
        }
        if written != rows * cols {
            inner = Some(Error::input(path, format!("internal: wrote {written} values for {rows} × {cols}")));
            return Err(std::io::Error::other("aborted"));
        }
        writer.finish()
    });
    match inner {
        Some(e) => Err(e),
        None => result,
    }
}

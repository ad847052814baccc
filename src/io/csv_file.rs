//! `.csv` reading: numbers separated by commas, an optional header row (a first row in which no
//! cell is a number), every row the same length.
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use std::path::Path;

fn records(path: &Path) -> Result<Vec<(usize, csv::StringRecord)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| match e.into_kind() {
            csv::ErrorKind::Io(io) => Error::io(path, io),
            other => Error::input(path, format!("{other:?}")),
        })?;
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| Error::cell(path, i + 1, 1, format!("unreadable line: {e}")))?;
        // Skip blank lines (a trailing newline, an empty last line).
        if rec.len() == 1 && rec[0].is_empty() {
            continue;
        }
        out.push((i + 1, rec));
    }
    Ok(out)
}

pub(super) fn is_header(rec: &csv::StringRecord) -> bool {
    rec.iter().all(|cell| cell.parse::<f64>().is_err())
}

pub fn read_matrix(path: &Path) -> Result<Matrix> {
    let recs = records(path)?;
    let skip = usize::from(recs.first().is_some_and(|(_, r)| is_header(r)));
    let body = &recs[skip..];
    let Some((_, first)) = body.first() else {
        return Err(Error::input(path, "no data rows"));
    };
    let cols = first.len();
    let mut data = Vec::with_capacity(body.len() * cols);
    for (line, rec) in body {
        if rec.len() != cols {
            return Err(Error::cell(path, *line, rec.len().min(cols) + 1,
                format!("row has {} columns, expected {cols} like the first data row", rec.len())));
        }
        for (j, cell) in rec.iter().enumerate() {
            let v: f64 = cell.parse().map_err(|_| Error::cell(path, *line, j + 1, format!("'{cell}' is not a number")))?;
            data.push(v);
        }
    }
    Ok(Matrix::new(body.len(), cols, data))
}

pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    let recs = records(path)?;
    let skip = usize::from(recs.first().is_some_and(|(_, r)| is_header(r)));
    let mut out = Vec::with_capacity(recs.len());
    for (line, rec) in &recs[skip..] {
        if rec.len() != 1 {
            return Err(Error::cell(path, *line, 2, format!("labels must be one column, found {}", rec.len())));
        }
        let cell = &rec[0];
        let v: i64 = cell.parse().map_err(|_| Error::cell(path, *line, 1, format!("'{cell}' is not an integer label")))?;
        out.push(v);
    }
    if out.is_empty() {
        return Err(Error::input(path, "no labels"));
    }
    Ok(out)
}

//! `.npy` reading and writing through `npyz`, with errors that say what was expected.
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use npyz::{TypeChar, WriterBuilder};
use std::path::Path;

fn open(path: &Path) -> Result<npyz::NpyFile<std::io::BufReader<std::fs::File>>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).map_err(|e| Error::input(path, format!("not a valid .npy file: {e}")))?;
    check_shape_fits(path, &npy, file_len)?;
    Ok(npy)
}

/// The header's shape must describe data the file can hold: a product of dimensions that
/// overflows, or more bytes than the file has, is a corrupt or hostile header (it used to reach
/// an allocation of that size, or wrap around).
fn check_shape_fits(path: &Path, npy: &npyz::NpyFile<impl std::io::Read>, file_len: u64) -> Result<()> {
    let item = match npy.dtype() {
        npyz::DType::Plain(t) => t.size_field() as u64,
        _ => 1,
    };
    let shape = npy.shape();
    let bytes = shape.iter().try_fold(item.max(1), |acc, &d| acc.checked_mul(d));
    match bytes {
        Some(b) if b <= file_len && usize::try_from(b).is_ok() => Ok(()),
        _ => Err(Error::input(path, format!("the header declares shape {shape:?} of {item}-byte values, more than the file's {file_len} bytes hold: the file is truncated or its header is corrupt"))),
    }
}

/// (rows, cols) of a rank-1 (n → n × 1) or rank-2 array.
fn shape2(path: &Path, shape: &[u64]) -> Result<(usize, usize)> {
    match shape {
        [n] => Ok((*n as usize, 1)),
        [n, d] => Ok((*n as usize, *d as usize)),
        _ => Err(Error::input(path, format!("expected a rank-1 or rank-2 array, found shape {shape:?}"))),
    }
}

fn scalar_type(path: &Path, npy: &npyz::NpyFile<impl std::io::Read>) -> Result<npyz::TypeStr> {
    match npy.dtype() {
        npyz::DType::Plain(t) => Ok(t),
        other => Err(Error::input(path, format!("expected a plain numeric dtype, found {}", other.descr()))),
    }
}

fn read_err(path: &Path, e: std::io::Error) -> Error {
    Error::input(path, format!("truncated or unreadable data: {e}"))
}

/// (rows, cols, values as f64 in C order) of a float32/float64 array, read lazily.
pub fn open_values(path: &Path) -> Result<(usize, usize, Box<dyn Iterator<Item = std::io::Result<f64>>>)> {
    let npy = open(path)?;
    if npy.order() != npyz::Order::C {
        return Err(Error::input(path, "array is in Fortran order; expected C order (np.ascontiguousarray)"));
    }
    let (rows, cols) = shape2(path, npy.shape())?;
    let t = scalar_type(path, &npy)?;
    let values: Box<dyn Iterator<Item = std::io::Result<f64>>> = match (t.type_char(), t.size_field()) {
        (TypeChar::Float, 8) => Box::new(npy.data::<f64>().map_err(|e| Error::input(path, format!("{e}")))?),
        (TypeChar::Float, 4) => Box::new(npy.data::<f32>().map_err(|e| Error::input(path, format!("{e}")))?.map(|v| v.map(f64::from))),
        _ => return Err(Error::input(path, format!("expected dtype float32 or float64, found '{t}'"))),
    };
    Ok((rows, cols, values))
}

pub fn read_matrix(path: &Path) -> Result<Matrix> {
    let npy = open(path)?;
    if npy.order() != npyz::Order::C {
        return Err(Error::input(path, "array is in Fortran order; expected C order (np.ascontiguousarray)"));
    }
    let (rows, cols) = shape2(path, npy.shape())?;
    let t = scalar_type(path, &npy)?;
    let data: Vec<f64> = match (t.type_char(), t.size_field()) {
        (TypeChar::Float, 8) => npy.into_vec::<f64>().map_err(|e| read_err(path, e))?,
        (TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(|e| read_err(path, e))?.into_iter().map(f64::from).collect(),
        _ => return Err(Error::input(path, format!("expected dtype float32 or float64, found '{t}'"))),
    };
    if data.len() != rows * cols {
        return Err(Error::input(path, format!("expected {} values for shape {rows} × {cols}, found {}", rows * cols, data.len())));
    }
    Ok(Matrix::new(rows, cols, data))
}

pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    let npy = open(path)?;
    let (rows, cols) = shape2(path, npy.shape())?;
    if cols != 1 {
        return Err(Error::input(path, format!("labels must be one column, found shape {rows} × {cols}")));
    }
    let t = scalar_type(path, &npy)?;
    let e = |err| read_err(path, err);
    let labels: Vec<i64> = match (t.type_char(), t.size_field()) {
        (TypeChar::Int, 8) => npy.into_vec::<i64>().map_err(e)?,
        (TypeChar::Int, 4) => npy.into_vec::<i32>().map_err(e)?.into_iter().map(i64::from).collect(),
        (TypeChar::Int, 2) => npy.into_vec::<i16>().map_err(e)?.into_iter().map(i64::from).collect(),
        (TypeChar::Int, 1) => npy.into_vec::<i8>().map_err(e)?.into_iter().map(i64::from).collect(),
        (TypeChar::Uint, 1) => npy.into_vec::<u8>().map_err(e)?.into_iter().map(i64::from).collect(),
        (TypeChar::Uint, 2) => npy.into_vec::<u16>().map_err(e)?.into_iter().map(i64::from).collect(),
        (TypeChar::Uint, 4) => npy.into_vec::<u32>().map_err(e)?.into_iter().map(i64::from).collect(),
        (TypeChar::Float, _) => {
            let v = read_matrix(path)?.data;
            let mut out = Vec::with_capacity(v.len());
            for (i, x) in v.into_iter().enumerate() {
                if x.fract() != 0.0 {
                    return Err(Error::cell(path, i + 1, 1, format!("label {x} is not an integer")));
                }
                out.push(x as i64);
            }
            out
        }
        _ => return Err(Error::input(path, format!("expected an integer dtype for labels, found '{t}'"))),
    };
    Ok(labels)
}

/// Write an n × d matrix as little-endian float64, C order.
pub fn write_npy(path: &Path, m: &Matrix) -> Result<()> {
    super::atomic_write(path, |w| {
        let mut writer = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(&[m.rows as u64, m.cols as u64])
            .writer(w)
            .begin_nd()?;
        writer.extend(m.data.iter().copied())?;
        writer.finish()
    })
}

/// Write integer labels as a rank-1 int64 array.
pub fn write_labels_npy(path: &Path, labels: &[i64]) -> Result<()> {
    super::atomic_write(path, |w| {
        let mut writer = npyz::WriteOptions::<i64>::new()
            .default_dtype()
            .shape(&[labels.len() as u64])
            .writer(w)
            .begin_nd()?;
        writer.extend(labels.iter().copied())?;
        writer.finish()
    })
}

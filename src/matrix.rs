//! A dense row-major f64 matrix: the library's data type for observations and latents (n × d).
//! Linear algebra goes through nalgebra; this type only stores and slices.
use nalgebra::DMatrix;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Unchecked")]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

/// A matrix as read from JSON, before its shape is checked against its data.
#[derive(serde::Deserialize)]
struct Unchecked {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl TryFrom<Unchecked> for Matrix {
    type Error = String;
    fn try_from(m: Unchecked) -> Result<Matrix, String> {
        if m.rows.checked_mul(m.cols) != Some(m.data.len()) {
            return Err(format!("a {} × {} matrix with {} values", m.rows, m.cols, m.data.len()));
        }
        Ok(Matrix { rows: m.rows, cols: m.cols, data: m.data })
    }
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(rows * cols, data.len(), "matrix data length does not match its shape");
        Matrix { rows, cols, data }
    }
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Matrix { rows, cols, data }
    }
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }
    pub fn set(&mut self, i: usize, j: usize, v: f64) {
        self.data[i * self.cols + j] = v;
    }
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    pub fn col(&self, j: usize) -> Vec<f64> {
        (0..self.rows).map(|i| self.get(i, j)).collect()
    }
    /// Rows picked by index, in the given order.
    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix::new(idx.len(), self.cols, data)
    }
    pub fn to_nalgebra(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.rows, self.cols, &self.data)
    }
    pub fn from_nalgebra(m: &DMatrix<f64>) -> Matrix {
        Matrix::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)])
    }
    /// A new matrix of the same shape whose rows are filled by `f(row index, row)`.
    pub fn rows_map(&self, mut f: impl FnMut(usize, &mut [f64])) -> Matrix {
        let mut out = Matrix::zeros(self.rows, self.cols);
        for i in 0..self.rows {
            f(i, &mut out.data[i * self.cols..(i + 1) * self.cols]);
        }
        out
    }
    pub fn max_abs_diff(&self, other: &Matrix) -> f64 {
        assert_eq!((self.rows, self.cols), (other.rows, other.cols));
        self.data.iter().zip(&other.data).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
    }
}

//! `simulate tmi`: z ~ N(0, I), x = G(z) with G a random, well-conditioned triangular monotone
//! increasing (TMI) map. Since G is TMI and pushes N(0, I) to the law of x, G⁻¹ is the KR map
//! from the data to N(0, I): by Thm 5.1 the true z is the unique code a TMI flow can learn.
//!
//! Recipe: G = A₂ ∘ C₂ ∘ E ∘ C₁ ∘ A₁ with
//!   A: x ↦ L x + b, L lower-triangular, diagonal U(0.7, 1.5), off-diagonal U(−0.8, 0.8);
//!   E: x_k ↦ x_k + a_k tanh(b_k x_k + c_k), a ~ U(0.5, 1.5), b ~ U(1, 2), c ~ U(−1, 1);
//!   C: x_k ↦ x_k exp(s_k tanh(w_kᵀ x_{<k})) + t_k tanh(v_kᵀ x_{<k} + e_k), k ≥ 2,
//!      s ~ U(0.2, 0.5), t ~ U(0.5, 1.5), w, v ~ N(0, 1/(k−1)), e ~ U(−1, 1).
//! Every step is strictly increasing in its own coordinate and depends on earlier ones only.
use super::{check_sizes, random_lower_triangular, standard_normal};
use crate::io::Dataset;
use crate::matrix::Matrix;
use crate::train::stream;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    TriangularAffine { l: Vec<Vec<f64>>, b: Vec<f64> },
    Elementwise { a: Vec<f64>, b: Vec<f64>, c: Vec<f64> },
    TriangularCoupling { s: Vec<f64>, t: Vec<f64>, w: Vec<Vec<f64>>, v: Vec<Vec<f64>>, e: Vec<f64> },
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Step {
    fn apply_row(&self, x: &mut [f64]) {
        match self {
            Step::TriangularAffine { l, b } => {
                let y: Vec<f64> = (0..x.len()).map(|k| b[k] + dot(&l[k][..=k], &x[..=k])).collect();
                x.copy_from_slice(&y);
            }
            Step::Elementwise { a, b, c } => {
                for k in 0..x.len() {
                    x[k] += a[k] * (b[k] * x[k] + c[k]).tanh();
                }
            }
            Step::TriangularCoupling { s, t, w, v, e } => {
                // Descending k so x_{<k} are still the inputs of this step.
                for k in (1..x.len()).rev() {
                    let prev = &x[..k];
                    let scale = (s[k] * dot(&w[k], prev).tanh()).exp();
                    let shift = t[k] * (dot(&v[k], prev) + e[k]).tanh();
                    x[k] = x[k] * scale + shift;
                }
            }
        }
    }
}

/// The generator G as a list of TMI steps (applied first to last).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TmiGenerator {
    pub steps: Vec<Step>,
}

fn uniform_vec(dim: usize, lo: f64, hi: f64, rng: &mut impl Rng) -> Vec<f64> {
    (0..dim).map(|_| rng.random_range(lo..hi)).collect()
}

fn random_affine(dim: usize, rng: &mut impl Rng) -> Step {
    let l = random_lower_triangular(dim, (0.7, 1.5), 0.8, rng);
    Step::TriangularAffine { l: (0..dim).map(|i| l.row(i).to_vec()).collect(), b: uniform_vec(dim, -0.5, 0.5, rng) }
}

/// Row k holds k weights (on x_{<k}) drawn N(0, 1/k).
fn lower_weights(dim: usize, rng: &mut impl Rng) -> Vec<Vec<f64>> {
    (0..dim)
        .map(|k| {
            let normal = Normal::new(0.0, 1.0 / (k.max(1) as f64).sqrt()).expect("positive sd");
            (0..k).map(|_| normal.sample(rng)).collect()
        })
        .collect()
}

fn random_coupling(dim: usize, rng: &mut impl Rng) -> Step {
    let s = uniform_vec(dim, 0.2, 0.5, rng);
    let t = uniform_vec(dim, 0.5, 1.5, rng);
    let e = uniform_vec(dim, -1.0, 1.0, rng);
    let w = lower_weights(dim, rng);
    let v = lower_weights(dim, rng);
    Step::TriangularCoupling { s, t, w, v, e }
}

impl TmiGenerator {
    pub fn random(dim: usize, rng: &mut impl Rng) -> TmiGenerator {
        let a1 = random_affine(dim, rng);
        let c1 = random_coupling(dim, rng);
        let e = Step::Elementwise { a: uniform_vec(dim, 0.5, 1.5, rng), b: uniform_vec(dim, 1.0, 2.0, rng), c: uniform_vec(dim, -1.0, 1.0, rng) };
        let c2 = random_coupling(dim, rng);
        let a2 = random_affine(dim, rng);
        TmiGenerator { steps: vec![a1, c1, e, c2, a2] }
    }

    pub fn apply(&self, z: &Matrix) -> Matrix {
        let mut out = z.clone();
        for i in 0..out.rows {
            let row = &mut out.data[i * z.cols..(i + 1) * z.cols];
            for step in &self.steps {
                step.apply_row(row);
            }
        }
        out
    }
}

/// E4's data (Prop. 5.2): the same random TMI generator applied to independent non-Gaussian
/// sources, uniform on (−1, 1), exponential − 1 and Laplace in turn over the coordinates.
pub fn simulate_mixed_sources(dim: usize, n: usize, seed: u64) -> crate::Result<Dataset> {
    check_sizes(dim, n, "--n × --dim")?;
    let g = TmiGenerator::random(dim, &mut stream(seed, 20));
    let mut rng = stream(seed, 21);
    let z = Matrix::from_fn(n, dim, |_, j| {
        let u: f64 = rng.random_range(1e-12..1.0);
        match j % 3 {
            0 => 2.0 * u - 1.0,
            1 => -u.ln() - 1.0,
            _ => if u < 0.5 { (2.0 * u).ln() } else { -(2.0 * (1.0 - u)).ln() },
        }
    });
    let meta = serde_json::json!({ "recipe": "tmi", "sources": "mixed", "dim": dim, "n": n, "seed": seed, "generator": g });
    Ok(Dataset { x: g.apply(&z), z: Some(z), u: None, meta: Some(meta) })
}

pub fn simulate(dim: usize, n: usize, seed: u64) -> crate::Result<(Dataset, TmiGenerator)> {
    check_sizes(dim, n, "--n × --dim")?;
    let g = TmiGenerator::random(dim, &mut stream(seed, 20));
    let z = standard_normal(n, dim, &mut stream(seed, 21));
    let x = g.apply(&z);
    let meta = serde_json::json!({
        "recipe": "tmi",
        "description": "z ~ N(0, I); x = G(z), G = A2 ∘ C2 ∘ E ∘ C1 ∘ A1 triangular monotone increasing (see generator); the KR map x -> z is G^-1.",
        "dim": dim, "n": n, "seed": seed,
        "generator": g,
    });
    Ok((Dataset { x, z: Some(z), u: None, meta: Some(meta) }, g))
}

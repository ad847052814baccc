//! The flow's log-density and its gradient by hand (no autodiff graph): the training hot path,
//! and the batched inference path. Same map as `Flow::forward_with` (tested against autodiff):
//!   −log p(x) = ½‖T(x)‖² + (d/2) log 2π − Σ_steps Σ_j ℓ_j − log|det standardisation|.
use super::Flow;
use crate::nn::HostParams;
use crate::nn::cpu::MlpTape;
use crate::transforms::{LANES, Lanes, TransformKind};

struct StepTape {
    /// The linear layer's input (empty without one); `input` is then its output.
    linear_input: Vec<f32>,
    input: Vec<f32>,
    /// The transform's parameters: parameter q of coordinate j of row i at `(j · P + q) · n + i`
    /// (`transposed_in_training`), else at `(i · d + j) · P + q`.
    theta: Vec<f32>,
    /// The transform's tape, 16 rows at a time: block b's coordinate j has its `tape_len` lane
    /// arrays at `(b · d + j) · tape_len`.
    cache: Vec<Lanes>,
    made: MlpTape,
}

impl Flow {
    /// Standardised rows of raw x (n × d).
    fn standardized(&self, x: &[f32]) -> Vec<f32> {
        let d = self.config.dim;
        let (mean, sd): (Vec<f32>, Vec<f32>) = (self.standardize.mean.iter().map(|&v| v as f32).collect(), self.standardize.sd.iter().map(|&v| v as f32).collect());
        x.iter().enumerate().map(|(k, &v)| (v - mean[k % d]) / sd[k % d]).collect()
    }

    /// z = T(x) and log|det ∂T/∂x| per row, keeping what the backward pass needs when `tape`.
    fn forward_cpu_inner(&self, p: &[Vec<f32>], x: &[f32], n: usize, want_log_det: bool, mut tape: Option<&mut Vec<StepTape>>) -> (Vec<f32>, Vec<f64>) {
        let (d, tl) = (self.config.dim, self.config.transform.tape_len());
        let (k, km) = (self.step_tensors(), self.made.n_tensors());
        let mut h = self.standardized(x);
        // The transform's tape, only when there is a backward pass.
        let cache_len = if tape.is_some() { n.div_ceil(LANES) * d * tl } else { 0 };
        let mut cache = vec![[0.0f32; LANES]; cache_len];
        let mut log_det = vec![self.standardize.log_det(); n];
        for l in 0..self.config.layers {
            let mut y = vec![0.0f32; n * d];
            let transform = self.config.transform;
            let p_l = &p[l * k..l * k + km];
            let linear_input = if self.config.linear {
                let m = &p[l * k + km];
                let y = super::linear::forward(&super::linear::weight(m, d), &p[l * k + km + 1], &h, d);
                let ld = super::linear::log_det(m, d);
                log_det.iter_mut().for_each(|v| *v += ld);
                std::mem::replace(&mut h, y)
            } else {
                Vec::new()
            };
            // The transform runs 16 rows at a time through the lane kernel, on parameters the
            // GEMM writes transposed (one row per parameter, contiguous over the n inputs: each
            // lane array is one load, and the spline's backward pass's gradient one store). The
            // affine transform's backward pass is an element loop the compiler vectorises on
            // row-major parameters, so its training keeps them row-major.
            let per = transform.n_params();
            let row_major = tape.is_some() && !transposed_in_training(transform);
            let (theta, made_tape) = match tape {
                Some(_) if row_major => self.made.mlp().forward_cpu(p_l, h.clone(), n),
                Some(_) => self.made.mlp().forward_cpu_transposed(p_l, h.clone(), n),
                None => (self.made.mlp().infer_cpu_transposed(p_l, h.clone(), n), MlpTape::empty()),
            };
            let (row_stride, col_stride) = if row_major { (d * per, 1) } else { (1, n) };
            forward_transform(transform, &h, &theta, row_stride, col_stride, &mut y, &mut log_det, want_log_det, &mut cache);
            if self.reverses_after(l) {
                for row in y.chunks_exact_mut(d) {
                    row.reverse();
                }
            }
            if let Some(t) = tape.as_deref_mut() {
                let cache = std::mem::replace(&mut cache, vec![[0.0f32; LANES]; cache_len]);
                t.push(StepTape { linear_input, input: std::mem::replace(&mut h, y), theta, cache, made: made_tape });
            } else {
                h = y;
            }
        }
        (h, log_det)
    }

    /// Encoder z = T(x) and log|det ∂T/∂x| per row, without autodiff (inference).
    pub fn forward_cpu(&self, p: &[Vec<f32>], x: &[f32], n: usize) -> (Vec<f32>, Vec<f64>) {
        self.forward_cpu_inner(p, x, n, true, None)
    }

    /// The code z = T(x) alone (no log-determinant).
    pub fn encode_cpu(&self, p: &[Vec<f32>], x: &[f32], n: usize) -> Vec<f32> {
        self.forward_cpu_inner(p, x, n, false, None).0
    }

    /// log p(x) per row, without autodiff (validation and inference).
    pub fn log_prob_cpu(&self, p: &[Vec<f32>], x: &[f32], n: usize) -> Vec<f64> {
        let d = self.config.dim;
        let (z, log_det) = self.forward_cpu(p, x, n);
        (0..n).map(|i| -neg_log_normal(&z[i * d..(i + 1) * d]) + log_det[i]).collect()
    }

    /// Mean negative log-density of n rows of raw x and its gradient.
    pub fn nll_grad(&self, p: &HostParams, x: &[f32], n: usize) -> (f64, Vec<Vec<f32>>) {
        let d = self.config.dim;
        self.nll_grad_with_base(p, x, n, |z, _| {
            let nll = z.chunks_exact(d).map(neg_log_normal).sum::<f64>();
            (nll, z.to_vec())
        })
    }

    /// Mean negative log-density of n rows of raw x under the base density `base` and its
    /// gradient. `base(z, grads)` returns −Σ_i log p_base(z_i) and ∂/∂z of it (n × d); it may add
    /// (already divided by n) the gradients of parameters of its own to `grads` (those after the
    /// flow's own, which this function leaves at zero).
    pub fn nll_grad_with_base(&self, p: &HostParams, x: &[f32], n: usize, base: impl FnOnce(&[f32], &mut [Vec<f32>]) -> (f64, Vec<f32>)) -> (f64, Vec<Vec<f32>>) {
        let (d, per) = (self.config.dim, self.config.transform.n_params());
        let (k, km) = (self.step_tensors(), self.made.n_tensors());
        let mut tapes = Vec::with_capacity(self.config.layers);
        let (z, log_det) = self.forward_cpu_inner(&p.values, x, n, true, Some(&mut tapes));
        let mut grads = p.zeros_like();
        let (base_nll, g_z) = base(&z, &mut grads[self.config.layers * k..]);
        let nll = (base_nll - log_det.iter().sum::<f64>()) / n as f64;
        let inv_n = 1.0 / n as f32;
        let mut g: Vec<f32> = g_z.iter().map(|&v| v * inv_n).collect();
        for (l, t) in tapes.into_iter().enumerate().rev() {
            if self.reverses_after(l) {
                for row in g.chunks_exact_mut(d) {
                    row.reverse();
                }
            }
            let mut g_theta = vec![0.0f32; n * d * per];
            let mut g_in = vec![0.0f32; n * d];
            let transform = self.config.transform;
            backward_elems(transform, &t, d, &g, -inv_n, &mut g_in, &mut g_theta);
            let (p_l, g_l) = (&p.values[l * k..l * k + km], &mut grads[l * k..l * k + km]);
            // The input's gradient is needed below step 0, and at step 0 by its linear layer.
            let need_input = l > 0 || self.config.linear;
            let via_made = if transposed_in_training(transform) {
                self.made.mlp().backward_cpu_transposed(p_l, t.made, g_theta, g_l, need_input)
            } else {
                self.made.mlp().backward_cpu(p_l, t.made, g_theta, g_l, need_input)
            };
            if let Some(extra) = via_made {
                for (a, b) in g_in.iter_mut().zip(extra) {
                    *a += b;
                }
            }
            g = if self.config.linear {
                let (g_m, rest) = grads[l * k + km..].split_at_mut(1);
                super::linear::backward(&p.values[l * k + km], &t.linear_input, &g_in, d, -inv_n, &mut g_m[0], &mut rest[0])
            } else {
                g_in
            };
        }
        (nll, grads)
    }
}

/// Where the tape of coordinate j of the 16-row block starting at row i0 begins (`StepTape::cache`).
#[inline(always)]
fn tape_at(i0: usize, j: usize, d: usize, tl: usize) -> usize {
    (i0 / LANES * d + j) * tl
}

/// Whether training lays the conditioner's output out transposed for this transform (the
/// spline's lane kernels) or row-major (the affine transform's element loop).
fn transposed_in_training(transform: TransformKind) -> bool {
    transform != TransformKind::Affine
}

crate::simd_fn! {
    /// One step's transform on every element, 16 rows at a time (`TransformKind::forward_lanes`,
    /// the same bits as `forward_elem`), adding each row's log-derivatives into `log_det`.
    /// Parameter q of coordinate j of row i is `theta[i * row_stride + (j * P + q) * col_stride]`.
    /// When `tape` is not empty it receives each block's `tape_len` lane arrays (`StepTape::cache`).
    fn forward_transform(transform: TransformKind, h: &[f32], theta: &[f32], row_stride: usize, col_stride: usize, y: &mut [f32], log_det: &mut [f64], want_log_det: bool, tape: &mut [Lanes]) {
        let n = log_det.len();
        let (d, per, tl) = (y.len() / n.max(1), transform.n_params(), transform.tape_len());
        let mut scratch = transform.lane_scratch();
        // Lanes past the last row keep earlier (finite) values; their results are dropped.
        let mut lanes = vec![[0.0f32; LANES]; per];
        for i0 in (0..n).step_by(LANES) {
            let m = LANES.min(n - i0);
            let mut row_ld = [0.0f64; LANES];
            for j in 0..d {
                let mut x = [0.0f32; LANES];
                for (l, v) in x.iter_mut().enumerate().take(m) {
                    *v = h[(i0 + l) * d + j];
                }
                for (q, t) in lanes.iter_mut().enumerate() {
                    let first = i0 * row_stride + (j * per + q) * col_stride;
                    if row_stride == 1 && m == LANES {
                        *t = theta[first..first + LANES].try_into().expect("16 lanes");
                    } else {
                        for (l, v) in t.iter_mut().enumerate().take(m) {
                            *v = theta[first + l * row_stride];
                        }
                    }
                }
                let (yl, ll) = transform.forward_lanes(&x, &lanes, &mut scratch, want_log_det);
                for l in 0..m {
                    y[(i0 + l) * d + j] = yl[l];
                    row_ld[l] += f64::from(ll[l]);
                }
                if !tape.is_empty() {
                    let at = tape_at(i0, j, d, tl);
                    tape[at..at + tl].copy_from_slice(&scratch.tape()[..tl]);
                }
            }
            for l in 0..m {
                log_det[i0 + l] += row_ld[l];
            }
        }
    }
}

crate::simd_fn! {
    /// The backward pass of `forward_transform` (ℓ's upstream gradient `gl` is the same for all);
    /// `g_theta` arrives zeroed and leaves in `StepTape::theta`'s layout. The spline runs 16
    /// rows at a time (`backward_lanes`, the same bits as `backward_elem`).
    fn backward_elems(transform: TransformKind, t: &StepTape, d: usize, g: &[f32], gl: f32, g_in: &mut [f32], g_theta: &mut [f32]) {
        let (per, tl) = (transform.n_params(), transform.tape_len());
        let n = g_in.len() / d;
        if transform == TransformKind::Affine {
            // The variant fixed at compile time: a branch-free loop the compiler vectorises.
            for (((gx, th), (&x, &gy)), gt) in g_in.iter_mut().zip(t.theta.chunks_exact(2)).zip(t.input.iter().zip(g)).zip(g_theta.chunks_exact_mut(2)) {
                *gx = TransformKind::Affine.backward_elem(x, th, &[], gy, gl, gt);
            }
            return;
        }
        let mut scratch = transform.lane_scratch();
        // Lanes past the last row keep earlier (finite) values; their results are dropped.
        let (mut x, mut gy) = ([0.0f32; LANES], [0.0f32; LANES]);
        let mut theta = vec![[0.0f32; LANES]; per];
        let mut g_th = vec![[0.0f32; LANES]; per];
        for i0 in (0..n).step_by(LANES) {
            let m = LANES.min(n - i0);
            for j in 0..d {
                for l in 0..m {
                    x[l] = t.input[(i0 + l) * d + j];
                    gy[l] = g[(i0 + l) * d + j];
                }
                for (q, th) in theta.iter_mut().enumerate() {
                    let at = (j * per + q) * n + i0;
                    th[..m].copy_from_slice(&t.theta[at..at + m]);
                }
                g_th.iter_mut().for_each(|v| *v = [0.0; LANES]);
                let at = tape_at(i0, j, d, tl);
                let gx = transform.backward_lanes(&x, &theta, &t.cache[at..at + tl], &gy, gl, &mut g_th, &mut scratch);
                for l in 0..m {
                    g_in[(i0 + l) * d + j] = gx[l];
                }
                for (q, gt) in g_th.iter().enumerate() {
                    let at = (j * per + q) * n + i0;
                    g_theta[at..at + m].copy_from_slice(&gt[..m]);
                }
            }
        }
    }
}

/// −log N(z; 0, I) = ½‖z‖² + (d/2) log 2π.
fn neg_log_normal(z: &[f32]) -> f64 {
    z.iter().map(|&v| 0.5 * f64::from(v) * f64::from(v)).sum::<f64>() + 0.5 * z.len() as f64 * (2.0 * std::f64::consts::PI).ln()
}

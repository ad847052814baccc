//! Hand-written forward and backward passes on f32 row-major buffers: the training hot path.
//! At this project's sizes (batches of 64–512, widths ≤ 256) a step is dominated by per-op
//! overhead, not flops, so a fused pass with one GEMM per layer and direction is several times
//! faster than building an autodiff graph. Every pass here is tested against burn's autodiff
//! of the tensor implementation (the reference semantics).
use super::{Activation, Mlp};

/// c[m×n] = a·b (+ c when `accumulate`), all row-major; `ta`/`tb`: a is stored k×m / b is n×k.
#[allow(clippy::too_many_arguments)]
pub fn matmul(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, ta: bool, tb: bool, accumulate: bool) {
    assert!(c.len() == m * n && a.len() == m * k && b.len() == k * n, "matmul shapes");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
    // Single-threaded: at these sizes GEMM-level threading costs more than it gains (measured);
    // threads split the batch instead (`train::data_parallel`).
    let par = gemm::Parallelism::None;
    // SAFETY: the asserts above bound every index the strides can reach: a is m×k, b k×n, c m×n.
    unsafe {
        gemm::gemm(m, n, k, c.as_mut_ptr(), 1, n as isize, accumulate, a.as_ptr(), a_cs, a_rs, b.as_ptr(), b_cs, b_rs, 1.0, 1.0, false, false, false, par);
    }
}

/// tanh in f32 as a branch-free rational function that the compiler vectorises (libm's tanh
/// does not, and dominated small steps). Odd degree-13 / even degree-6 minimax fit on
/// [−7.9053, 7.9053], outside which f32 tanh is ±1 (the coefficients of Eigen's
/// `generic_fast_tanh_float`); error within a few ulp, tested against `f32::tanh`.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    const A: [f32; 7] = [4.893_524_6e-3, 6.372_619_3e-4, 1.485_722_4e-5, 5.122_297e-8, -8.604_672e-11, 2.000_188e-13, -2.760_768_5e-16];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_7e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let c = x.clamp(-7.905_311, 7.905_311);
    let c2 = c * c;
    let p = ((((((A[6] * c2 + A[5]) * c2 + A[4]) * c2 + A[3]) * c2 + A[2]) * c2 + A[1]) * c2 + A[0]) * c;
    let q = ((B[3] * c2 + B[2]) * c2 + B[1]) * c2 + B[0];
    if x.abs() < 4e-4 { x } else { p / q }
}

impl Activation {
    #[inline(always)]
    fn f32(self, x: f32) -> f32 {
        match self {
            Activation::Lrelu => if x >= 0.0 { x } else { 0.2 * x },
            Activation::Xtanh => tanh_f32(x) + 0.1 * x,
            Activation::Tanh => tanh_f32(x),
        }
    }
    /// d act / d x at pre-activation x (post-activation y, to save a tanh).
    #[inline(always)]
    fn grad_f32(self, x: f32, y: f32) -> f32 {
        match self {
            Activation::Lrelu => if x >= 0.0 { 1.0 } else { 0.2 },
            Activation::Xtanh => {
                let t = y - 0.1 * x;
                1.1 - t * t
            }
            Activation::Tanh => 1.0 - y * y,
        }
    }
}

crate::simd_fn! {
    /// The activation in place, compiled for the CPU's vector units (`simd_fn`).
    fn activate(activation: Activation, v: &mut [f32]) {
        // One loop per variant: each is branch-free and vectorises.
        match activation {
            Activation::Lrelu => v.iter_mut().for_each(|x| *x = Activation::Lrelu.f32(*x)),
            Activation::Xtanh => v.iter_mut().for_each(|x| *x = Activation::Xtanh.f32(*x)),
            Activation::Tanh => v.iter_mut().for_each(|x| *x = Activation::Tanh.f32(*x)),
        }
    }
}

crate::simd_fn! {
    /// dL/d pre-activation from dL/d post-activation `delta` (in place), given both sides.
    fn activate_backward(activation: Activation, delta: &mut [f32], pre: &[f32], post: &[f32]) {
        for ((d, &x), &y) in delta.iter_mut().zip(pre).zip(post) {
            *d *= activation.grad_f32(x, y);
        }
    }
}

/// What the backward pass needs from the forward pass: each layer's input, and the hidden
/// layers' pre-activations.
pub struct MlpTape {
    n: usize,
    inputs: Vec<Vec<f32>>,
    pre: Vec<Vec<f32>>,
    /// One-hot positions of the first layer's trailing inputs (`forward_cpu_onehot`).
    onehot: Option<Vec<usize>>,
}

impl MlpTape {
    /// A tape for a pass that will not be differentiated.
    pub fn empty() -> MlpTape {
        MlpTape { n: 0, inputs: Vec::new(), pre: Vec::new(), onehot: None }
    }
}

impl Mlp {
    /// Effective weights W ⊙ M (masked MLPs) of layer l.
    fn weight<'a>(&self, p: &'a [Vec<f32>], l: usize, scratch: &'a mut Vec<f32>) -> &'a [f32] {
        match self.mask_f32(l) {
            None => &p[2 * l],
            Some(m) => {
                scratch.clear();
                scratch.extend(p[2 * l].iter().zip(m).map(|(w, m)| w * m));
                scratch
            }
        }
    }

    /// x [n × sizes[0]] → [n × sizes.last()]; `p` holds this network's buffers in order.
    pub fn forward_cpu(&self, p: &[Vec<f32>], x: Vec<f32>, n: usize) -> (Vec<f32>, MlpTape) {
        self.forward_cpu_onehot(p, x, None, n)
    }

    /// The same for inputs whose trailing columns are one-hot: `x` holds only the leading dense
    /// columns and `onehot[i]` the position of row i's 1 among the rest. A one-hot row times W is
    /// a row of W: the first layer gathers it instead of multiplying by zeros.
    pub fn forward_cpu_onehot(&self, p: &[Vec<f32>], x: Vec<f32>, onehot: Option<Vec<usize>>, n: usize) -> (Vec<f32>, MlpTape) {
        self.forward_impl(p, x, onehot, n, true, false)
    }

    /// The forward pass alone (inference): nothing is kept for a backward pass.
    pub fn infer_cpu(&self, p: &[Vec<f32>], x: Vec<f32>, onehot: Option<Vec<usize>>, n: usize) -> Vec<f32> {
        self.forward_impl(p, x, onehot, n, false, false).0
    }

    /// `infer_cpu` with the output transposed (sizes.last() × n: one output column per row,
    /// contiguous over the n inputs), the layout of the lane kernels (`transforms::lanes`).
    pub fn infer_cpu_transposed(&self, p: &[Vec<f32>], x: Vec<f32>, n: usize) -> Vec<f32> {
        self.forward_impl(p, x, None, n, false, true).0
    }

    /// `forward_cpu` with the output transposed (as `infer_cpu_transposed`), keeping the tape for
    /// `backward_cpu_transposed`.
    pub fn forward_cpu_transposed(&self, p: &[Vec<f32>], x: Vec<f32>, n: usize) -> (Vec<f32>, MlpTape) {
        self.forward_impl(p, x, None, n, true, true)
    }

    fn forward_impl(&self, p: &[Vec<f32>], x: Vec<f32>, onehot: Option<Vec<usize>>, n: usize, keep: bool, transpose_out: bool) -> (Vec<f32>, MlpTape) {
        let layers = self.sizes.len() - 1;
        let mut tape = MlpTape { n, inputs: Vec::with_capacity(layers), pre: Vec::with_capacity(layers), onehot };
        let mut h = x;
        let mut scratch = Vec::new();
        for l in 0..layers {
            let (fi, fo) = (self.sizes[l], self.sizes[l + 1]);
            let dense = if l == 0 { h.len() / n.max(1) } else { fi };
            // The output starts as the bias (the GEMM accumulates onto it).
            let mut out: Vec<f32> = Vec::with_capacity(n * fo);
            let w = self.weight(p, l, &mut scratch);
            if transpose_out && l + 1 == layers {
                // outᵀ = Wᵀ hᵀ + b 1ᵀ (no one-hot inputs on this path).
                assert!(tape.onehot.is_none(), "no one-hot inputs with a transposed output");
                for &b in &p[2 * l + 1] {
                    out.extend(std::iter::repeat_n(b, n));
                }
                matmul(&mut out, &w[..dense * fo], &h, fo, dense, n, true, true, true);
                if keep {
                    tape.inputs.push(h);
                }
                h = out;
                break;
            }
            for _ in 0..n {
                out.extend_from_slice(&p[2 * l + 1]);
            }
            matmul(&mut out, &h, &w[..dense * fo], n, dense, fo, false, false, true);
            if let (0, Some(idx)) = (l, &tape.onehot) {
                for (row, &k) in out.chunks_exact_mut(fo).zip(idx) {
                    for (o, v) in row.iter_mut().zip(&w[(dense + k) * fo..(dense + k + 1) * fo]) {
                        *o += v;
                    }
                }
            }
            if keep {
                tape.inputs.push(h);
            }
            if l + 1 < layers {
                if keep {
                    tape.pre.push(out.clone());
                }
                activate(self.activation, &mut out);
            }
            h = out;
        }
        (h, tape)
    }

    /// Backpropagate `dout` (dL/d output): adds dL/dW (masked) and dL/db into `g` (this
    /// network's gradient buffers, in parameter order); returns dL/dx when `want_dx`.
    pub fn backward_cpu(&self, p: &[Vec<f32>], tape: MlpTape, dout: Vec<f32>, g: &mut [Vec<f32>], want_dx: bool) -> Option<Vec<f32>> {
        self.backward_impl(p, tape, dout, g, want_dx, false)
    }

    /// `backward_cpu` for `forward_cpu_transposed`: `dout_t` is dL/d output transposed
    /// (sizes.last() × n).
    pub fn backward_cpu_transposed(&self, p: &[Vec<f32>], tape: MlpTape, dout_t: Vec<f32>, g: &mut [Vec<f32>], want_dx: bool) -> Option<Vec<f32>> {
        self.backward_impl(p, tape, dout_t, g, want_dx, true)
    }

    fn backward_impl(&self, p: &[Vec<f32>], tape: MlpTape, dout: Vec<f32>, g: &mut [Vec<f32>], want_dx: bool, dout_transposed: bool) -> Option<Vec<f32>> {
        let n = tape.n;
        let layers = self.sizes.len() - 1;
        let mut delta = dout;
        let mut scratch = Vec::new();
        for l in (0..layers).rev() {
            let (fi, fo) = (self.sizes[l], self.sizes[l + 1]);
            let input = &tape.inputs[l];
            let dense = if l == 0 { input.len() / n.max(1) } else { fi };
            // Only the output layer's delta can arrive transposed (fo × n).
            let t = dout_transposed && l + 1 == layers;
            assert!(!(t && tape.onehot.is_some()), "no one-hot inputs with a transposed output");
            matmul(&mut g[2 * l][..dense * fo], input, &delta, dense, n, fo, true, t, true);
            if let (0, Some(idx)) = (l, &tape.onehot) {
                for (row, &k) in delta.chunks_exact(fo).zip(idx) {
                    for (gw, d) in g[0][(dense + k) * fo..(dense + k + 1) * fo].iter_mut().zip(row) {
                        *gw += d;
                    }
                }
            }
            if let Some(m) = self.mask_f32(l) {
                for (gw, m) in g[2 * l].iter_mut().zip(m) {
                    *gw *= m;
                }
            }
            if t {
                // Per output, its row of δᵀ in 16 interleaved partial sums (one serial chain of
                // n additions per output would be latency-bound).
                for (gb, col) in g[2 * l + 1].iter_mut().zip(delta.chunks_exact(n.max(1))) {
                    let mut acc = [0.0f32; 16];
                    let mut chunks = col.chunks_exact(16);
                    for c in &mut chunks {
                        acc = std::array::from_fn(|i| acc[i] + c[i]);
                    }
                    *gb += acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
                }
            } else {
                for row in delta.chunks_exact(fo) {
                    for (gb, d) in g[2 * l + 1].iter_mut().zip(row) {
                        *gb += d;
                    }
                }
            }
            if l == 0 && !want_dx {
                return None;
            }
            let mut dh = vec![0.0f32; n * dense];
            matmul(&mut dh, &delta, &self.weight(p, l, &mut scratch)[..dense * fo], n, fo, dense, t, true, false);
            if l > 0 {
                // Through the activation of layer l − 1, whose output is this layer's input.
                activate_backward(self.activation, &mut dh, &tape.pre[l - 1], input);
            }
            delta = dh;
        }
        Some(delta)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fast_tanh_matches_libm() {
        let mut worst = 0.0f32;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            let (a, b) = (super::tanh_f32(x), x.tanh());
            worst = worst.max((a - b).abs() / b.abs().max(f32::MIN_POSITIVE));
        }
        assert!(worst < 4e-7, "relative error {worst}");
        assert_eq!(super::tanh_f32(30.0), 1.0);
        assert_eq!(super::tanh_f32(-1e9), -1.0);
        assert_eq!(super::tanh_f32(0.0), 0.0);
    }

}

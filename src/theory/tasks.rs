//! Task identifiability (Prop. 3.1): a task is identifiable iff its output is unchanged when the
//! parameter θ is replaced by Aθ = (f ∘ A⁻¹, A#P) for every A in A(M). In code space that means
//! codes become A(z) and a code c is generated as f(A⁻¹(c)). `identifiable` is the theory;
//! `empirical_change` applies a random member of the set and measures how much the output moves.
use super::sets::Indeterminacy;
use crate::matrix::Matrix;
use crate::metrics::{pearson, ranks};
use rand::Rng;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// The code of an observation.
    Encode,
    /// The observation generated from a given code.
    GenerateFromCode,
    /// Moving a code along latent axis `axis` by a fixed step.
    Traversal { axis: usize },
    /// Testing independence between latents `i` and `j`.
    IndependenceTest { i: usize, j: usize },
    /// The quantile level of an observation's code along `axis`.
    ComponentwiseQuantile { axis: usize },
}

impl Task {
    pub fn standard() -> [Task; 5] {
        [Task::Encode, Task::GenerateFromCode, Task::Traversal { axis: 0 }, Task::IndependenceTest { i: 0, j: 1 }, Task::ComponentwiseQuantile { axis: 1 }]
    }
    pub fn name(&self) -> String {
        match self {
            Task::Encode => "encode x".into(),
            Task::GenerateFromCode => "generate from a code".into(),
            Task::Traversal { axis } => format!("traversal along axis {}", axis + 1),
            Task::IndependenceTest { i, j } => format!("independence test z{} ⟂ z{}", i + 1, j + 1),
            Task::ComponentwiseQuantile { axis } => format!("quantile level along axis {}", axis + 1),
        }
    }
}

/// Theory: whether every member of `set` leaves the task's output unchanged. For
/// `IdentityOnSubspace` the free directions are taken to be the last ones.
pub fn identifiable(task: Task, set: &Indeterminacy) -> bool {
    use Indeterminacy::*;
    if set.is_identity() {
        return true;
    }
    match task {
        // A code, a generated point and a traversal (which needs A to commute with
        // translations along the axis) are fixed only by the identity.
        Task::Encode | Task::GenerateFromCode | Task::Traversal { .. } => false,
        // Component-wise invertible maps without permutation keep a given pair's (in)dependence.
        Task::IndependenceTest { .. } => matches!(set, SignFlips | ComponentwiseAffine | ComponentwiseIncreasing),
        // Increasing component-wise maps keep ranks; a flip turns level q into 1 − q.
        Task::ComponentwiseQuantile { .. } => matches!(set, ComponentwiseAffine | ComponentwiseIncreasing),
    }
}

/// A member of an indeterminacy set acting on codes, with its inverse.
type Map = std::rc::Rc<dyn Fn(&[f64]) -> Vec<f64>>;

pub struct Member {
    pub name: String,
    forward: Map,
    inverse: Map,
}

impl Member {
    pub fn apply(&self, z: &[f64]) -> Vec<f64> {
        (self.forward)(z)
    }
    pub fn invert(&self, z: &[f64]) -> Vec<f64> {
        (self.inverse)(z)
    }
    fn linear(name: &str, m: nalgebra::DMatrix<f64>, shift: nalgebra::DVector<f64>) -> Member {
        let inv = m.clone().try_inverse().expect("random members are invertible");
        let (s1, s2) = (shift.clone(), shift);
        Member {
            name: name.into(),
            forward: std::rc::Rc::new(move |z| (&m * nalgebra::DVector::from_column_slice(z) + &s1).iter().copied().collect()),
            inverse: std::rc::Rc::new(move |z| (&inv * (nalgebra::DVector::from_column_slice(z) - &s2)).iter().copied().collect()),
        }
    }
    /// z_k ↦ z_k + c_k tanh(z_k) + ½ tanh(z_{k−1}): triangular, increasing in z_k; inverted by
    /// forward substitution.
    fn triangular(c: Vec<f64>) -> Member {
        let cw = Member::componentwise_increasing(c);
        let (f, finv) = (cw.forward.clone(), cw.inverse.clone());
        Member {
            name: "triangular monotone".into(),
            forward: std::rc::Rc::new(move |z| {
                let mut y = f(z);
                for k in 1..z.len() {
                    y[k] += 0.5 * z[k - 1].tanh();
                }
                y
            }),
            inverse: std::rc::Rc::new(move |y| {
                let mut z = vec![0.0f64; y.len()];
                for k in 0..y.len() {
                    let target = y[k] - if k > 0 { 0.5 * z[k - 1].tanh() } else { 0.0 };
                    let mut one = vec![0.0; y.len()];
                    one[k] = target;
                    z[k] = finv(&one)[k];
                }
                z
            }),
        }
    }

    fn componentwise_increasing(c: Vec<f64>) -> Member {
        // z ↦ z + c tanh(z), c ∈ (0, 1): strictly increasing; inverted by bisection.
        let c2 = c.clone();
        let f = move |c: f64, v: f64| v + c * v.tanh();
        Member {
            name: "component-wise z + c tanh(z)".into(),
            forward: std::rc::Rc::new(move |z| z.iter().zip(&c).map(|(v, c)| f(*c, *v)).collect()),
            inverse: std::rc::Rc::new(move |y| {
                y.iter()
                    .zip(&c2)
                    .map(|(t, c)| {
                        let (mut lo, mut hi) = (t - 1.0 - t.abs(), t + 1.0 + t.abs());
                        for _ in 0..200 {
                            let mid = 0.5 * (lo + hi);
                            if f(*c, mid) < *t { lo = mid } else { hi = mid }
                        }
                        0.5 * (lo + hi)
                    })
                    .collect()
            }),
        }
    }
}

fn signed_permutation(d: usize, rng: &mut impl Rng, scale: bool) -> nalgebra::DMatrix<f64> {
    // A cyclic shift: moves every axis, so no pair of axes keeps its partner.
    let perm: Vec<usize> = (0..d).map(|i| (i + 1) % d).collect();
    nalgebra::DMatrix::from_fn(d, d, |i, j| {
        if perm[i] != j {
            return 0.0;
        }
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        if scale { sign * rng.random_range(0.5..2.0) } else { sign }
    })
}

/// A random, generic member of `set` in dimension d (≥ 2): what a refit could land on.
pub fn random_member(set: &Indeterminacy, d: usize, rng: &mut impl Rng) -> Member {
    use Indeterminacy::*;
    let zero = nalgebra::DVector::zeros(d);
    match set {
        Identity => Member::linear("identity", nalgebra::DMatrix::identity(d, d), zero),
        IdentityOnSubspace { free_dim: 0, .. } => Member::linear("identity", nalgebra::DMatrix::identity(d, d), zero),
        SignFlips => {
            // The first two axes always flip (the standard tasks look at them), the others at random.
            let mut m = nalgebra::DMatrix::identity(d, d);
            m[(0, 0)] = -1.0;
            m[(1, 1)] = -1.0;
            for i in 2..d {
                if rng.random_bool(0.5) {
                    m[(i, i)] = -1.0;
                }
            }
            Member::linear("sign flips", m, zero)
        }
        SignedPermutations => Member::linear("signed permutation", signed_permutation(d, rng, false), zero),
        PermutationScaling | AffineInSufficientStatistics => {
            let shift = nalgebra::DVector::from_fn(d, |_, _| rng.random_range(-1.0..1.0));
            Member::linear("permutation × scaling + shift", signed_permutation(d, rng, true), shift)
        }
        ComponentwiseAffine => {
            let m = nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_fn(d, |_, _| rng.random_range(0.5..2.0)));
            Member::linear("component-wise affine", m, nalgebra::DVector::from_fn(d, |_, _| rng.random_range(-1.0..1.0)))
        }
        ComponentwiseIncreasing => Member::componentwise_increasing((0..d).map(|_| rng.random_range(0.3..0.9)).collect()),
        PermutationComponentwise | ProductPreserving => {
            let inner = Member::componentwise_increasing((0..d).map(|_| rng.random_range(0.3..0.9)).collect());
            let perm = Member::linear("", signed_permutation(d, rng, false), zero);
            let (f1, f2, i1, i2) = (inner.forward.clone(), perm.forward.clone(), inner.inverse.clone(), perm.inverse.clone());
            Member {
                name: "permutation ∘ component-wise increasing".into(),
                forward: std::rc::Rc::new(move |z| f2(&f1(z))),
                inverse: std::rc::Rc::new(move |y| i1(&i2(y))),
            }
        }
        TriangularMonotone => Member::triangular((0..d).map(|_| rng.random_range(0.3..0.9)).collect()),
        IdentityOnSubspace { free_dim, .. } => {
            // Fix the first d − k coordinates; on the last k, a map that preserves N(0, I) there
            // and depends on the fixed coordinate z_1: a rotation by angle 1 + z_1 (k ≥ 2), or a
            // reflection where z_1 > 0 (k = 1). Both are their own kind of member of the set.
            let k = *free_dim;
            let start = d - k;
            let map = move |z: &[f64], sign: f64| {
                let mut y = z.to_vec();
                if k >= 2 {
                    let t = sign * (1.0 + z[0]);
                    let (a, b) = (z[start], z[start + 1]);
                    y[start] = t.cos() * a - t.sin() * b;
                    y[start + 1] = t.sin() * a + t.cos() * b;
                } else if z[0] > 0.0 {
                    y[start] = -z[start];
                }
                y
            };
            Member { name: "z_1-dependent map of the free directions".into(), forward: std::rc::Rc::new(move |z| map(z, 1.0)), inverse: std::rc::Rc::new(move |z| map(z, -1.0)) }
        }
        TriangularLinear => {
            let m = nalgebra::DMatrix::from_fn(d, d, |i, j| match i.cmp(&j) {
                std::cmp::Ordering::Equal => rng.random_range(0.5..2.0),
                std::cmp::Ordering::Greater => rng.random_range(-1.0..1.0),
                std::cmp::Ordering::Less => 0.0,
            });
            Member::linear("lower-triangular", m, zero)
        }
        Orthogonal | GaussianPreserving | Linear | AllDiffeomorphisms => Member::linear("rotation", crate::fa::random_rotation(d, rng), zero),
    }
}

/// Probe codes: a moderately dependent pair (z1, z2), the rest independent, non-Gaussian.
pub fn probe_codes(n: usize, d: usize, rng: &mut impl Rng) -> Matrix {
    Matrix::from_fn(n, d, |_, _| 0.0).rows_map(|_, row| {
        let mut z: Vec<f64> = (0..d).map(|_| rng.random_range(-1.5..1.5)).collect();
        if d >= 2 {
            z[1] = 0.5 * z[0] + rng.random_range(-1.0..1.0);
        }
        row.copy_from_slice(&z);
    })
}

/// How much the task's output moves when θ is replaced by Aθ (0 = unchanged).
pub fn empirical_change(task: Task, codes: &Matrix, a: &Member) -> f64 {
    let moved = codes.rows_map(|i, row| row.copy_from_slice(&a.apply(codes.row(i))));
    match task {
        Task::Encode => moved.max_abs_diff(codes),
        Task::GenerateFromCode => codes.rows_map(|i, row| row.copy_from_slice(&a.invert(codes.row(i)))).max_abs_diff(codes),
        Task::Traversal { axis } => {
            // Step δ = 0.5 along the axis in θ' 's code space, mapped back to θ's.
            let stepped = codes.rows_map(|i, row| {
                let mut c = moved.row(i).to_vec();
                c[axis] += 0.5;
                let back = a.invert(&c);
                for j in 0..row.len() {
                    row[j] = back[j] - codes.get(i, j) - if j == axis { 0.5 } else { 0.0 };
                }
            });
            stepped.data.iter().fold(0.0, |m, v| m.max(v.abs()))
        }
        Task::IndependenceTest { i, j } => {
            // A rank statistic, so component-wise increasing maps leave it exactly unchanged:
            // |corr| of centred ranks plus |corr| of their squares (flip-invariant, and it sees
            // the dependence a rotation creates between uncorrelated coordinates).
            let dep = |m: &Matrix| {
                let r = ranks(m);
                let n = m.rows as f64;
                let c = |k: usize| r.col(k).iter().map(|v| (v - (n - 1.0) / 2.0) / n).collect::<Vec<f64>>();
                let sq = |v: &[f64]| v.iter().map(|x| x * x).collect::<Vec<f64>>();
                let (a, b) = (c(i), c(j));
                pearson(&a, &b).abs() + pearson(&sq(&a), &sq(&b)).abs()
            };
            (dep(&moved) - dep(codes)).abs()
        }
        Task::ComponentwiseQuantile { axis } => {
            let (r0, r1) = (ranks(codes), ranks(&moved));
            (0..codes.rows).map(|i| (r0.get(i, axis) - r1.get(i, axis)).abs()).fold(0.0, f64::max) / codes.rows as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::stream;
    use Indeterminacy::*;

    #[test]
    fn random_members_confirm_the_theory_for_every_set_and_task() {
        let sets = [
            Identity, SignFlips, SignedPermutations, PermutationScaling, ComponentwiseAffine, ComponentwiseIncreasing,
            PermutationComponentwise, Orthogonal, IdentityOnSubspace { fixed_dim: 1, free_dim: 2 }, TriangularLinear,
            TriangularMonotone, Linear, AffineInSufficientStatistics, ProductPreserving, GaussianPreserving, AllDiffeomorphisms,
        ];
        let mut rng = stream(11, 0);
        let codes = probe_codes(2000, 3, &mut rng);
        for set in &sets {
            let member = random_member(set, 3, &mut rng);
            // Every member is a bijection.
            for i in 0..20 {
                let back = member.invert(&member.apply(codes.row(i)));
                assert!(back.iter().zip(codes.row(i)).all(|(a, b)| (a - b).abs() < 1e-9), "{set:?}: inverse fails");
            }
            for task in Task::standard() {
                let change = empirical_change(task, &codes, &member);
                let theory = identifiable(task, set);
                let tol = 1e-9;
                assert_eq!(change <= tol, theory, "{set:?}, {}: change {change}, theory says identifiable = {theory} ({})", task.name(), member.name);
            }
        }
    }
}

//! Indeterminacy sets as typed values and their intersections (Thm 2.2: A(M) = A(F) ∩ A(P)).
//! The sets form a lattice ordered by inclusion; `meet` computes intersections, using the
//! paper's theorems where two sets are not nested (e.g. TMI ∩ measure-preserving = identity,
//! Thm 5.1 / KR uniqueness; linear ∩ N(0, I)-preserving = O(d)).
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "set", rename_all = "kebab-case")]
pub enum Indeterminacy {
    /// {id}: strongly identifiable.
    Identity,
    /// z_i → ±z_i.
    SignFlips,
    /// Permutations with sign flips.
    SignedPermutations,
    /// Λ P + b: permutation times invertible diagonal scaling, plus a shift (linear ICA).
    PermutationScaling,
    /// z_i → a_i z_i + b_i with a_i > 0.
    ComponentwiseAffine,
    /// Component-wise strictly increasing maps, no permutation (Prop. 5.2).
    ComponentwiseIncreasing,
    /// Permutation composed with component-wise invertible maps (nonlinear ICA's best case).
    PermutationComponentwise,
    /// The orthogonal group O(d) (rotations and reflections).
    Orthogonal,
    /// Identity on the span of the mean contrasts (dimension `fixed_dim`); on the other
    /// `free_dim` directions any map preserving the standard normal there, possibly depending
    /// on the fixed coordinates (O(free_dim) for linear generators) (Prop. D.9).
    IdentityOnSubspace { fixed_dim: usize, free_dim: usize },
    /// Lower-triangular linear maps with positive diagonal.
    TriangularLinear,
    /// Triangular monotone increasing maps (closed under composition and inversion).
    TriangularMonotone,
    /// Invertible affine maps (GL(d) and shifts).
    Linear,
    /// A with T(A(z)) = Lᵀ T(z) + d: affine in the sufficient statistics (Prop. 4.3).
    AffineInSufficientStatistics,
    /// Maps that send product measures (independent non-Gaussian components) to product measures.
    ProductPreserving,
    /// Every map with A#N(0, I) = N(0, I): O(d) and many nonlinear ones (e.g. Φ⁻¹∘(measure-
    /// preserving maps of the cube)∘Φ).
    GaussianPreserving,
    /// Every diffeomorphism.
    AllDiffeomorphisms,
}

use Indeterminacy::*;

impl Indeterminacy {
    pub fn is_identity(&self) -> bool {
        matches!(self, Identity | IdentityOnSubspace { free_dim: 0, .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Identity => "the identity only".into(),
            SignFlips => "sign flips z_i → −z_i".into(),
            SignedPermutations => "permutations with sign flips".into(),
            PermutationScaling => "permutation × scaling and shift (Λ P + b)".into(),
            ComponentwiseAffine => "component-wise increasing affine maps z_i → a_i z_i + b_i".into(),
            ComponentwiseIncreasing => "component-wise increasing maps (no permutation)".into(),
            PermutationComponentwise => "permutation composed with component-wise invertible maps".into(),
            Orthogonal => "rotations and reflections O(d)".into(),
            IdentityOnSubspace { fixed_dim, free_dim } => format!(
                "identity on the {fixed_dim}-dimensional span of the mean contrasts; free on the other {free_dim} direction(s) (any N(0, I)-preserving map there, e.g. the reflection)"
            ),
            TriangularLinear => "lower-triangular linear maps with positive diagonal".into(),
            TriangularMonotone => "triangular monotone increasing maps".into(),
            Linear => "invertible affine maps".into(),
            AffineInSufficientStatistics => "maps affine in the sufficient statistics, T(A(z)) = Lᵀ T(z) + d".into(),
            ProductPreserving => "maps that send independent components to independent components".into(),
            GaussianPreserving => "every map preserving N(0, I) (O(d) and nonlinear measure-preserving maps)".into(),
            AllDiffeomorphisms => "every diffeomorphism".into(),
        }
    }

    /// Direct inclusions self ⊆ other (the Hasse diagram; `subset_of` closes it transitively).
    fn parents(&self) -> Vec<Indeterminacy> {
        match self {
            Identity => vec![SignFlips, ComponentwiseAffine, IdentityOnSubspace { fixed_dim: 0, free_dim: 0 }],
            SignFlips => vec![SignedPermutations],
            SignedPermutations => vec![PermutationScaling, Orthogonal],
            ComponentwiseAffine => vec![ComponentwiseIncreasing, TriangularLinear, PermutationScaling],
            PermutationScaling => vec![Linear, PermutationComponentwise, AffineInSufficientStatistics],
            ComponentwiseIncreasing => vec![TriangularMonotone, PermutationComponentwise],
            PermutationComponentwise => vec![ProductPreserving],
            Orthogonal => vec![Linear, GaussianPreserving],
            IdentityOnSubspace { .. } => vec![GaussianPreserving],
            TriangularLinear => vec![Linear, TriangularMonotone],
            TriangularMonotone | Linear | AffineInSufficientStatistics | ProductPreserving | GaussianPreserving => vec![AllDiffeomorphisms],
            AllDiffeomorphisms => vec![],
        }
    }

    /// self ⊆ other.
    pub fn subset_of(&self, other: &Indeterminacy) -> bool {
        if self == other || self.is_identity() || *other == AllDiffeomorphisms {
            return true;
        }
        if let (IdentityOnSubspace { free_dim: a, .. }, IdentityOnSubspace { free_dim: b, .. }) = (self, other) {
            return a <= b;
        }
        self.parents().iter().any(|p| p.subset_of(other))
    }
}

/// A ∩ B. Nested sets meet at the smaller; the other pairs are theorems. `None` where the
/// answer depends on more than the two sets' names (e.g. how a subspace sits among the axes).
pub fn meet(a: &Indeterminacy, b: &Indeterminacy) -> Option<Indeterminacy> {
    if a.subset_of(b) {
        return Some(a.clone());
    }
    if b.subset_of(a) {
        return Some(b.clone());
    }
    let pair = |x: &Indeterminacy, y: &Indeterminacy| -> Option<Indeterminacy> {
        Some(match (x, y) {
            // Thm 5.1: a TMI map pushing a full-support measure to itself is the identity (KR
            // uniqueness); a triangular increasing map is never a non-trivial flip or rotation.
            (TriangularMonotone | TriangularLinear, GaussianPreserving | Orthogonal | IdentityOnSubspace { .. } | SignFlips | SignedPermutations) => Identity,
            // Prop. 5.2: TMI maps between product measures are component-wise increasing.
            (TriangularMonotone, ProductPreserving | PermutationComponentwise) => ComponentwiseIncreasing,
            (TriangularMonotone, PermutationScaling | AffineInSufficientStatistics) => ComponentwiseAffine,
            (TriangularMonotone, Linear) => TriangularLinear,
            (TriangularLinear, PermutationScaling | ComponentwiseIncreasing | AffineInSufficientStatistics | ProductPreserving | PermutationComponentwise) => ComponentwiseAffine,
            // A linear map preserving N(0, I) is orthogonal.
            (Linear, GaussianPreserving) => Orthogonal,
            // Darmois–Skitovich / Comon: a linear map keeping non-Gaussian components independent is Λ P.
            (Linear, ProductPreserving | PermutationComponentwise | AffineInSufficientStatistics) => PermutationScaling,
            (Linear, ComponentwiseIncreasing) => ComponentwiseAffine,
            (Orthogonal | GaussianPreserving, ProductPreserving | PermutationComponentwise | PermutationScaling | AffineInSufficientStatistics) => SignedPermutations,
            (Orthogonal | GaussianPreserving | IdentityOnSubspace { .. }, ComponentwiseAffine | ComponentwiseIncreasing) => Identity,
            (ComponentwiseIncreasing, PermutationScaling | AffineInSufficientStatistics) => ComponentwiseAffine,
            (ComponentwiseIncreasing | ComponentwiseAffine, SignFlips | SignedPermutations) => Identity,
            (AffineInSufficientStatistics, ProductPreserving | PermutationComponentwise) => PermutationScaling,
            _ => return None,
        })
    };
    pair(a, b).or_else(|| pair(b, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Indeterminacy; 16] = [
        Identity, SignFlips, SignedPermutations, PermutationScaling, ComponentwiseAffine, ComponentwiseIncreasing, PermutationComponentwise, Orthogonal,
        IdentityOnSubspace { fixed_dim: 1, free_dim: 1 }, TriangularLinear, TriangularMonotone, Linear, AffineInSufficientStatistics,
        ProductPreserving, GaussianPreserving, AllDiffeomorphisms,
    ];

    #[test]
    fn meet_is_commutative_idempotent_and_below_both() {
        let mut resolved = 0;
        for a in &ALL {
            assert_eq!(meet(a, a), Some(a.clone()));
            assert_eq!(meet(a, &Identity), Some(Identity));
            assert_eq!(meet(a, &AllDiffeomorphisms), Some(a.clone()));
            for b in &ALL {
                assert_eq!(meet(a, b), meet(b, a), "{a:?} ∩ {b:?}");
                if let Some(m) = meet(a, b) {
                    assert!(m.subset_of(a) && m.subset_of(b), "{a:?} ∩ {b:?} = {m:?} is not below both");
                    resolved += 1;
                }
            }
        }
        assert!(resolved >= 230, "only {resolved} of 256 pairs resolved");
    }

    #[test]
    fn the_paper_intersections() {
        assert_eq!(meet(&TriangularMonotone, &GaussianPreserving), Some(Identity));
        assert_eq!(meet(&Linear, &GaussianPreserving), Some(Orthogonal));
        assert_eq!(meet(&Linear, &ProductPreserving), Some(PermutationScaling));
        assert_eq!(meet(&TriangularMonotone, &ProductPreserving), Some(ComponentwiseIncreasing));
        assert_eq!(meet(&TriangularLinear, &GaussianPreserving), Some(Identity));
    }
}

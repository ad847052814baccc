//! The catalogue of model classes (THEORY §1 table): each class is a generator space and one
//! prior space per environment (Cor. 4.1) or one generator space per view (Cor. 4.2); its
//! indeterminacy set is the intersection of their sets (Thm 2.2).
use super::sets::{Indeterminacy, meet};
use crate::models::ModelKind;
use crate::priors::{AnchorCheck, AnchorFamily};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorSpace {
    /// Injective linear (affine) maps.
    Linear,
    /// Lower-triangular linear maps with positive diagonal.
    TriangularLinear,
    /// Triangular monotone increasing maps (TMI).
    TriangularMonotone,
    /// Every injective smooth map (MLP decoders, non-triangular flows).
    Flexible,
    /// Optimal-transport maps for a separating cost (Thm 5.3).
    OtSeparating,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriorSpace {
    /// One fixed N(0, I).
    FixedStandardNormal,
    /// One fixed prior with positive density (not necessarily Gaussian).
    FixedFullSupport,
    /// Learned independent non-Gaussian components (linear ICA).
    IndependentNonGaussian,
    /// Learned independent components, any marginals (Prop. 5.2).
    LearnedIndependent,
    /// Learned exponential-family priors per environment (iVAE, Prop. 4.3).
    LearnedExpFamily { variance_only: bool },
    /// Frozen anchor priors, as checked by Thm 4.5's condition.
    Anchored(AnchorCheck),
}

impl GeneratorSpace {
    /// A(F) = {f_b⁻¹ ∘ f_a}.
    pub fn indeterminacy(&self) -> Indeterminacy {
        match self {
            GeneratorSpace::Linear => Indeterminacy::Linear,
            GeneratorSpace::TriangularLinear => Indeterminacy::TriangularLinear,
            GeneratorSpace::TriangularMonotone => Indeterminacy::TriangularMonotone,
            GeneratorSpace::Flexible | GeneratorSpace::OtSeparating => Indeterminacy::AllDiffeomorphisms,
        }
    }
}

impl PriorSpace {
    /// A(P) = {A : A#P_a = P_b for P_a, P_b in the space}.
    pub fn indeterminacy(&self, dim: usize) -> Indeterminacy {
        match self {
            PriorSpace::FixedStandardNormal => Indeterminacy::GaussianPreserving,
            // Measure-preserving maps of a general density: as large as the Gaussian case.
            PriorSpace::FixedFullSupport => Indeterminacy::GaussianPreserving,
            PriorSpace::IndependentNonGaussian | PriorSpace::LearnedIndependent => Indeterminacy::ProductPreserving,
            PriorSpace::LearnedExpFamily { .. } => Indeterminacy::AffineInSufficientStatistics,
            PriorSpace::Anchored(check) => match check.family {
                _ if check.strongly_identifiable => Indeterminacy::Identity,
                AnchorFamily::MeanOnly => Indeterminacy::IdentityOnSubspace { fixed_dim: check.rank, free_dim: dim - check.rank.min(dim) },
                AnchorFamily::VarianceOnly => Indeterminacy::SignFlips,
                AnchorFamily::MeanVariance => Indeterminacy::AffineInSufficientStatistics,
            },
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelClass {
    pub name: String,
    /// One per view (Cor. 4.2); usually one.
    pub generators: Vec<GeneratorSpace>,
    /// One per environment (Cor. 4.1); usually one.
    pub priors: Vec<PriorSpace>,
    pub dim: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub class: String,
    pub set: Indeterminacy,
    pub description: String,
    pub strongly_identifiable: bool,
    /// The result the verdict rests on.
    pub theorem: String,
}

impl ModelClass {
    pub fn single(name: &str, generator: GeneratorSpace, prior: PriorSpace, dim: usize) -> ModelClass {
        ModelClass { name: name.into(), generators: vec![generator], priors: vec![prior], dim }
    }

    /// A(M) = (∩_views A(F^v)) ∩ (∩_envs A(P^e)) (Thm 2.2, Cor. 4.1, Cor. 4.2).
    pub fn analyze(&self) -> Verdict {
        let thm53 = self.generators.contains(&GeneratorSpace::OtSeparating)
            && self.priors.iter().any(|p| matches!(p, PriorSpace::FixedStandardNormal | PriorSpace::FixedFullSupport));
        let set = if thm53 {
            Indeterminacy::Identity
        } else {
            let sets = self.generators.iter().map(GeneratorSpace::indeterminacy).chain(self.priors.iter().map(|p| p.indeterminacy(self.dim)));
            sets.fold(Some(Indeterminacy::AllDiffeomorphisms), |acc, s| acc.and_then(|a| meet(&a, &s)))
                .expect("every catalogued class has a resolved intersection")
        };
        let theorem = self.theorem(thm53);
        Verdict { class: self.name.clone(), description: set.describe(), strongly_identifiable: set.is_identity(), set, theorem }
    }

    fn theorem(&self, thm53: bool) -> String {
        use GeneratorSpace as G;
        use PriorSpace as P;
        let multi = if self.generators.len() > 1 { " across views (Cor. 4.2)" } else if self.priors.len() > 1 { " across environments (Cor. 4.1)" } else { "" };
        let base = match (&self.generators[0], &self.priors[0]) {
            _ if thm53 => "Thm 5.3: generators inside OT maps for a separating cost with a fixed prior".to_string(),
            (G::TriangularMonotone, P::FixedStandardNormal | P::FixedFullSupport) => "Thm 5.1: a TMI map preserving a full-support prior is the identity (KR uniqueness)".into(),
            (G::TriangularMonotone, P::LearnedIndependent | P::IndependentNonGaussian) => "Prop. 5.2: TMI maps between product measures are component-wise increasing".into(),
            (G::TriangularLinear, _) => "a lower-triangular matrix with positive diagonal that is orthogonal is the identity (uniqueness of the Cholesky factor)".into(),
            (G::Linear, P::FixedStandardNormal) => "a linear map preserving N(0, I) is orthogonal: factor-analysis rotations".into(),
            (G::Linear, P::IndependentNonGaussian) => "Comon / Darmois–Skitovich: linear ICA is identifiable up to permutation and scaling".into(),
            (_, P::FixedStandardNormal | P::FixedFullSupport) => "a flexible generator with a fixed prior: every prior-preserving map is an indeterminacy".into(),
            (_, P::LearnedExpFamily { variance_only }) => format!(
                "Prop. 4.3: learned exponential-family priors leave maps affine in T(z){}",
                if *variance_only { "; centred variance-only priors always leave sign flips" } else { "" }
            ),
            (_, P::Anchored(check)) => format!("Thm 4.5 / Prop. D.9: {}", check.message),
            (_, P::LearnedIndependent | P::IndependentNonGaussian) => "independent priors alone: component-wise maps and permutations survive".into(),
        };
        format!("{base}{multi}")
    }
}

/// The class each fittable model kind belongs to. `anchors` is the check of ivae-frozen's
/// anchors (None: unknown until anchors are given); `variance_only` for ivae.
pub fn class_of(kind: ModelKind, dim: usize, anchors: Option<&AnchorCheck>, variance_only: bool) -> Option<ModelClass> {
    let (g, p) = match kind {
        ModelKind::TmiFlow => (GeneratorSpace::TriangularMonotone, PriorSpace::FixedStandardNormal),
        ModelKind::Flow | ModelKind::Vae => (GeneratorSpace::Flexible, PriorSpace::FixedStandardNormal),
        ModelKind::Ivae => (GeneratorSpace::Flexible, PriorSpace::LearnedExpFamily { variance_only }),
        ModelKind::IvaeFrozen => (GeneratorSpace::Flexible, PriorSpace::Anchored(anchors?.clone())),
        ModelKind::Fa => (GeneratorSpace::Linear, PriorSpace::FixedStandardNormal),
        ModelKind::FaTri => (GeneratorSpace::TriangularLinear, PriorSpace::FixedStandardNormal),
    };
    Some(ModelClass::single(kind.name(), g, p, dim))
}

/// Every row of the THEORY §1 table, in order.
pub fn table(dim: usize) -> Vec<ModelClass> {
    use GeneratorSpace as G;
    use PriorSpace as P;
    let spanning = crate::priors::check_anchors(&crate::priors::generic_anchors(dim));
    let mean_only = crate::priors::check_anchors(&crate::priors::mean_only_anchors(dim, dim.saturating_sub(1)));
    vec![
        ModelClass::single("factor analysis / linear VAE, fixed N(0, I) prior", G::Linear, P::FixedStandardNormal, dim),
        ModelClass::single("VAE, fixed N(0, I) prior, flexible generator", G::Flexible, P::FixedStandardNormal, dim),
        ModelClass::single("linear ICA (independent non-Gaussian sources)", G::Linear, P::IndependentNonGaussian, dim),
        ModelClass::single("iVAE, learned exponential-family priors (Prop. 4.3)", G::Flexible, P::LearnedExpFamily { variance_only: false }, dim),
        ModelClass::single(&format!("iVAE with {} frozen spanning anchors (Thm 4.5)", 2 * dim + 1), G::Flexible, P::Anchored(spanning), dim),
        ModelClass::single(&format!("Gaussian means only, {} anchors of rank {} (Prop. D.9)", dim, dim.saturating_sub(1)), G::Flexible, P::Anchored(mean_only), dim),
        ModelClass::single("TMI generator + fixed full-support prior (Thm 5.1)", G::TriangularMonotone, P::FixedFullSupport, dim),
        ModelClass::single("TMI generator + learned independent priors (Prop. 5.2)", G::TriangularMonotone, P::LearnedIndependent, dim),
        ModelClass::single("OT maps for a separating cost + fixed prior (Thm 5.3)", G::OtSeparating, P::FixedFullSupport, dim),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Indeterminacy::*;

    #[test]
    fn every_table_row_has_the_papers_set() {
        let expected = [
            Orthogonal,
            GaussianPreserving,
            PermutationScaling,
            AffineInSufficientStatistics,
            Identity,
            IdentityOnSubspace { fixed_dim: 2, free_dim: 1 },
            Identity,
            ComponentwiseIncreasing,
            Identity,
        ];
        let rows = table(3);
        assert_eq!(rows.len(), expected.len());
        for (row, set) in rows.iter().zip(expected) {
            let v = row.analyze();
            assert_eq!(v.set, set, "{}", row.name);
            assert_eq!(v.strongly_identifiable, set == Identity, "{}", row.name);
        }
    }

    #[test]
    fn each_fittable_kind_reports_its_class() {
        let d = 4;
        let spanning = crate::priors::check_anchors(&crate::priors::generic_anchors(d));
        let expect = [
            (ModelKind::TmiFlow, true),
            (ModelKind::Flow, false),
            (ModelKind::Vae, false),
            (ModelKind::Ivae, false),
            (ModelKind::IvaeFrozen, true),
            (ModelKind::Fa, false),
            (ModelKind::FaTri, true),
        ];
        for (kind, strong) in expect {
            let v = class_of(kind, d, Some(&spanning), false).unwrap().analyze();
            assert_eq!(v.strongly_identifiable, strong, "{kind:?}: {v:?}");
        }
        assert!(class_of(ModelKind::IvaeFrozen, d, None, false).is_none());
    }

    #[test]
    fn environments_and_views_intersect() {
        // Cor. 4.1: two environments whose anchors are each insufficient alone.
        let d = 2;
        let half = |envs: &[i64]| {
            let all = crate::priors::generic_anchors(d);
            crate::priors::check_anchors(&all.into_iter().filter(|a| envs.contains(&a.env)).collect::<Vec<_>>())
        };
        let weak = ModelClass::single("few anchors", GeneratorSpace::Flexible, PriorSpace::Anchored(half(&[0, 1])), d).analyze();
        assert!(!weak.strongly_identifiable);
        // Cor. 4.2: a flexible view and a triangular view of the same latent, fixed prior.
        let views = ModelClass { name: "two views".into(), generators: vec![GeneratorSpace::Flexible, GeneratorSpace::TriangularMonotone], priors: vec![PriorSpace::FixedStandardNormal], dim: d };
        assert_eq!(views.analyze().set, Identity);
        assert!(views.analyze().theorem.contains("Cor. 4.2"));
        let lin = ModelClass { name: "linear + fixed, two environments".into(), generators: vec![GeneratorSpace::Linear], priors: vec![PriorSpace::FixedStandardNormal, PriorSpace::IndependentNonGaussian], dim: d };
        assert_eq!(lin.analyze().set, SignedPermutations);
    }
}

//! Which coordinates of a code are reproducible, and up to what: each coordinate of a reference
//! restart's code against every other restart, at every alignment level, and the sentence a
//! scientist can quote ("coordinates 1–3 unique at the identity across 8 restarts; 4 only up
//! to sign"). The whole-code classification (`classify`) can hide one good coordinate behind a
//! bad one; on real data the per-coordinate answer is the useful one.
use super::{Class, knn_r2_columns};
use crate::matrix::Matrix;
use crate::metrics::{self, assignment};
use serde::Serialize;

/// How one coordinate of the reference code is reproduced: the worst over the other restarts
/// at each level (1 = perfect).
#[derive(Clone, Debug, Serialize)]
pub struct CoordinateAgreement {
    /// 1-based, in the reference code.
    pub coordinate: usize,
    /// Signed Pearson with the same coordinate of the other code.
    pub identity: f64,
    /// |Pearson| with the coordinate the best one-to-one matching (on |Pearson|) pairs it with.
    pub permutation_sign: f64,
    /// |Spearman| with the coordinate the best matching on |Spearman| pairs it with.
    pub componentwise: f64,
    /// R² of the best affine map from the other whole code to this coordinate.
    pub affine: f64,
    /// Held-out k-NN R² of this coordinate from the other whole code.
    pub smooth: f64,
    /// Every restart's matched coordinate is this same index (so only a sign can differ).
    pub same_index: bool,
    /// The smallest level reaching the threshold against every other restart.
    pub level: Class,
}

impl CoordinateAgreement {
    /// The agreement at one level (smooth for "not identifiable").
    pub fn at(&self, level: Class) -> f64 {
        level.score_of([self.identity, self.permutation_sign, self.componentwise, self.affine, self.smooth])
    }
}

/// The matching of `a`'s columns to `b`'s maximising the similarity, and each matched value.
fn matched(sim: &[f64], d: usize) -> (Vec<usize>, Vec<f64>) {
    let col = assignment::max_weight_assignment(sim, d, d);
    let vals = (0..d).map(|i| sim[i * d + col[i]]).collect();
    (col, vals)
}

/// Per-coordinate agreement of `codes[reference]` with every other code (all n × d, columns
/// not constant: `super::agreement` has checked the pairs).
pub fn per_coordinate(codes: &[Matrix], reference: usize, threshold: f64, seed: u64) -> Vec<CoordinateAgreement> {
    let r = &codes[reference];
    let d = r.cols;
    let mut out: Vec<CoordinateAgreement> = (0..d)
        .map(|j| CoordinateAgreement { coordinate: j + 1, identity: 1.0, permutation_sign: 1.0, componentwise: 1.0, affine: 1.0, smooth: 1.0, same_index: true, level: Class::StronglyIdentifiable })
        .collect();
    let r_ranks = metrics::ranks(r);
    for (b, other) in codes.iter().enumerate().filter(|(b, _)| *b != reference) {
        let (pcol, pval) = matched(&metrics::abs_corr(r, other), d);
        let (_, sval) = matched(&metrics::abs_corr(&r_ranks, &metrics::ranks(other)), d);
        let affine = metrics::affine_r2_columns(r, other);
        let smooth = knn_r2_columns(other, r, seed.wrapping_add(b as u64));
        for (j, c) in out.iter_mut().enumerate() {
            c.identity = c.identity.min(metrics::pearson(&r.col(j), &other.col(j)));
            c.permutation_sign = c.permutation_sign.min(pval[j]);
            c.componentwise = c.componentwise.min(sval[j]);
            c.affine = c.affine.min(affine[j]);
            c.smooth = c.smooth.min(smooth[j]);
            c.same_index &= pcol[j] == j;
        }
    }
    for c in &mut out {
        c.level = Class::smallest(|level| c.at(level) >= threshold);
    }
    out
}

/// What a coordinate's level means, as a phrase after "coordinate(s) …".
fn phrase(c: &CoordinateAgreement) -> &'static str {
    match c.level {
        Class::StronglyIdentifiable => "unique at the identity",
        Class::UpToPermutationAndSign if c.same_index => "only up to sign",
        Class::UpToPermutationAndSign => "only up to permutation and sign",
        Class::UpToComponentwiseMaps => "only up to a monotone map of the coordinate (and permutation)",
        Class::UpToAffine => "only up to an affine map of the whole code",
        Class::NotIdentifiable => "not reproducible",
    }
}

/// "1", "1–3", "1, 3, 5": a list of 1-based coordinates with consecutive runs joined.
fn ranges(coords: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < coords.len() {
        let mut k = i;
        while k + 1 < coords.len() && coords[k + 1] == coords[k] + 1 {
            k += 1;
        }
        parts.push(if k > i { format!("{}–{}", coords[i], coords[k]) } else { coords[i].to_string() });
        i = k + 1;
    }
    parts.join(", ")
}

/// The quotable verdict: coordinates grouped by what they are unique up to, best first.
pub fn verdict(coords: &[CoordinateAgreement], restarts: usize) -> String {
    let mut groups: Vec<(String, Vec<&CoordinateAgreement>)> = Vec::new();
    let mut sorted: Vec<&CoordinateAgreement> = coords.iter().collect();
    sorted.sort_by_key(|c| (c.level, c.level == Class::UpToPermutationAndSign && !c.same_index, c.coordinate));
    for c in sorted {
        let p = phrase(c).to_string();
        match groups.iter_mut().find(|g| g.0 == p) {
            Some(g) => g.1.push(c),
            None => groups.push((p, vec![c])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(k, (p, cs))| {
            let numbers: Vec<usize> = cs.iter().map(|c| c.coordinate).collect();
            let mut p = p.clone();
            if cs[0].level == Class::NotIdentifiable {
                let r2: Vec<String> = cs.iter().map(|c| format!("{:.2}", c.affine)).collect();
                p = format!("{p} (best affine R² {})", r2.join(", "));
            }
            let noun = if k > 0 { "" } else if cs.len() == 1 { "coordinate " } else { "coordinates " };
            let across = if k == 0 { format!(" across {restarts} restarts") } else { String::new() };
            format!("{noun}{} {p}{across}", ranges(&numbers))
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::standard_normal;
    use crate::train::stream;

    /// Three restarts of a 4-d code: coordinates 1–2 the same in all, 3 flipped in one restart,
    /// 4 replaced by independent noise in one: the verdict names each.
    #[test]
    fn the_verdict_names_each_coordinates_level() {
        let n = 3000;
        let z = standard_normal(n, 4, &mut stream(3, 0));
        let noise = standard_normal(n, 1, &mut stream(4, 0));
        let flipped = Matrix::from_fn(n, 4, |i, j| if j == 2 { -z.get(i, j) } else { z.get(i, j) });
        let lost = Matrix::from_fn(n, 4, |i, j| if j == 3 { noise.get(i, 0) } else { z.get(i, j) });
        let coords = per_coordinate(&[z.clone(), flipped, lost], 0, 0.95, 0);
        let levels: Vec<Class> = coords.iter().map(|c| c.level).collect();
        assert_eq!(levels, [Class::StronglyIdentifiable, Class::StronglyIdentifiable, Class::UpToPermutationAndSign, Class::NotIdentifiable]);
        assert!(coords[2].same_index && coords[2].identity < -0.99);
        let v = verdict(&coords, 3);
        assert!(v.starts_with("coordinates 1–2 unique at the identity across 3 restarts; 3 only up to sign; 4 not reproducible"), "{v}");
    }

    #[test]
    fn ranges_join_consecutive_coordinates() {
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), "1–3, 5, 7–8");
        assert_eq!(ranges(&[4]), "4");
    }
}

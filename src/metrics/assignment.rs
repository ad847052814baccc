//! Exact linear assignment (Hungarian method, shortest augmenting paths with potentials,
//! O(n² m)) on f64 costs, with no integer scaling. Used by the MCC matching and by discrete
//! optimal transport between equal-size samples.

/// Minimum-cost assignment of each row to a distinct column of an n × m cost matrix (n ≤ m,
/// row-major). Returns `col[i]` for each row i.
pub fn min_cost_assignment(cost: &[f64], n: usize, m: usize) -> Vec<usize> {
    assert!(n <= m, "assignment needs rows ≤ columns");
    assert_eq!(cost.len(), n * m);
    assert!(cost.iter().all(|c| c.is_finite()), "assignment costs must be finite");
    // 1-based arrays with a virtual column 0, as in the classical formulation.
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; m + 1];
    let mut row_of = vec![0usize; m + 1]; // row matched to column j (0 = none)
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        row_of[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = row_of[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=m {
                if used[j] {
                    continue;
                }
                let reduced = cost[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                if reduced < minv[j] {
                    minv[j] = reduced;
                    way[j] = j0;
                }
                if minv[j] < delta {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if row_of[j0] == 0 {
                break;
            }
        }
        // Augment along the alternating path back to the virtual column.
        loop {
            let j1 = way[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut col = vec![0; n];
    for j in 1..=m {
        if row_of[j] != 0 {
            col[row_of[j] - 1] = j - 1;
        }
    }
    col
}

/// Maximum-weight assignment (for similarity matrices such as |correlation|).
pub fn max_weight_assignment(weight: &[f64], n: usize, m: usize) -> Vec<usize> {
    let cost: Vec<f64> = weight.iter().map(|w| -w).collect();
    min_cost_assignment(&cost, n, m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn brute_force(cost: &[f64], n: usize) -> f64 {
        fn rec(cost: &[f64], n: usize, i: usize, used: &mut Vec<bool>) -> f64 {
            if i == n {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for j in 0..n {
                if !used[j] {
                    used[j] = true;
                    best = best.min(cost[i * n + j] + rec(cost, n, i + 1, used));
                    used[j] = false;
                }
            }
            best
        }
        rec(cost, n, 0, &mut vec![false; n])
    }

    #[test]
    fn matches_brute_force_on_random_real_costs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for n in 1..=7 {
            for _ in 0..20 {
                let cost: Vec<f64> = (0..n * n).map(|_| rng.random::<f64>() * 10.0 - 3.0).collect();
                let col = min_cost_assignment(&cost, n, n);
                let mut seen = vec![false; n];
                for &c in &col {
                    assert!(!seen[c], "column used twice");
                    seen[c] = true;
                }
                let total: f64 = (0..n).map(|i| cost[i * n + col[i]]).sum();
                assert!((total - brute_force(&cost, n)).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn tiny_differences_are_resolved_without_scaling() {
        // Differences of 1e-12 would vanish under any integer scaling of the costs.
        let cost = [1.0, 1.0 + 1e-12, 1.0 + 1e-12, 1.0];
        assert_eq!(min_cost_assignment(&cost, 2, 2), vec![0, 1]);
        let cost = [1.0 + 1e-12, 1.0, 1.0, 1.0 + 1e-12];
        assert_eq!(min_cost_assignment(&cost, 2, 2), vec![1, 0]);
    }

    #[test]
    fn rectangular_picks_best_columns() {
        let cost = [5.0, 1.0, 9.0, 2.0, 8.0, 0.5];
        assert_eq!(min_cost_assignment(&cost, 2, 3), vec![1, 2]);
    }
}

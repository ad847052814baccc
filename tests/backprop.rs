//! The hand-written backward passes (the training hot path) against burn's autodiff of the
//! tensor implementation, which defines the models: same loss, same gradient, every variant.
use strongid::Matrix;
use strongid::flows::fit::FlowNll;
use strongid::flows::{Flow, FlowConfig, Standardize};
use strongid::transforms::TransformKind;
use strongid::ivae::fit::NegElbo;
use strongid::ivae::{PosteriorKind, Vae, VaeConfig, Variant};
use strongid::nn::{Activation, HostParams};
use strongid::priors::EnvPrior;
use strongid::simulate::standard_normal;
use strongid::tensor::{self, DType};
use strongid::train::{Objective, autodiff_loss_and_grad, stream};

/// max |a − b| / (1 + max |b|) over each parameter, and the loss difference.
fn compare(obj: &impl Objective, params: &HostParams, rows: &[usize], what: &str) {
    let (fast_loss, fast) = obj.loss_and_grad(params, rows, &mut stream(5, 0));
    let (ref_loss, reference) = autodiff_loss_and_grad(obj, params, rows, &mut stream(5, 0));
    assert!((fast_loss - ref_loss).abs() <= 1e-4 * (1.0 + ref_loss.abs()), "{what}: loss {fast_loss} vs autodiff {ref_loss}");
    let value = obj.loss_value(params, rows, &mut stream(5, 0));
    assert!((value - ref_loss).abs() <= 1e-4 * (1.0 + ref_loss.abs()), "{what}: forward-only loss {value} vs {ref_loss}");
    for (k, (a, b)) in fast.iter().zip(&reference).enumerate() {
        let scale = 1.0 + b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale;
        assert!(err < 2e-4, "{what}: parameter {k} gradient differs from autodiff by {err} (relative)");
    }
}

fn vae_config(variant: Variant, activation: Activation, prior_mean: bool, anchors: Vec<EnvPrior>, learn_decoder_var: bool, posterior: PosteriorKind) -> VaeConfig {
    let envs = if variant == Variant::Vae { vec![] } else { vec![0, 3, 7] };
    VaeConfig { variant, obs_dim: 4, latent_dim: 3, envs, hidden: 16, hidden_layers: 2, activation, decoder_var: 0.05, prior_mean, anchors, anchor_check: None, learn_decoder_var, standardize: None, posterior, aux_dim: 0, weighted: None, anchors_learned: false }
}

#[test]
fn ivae_family_gradient_matches_autodiff() {
    let anchor = EnvPrior { env: 3, mean: vec![0.5, -1.0, 2.0], var: vec![2.0, 0.5, 1.5] };
    use PosteriorKind::{Diagonal, Full};
    // (variant, activation, prior means, anchors, learned decoder variance, posterior)
    let cases = [
        (Variant::Vae, Activation::Lrelu, false, vec![], false, Diagonal),
        (Variant::Ivae, Activation::Xtanh, true, vec![], false, Diagonal),
        (Variant::Ivae, Activation::Tanh, false, vec![], false, Diagonal),
        (Variant::IvaeFrozen, Activation::Xtanh, true, vec![anchor.clone()], false, Diagonal),
        (Variant::Vae, Activation::Xtanh, false, vec![], true, Diagonal),
        (Variant::IvaeFrozen, Activation::Lrelu, true, vec![anchor.clone()], true, Diagonal),
        (Variant::Vae, Activation::Xtanh, false, vec![], false, Full),
        (Variant::Ivae, Activation::Lrelu, false, vec![], true, Full),
        (Variant::IvaeFrozen, Activation::Xtanh, true, vec![anchor], false, Full),
    ];
    let n = 37;
    let x = standard_normal(n, 4, &mut stream(1, 1));
    for (variant, act, prior_mean, anchors, learn_var, posterior) in cases {
        let mut vae = Vae::new(vae_config(variant, act, prior_mean, anchors, learn_var, posterior), &mut stream(2, 0));
        if posterior == Full {
            // Below-diagonal Cholesky entries of order 0.3, so their terms are not negligible.
            let last = vae.params.names.iter().position(|n| n.starts_with("decoder")).unwrap() - 1;
            let b = &mut vae.params.values[last];
            let mut bias = tensor::to_matrix(b.clone());
            for c in 6..9 {
                bias.set(0, c, 0.3 * (c as f64 - 7.0) + 0.1);
            }
            *b = tensor::from_matrix(&bias, DType::F32);
        }
        // Random prior tables so the KL term is not trivial.
        for (k, name) in ["prior.mean", "prior.logvar"].iter().enumerate() {
            if let Some(i) = vae.params.names.iter().position(|n| n == name) {
                vae.params.values[i] = tensor::from_matrix(&standard_normal(3, 3, &mut stream(3, k as u64)), DType::F32);
            }
        }
        if let Some(i) = vae.params.names.iter().position(|n| n == "decoder.logvar") {
            // Around log 0.05, one coordinate below the floor (zero gradient there).
            let lv = Matrix::new(1, 4, vec![-3.0, -2.5, -3.4, -20.0]);
            vae.params.values[i] = tensor::from_matrix(&lv, DType::F32);
        }
        let labels: Vec<i64> = (0..n).map(|i| [0, 3, 7][i % 3]).collect();
        let onehot = if variant == Variant::Vae { Matrix::zeros(n, 0) } else { vae.one_hot(&labels, std::path::Path::new("u")).unwrap() };
        check_elbo(&vae, &x, &onehot, &format!("{variant:?} {act:?} prior_mean={prior_mean} learned variance={learn_var} {posterior:?}"));
    }
}

/// A real-valued u: the prior network λ(u) → (means, log-variances) and the encoder's dense u
/// input, for both modulations and posteriors.
#[test]
fn prior_network_gradient_matches_autodiff() {
    let n = 41;
    let x = standard_normal(n, 4, &mut stream(1, 1));
    let u = standard_normal(n, 2, &mut stream(1, 2));
    for (prior_mean, learn_var, posterior) in [(true, false, PosteriorKind::Full), (false, true, PosteriorKind::Diagonal), (false, false, PosteriorKind::Full)] {
        let mut config = vae_config(Variant::Ivae, Activation::Xtanh, prior_mean, vec![], learn_var, posterior);
        config.envs.clear();
        config.aux_dim = 2;
        let vae = Vae::new(config, &mut stream(2, 0));
        assert!(vae.params.names.iter().any(|n| n.starts_with("prior_net")) && !vae.params.names.iter().any(|n| n == "prior.mean"));
        check_elbo(&vae, &x, &u, &format!("prior network, prior_mean={prior_mean} learned variance={learn_var} {posterior:?}"));
    }
}

fn check_elbo(vae: &Vae, x: &Matrix, onehot: &Matrix, what: &str) {
    let n = x.rows;
    {
        let obj = NegElbo::new(vae, x, onehot);
        let rows: Vec<usize> = (0..n).rev().step_by(2).collect();
        compare(&obj, &HostParams::from_tensors(&vae.params.values), &rows, what);
        // Inference: the f32 hand-written encoder against the f64 tensor path.
        let exact = Vae::from_parts(vae.config.clone(), vae.params.cast(DType::F64));
        for seed in [None, Some(9)] {
            let (mut r1, mut r2) = (stream(9, 0), stream(9, 0));
            let (s1, s2) = if seed.is_some() { (Some(&mut r1), Some(&mut r2)) } else { (None, None) };
            let (a, b) = (vae.encode(x, onehot, s1), exact.encode(x, onehot, s2));
            assert!(a.max_abs_diff(&b) < 1e-4, "{what}: encode f32 vs f64 differ by {}", a.max_abs_diff(&b));
        }
    }
}

fn random_flow(triangular: bool, linear: bool, transform: TransformKind, seed: u64) -> Flow {
    let config = FlowConfig { dim: 3, layers: 3, hidden: 12, hidden_layers: 2, transform, triangular, linear };
    let standardize = Standardize { mean: vec![0.3, -0.2, 1.0], sd: vec![1.5, 0.7, 2.0] };
    let mut flow = Flow::new(config, standardize, &mut stream(seed, 0));
    // Non-zero output layers (they start at zero: the identity), masks kept.
    let mut rng = stream(seed, 1);
    for v in flow.params.values.iter_mut() {
        let [r, c] = v.dims();
        let noise = tensor::from_matrix(&standard_normal(r, c, &mut rng), DType::F32).mul_scalar(0.4);
        let mask = v.clone().abs().greater_elem(0.0).float();
        *v = if v.clone().abs().sum().into_scalar::<f32>() == 0.0 { noise } else { v.clone().add(noise.mul(mask)) };
    }
    flow
}

#[test]
fn flow_gradients_match_autodiff_for_both_orderings_and_transforms() {
    let n = 53;
    // Wide data so that many standardised values fall outside the spline's [−B, B] (tails; their
    // gradients pass straight through and never reach a parameter).
    let mut x = standard_normal(n, 3, &mut stream(4, 2));
    x.data.iter_mut().for_each(|v| *v *= 3.0);
    for (triangular, linear) in [(true, false), (false, false), (false, true)] {
        for transform in [TransformKind::Affine, TransformKind::Spline { bins: 5, tail_bound: 1.5 }] {
            let flow = random_flow(triangular, linear, transform, 6);
            let obj = FlowNll { flow: &flow, x: &x };
            let rows: Vec<usize> = (0..n).collect();
            compare(&obj, &HostParams::from_tensors(&flow.params.values), &rows, &format!("triangular={triangular} linear={linear} {transform:?}"));
        }
    }
}

#[test]
fn warm_start_gradient_matches_autodiff() {
    use strongid::ivae::warm::WarmStart;
    for (variant, posterior) in [(Variant::Ivae, PosteriorKind::Diagonal), (Variant::IvaeFrozen, PosteriorKind::Diagonal), (Variant::IvaeFrozen, PosteriorKind::Full)] {
        let anchors = if variant == Variant::IvaeFrozen { vec![EnvPrior { env: 7, mean: vec![0.5, -1.0, 2.0], var: vec![2.0, 0.5, 1.5] }] } else { vec![] };
        let vae = Vae::new(vae_config(variant, Activation::Xtanh, true, anchors, false, posterior), &mut stream(4, 0));
        let n = 29;
        let x = standard_normal(n, 4, &mut stream(5, 1));
        let code = standard_normal(n, 3, &mut stream(5, 2));
        let env: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let obj = WarmStart { vae: &vae, x: &x, env: &env, code: &code, log_v0: vec![-2.0, -3.0, -1.5] };
        let rows: Vec<usize> = (0..n).step_by(2).collect();
        compare(&obj, &HostParams::from_tensors(&vae.params.values), &rows, &format!("warm start {variant:?} {posterior:?}"));
    }
}

/// The iVAE's flow generator (exact likelihood under the environments' Gaussian priors): the
/// hand-written gradient of the flow and of the prior tables against autodiff; anchored rows
/// and, for variance-only priors, the means get exactly no gradient.
#[test]
fn flow_generator_gradient_matches_autodiff() {
    use strongid::ivae::flow_generator::EnvFlowNll;
    let n = 47;
    let mut y = standard_normal(n, 3, &mut stream(8, 2));
    y.data.iter_mut().for_each(|v| *v *= 2.0);
    let env: Vec<usize> = (0..n).map(|i| (i / 2) % 4).collect(); // every environment among the even rows
    for (learn_means, fixed, linear) in [(true, vec![false, true, false, false], true), (false, vec![false; 4], false)] {
        let flow = random_flow(false, linear, TransformKind::Spline { bins: 5, tail_bound: 2.0 }, 9);
        let obj = EnvFlowNll { flow: &flow, y: &y, env: &env, n_envs: 4, fixed: &fixed, learn_means };
        let mut params = flow.params.values.clone();
        params.push(tensor::from_matrix(&standard_normal(4, 3, &mut stream(8, 3)), DType::F32));
        let mut logvar = standard_normal(4, 3, &mut stream(8, 4));
        logvar.data.iter_mut().for_each(|v| *v *= 0.5);
        params.push(tensor::from_matrix(&logvar, DType::F32));
        let host = HostParams::from_tensors(&params);
        let rows: Vec<usize> = (0..n).rev().step_by(2).collect();
        compare(&obj, &host, &rows, &format!("flow generator, learn_means={learn_means}"));
        let (_, g) = obj.loss_and_grad(&host, &rows, &mut stream(5, 0));
        let k = flow.params.values.len();
        for (e, &f) in fixed.iter().enumerate() {
            let row = |t: &Vec<f32>| t[e * 3..(e + 1) * 3].iter().all(|v| *v == 0.0);
            assert_eq!(row(&g[k]), f || !learn_means, "means of environment {e}");
            assert_eq!(row(&g[k + 1]), f, "log-variances of environment {e}");
        }
    }
}

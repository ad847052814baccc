//! The hand-written backward passes (the training hot path) against burn's autodiff of the
//! tensor implementation, which defines the models: same loss, same gradient, every variant.
use strongid::Matrix;
use strongid::ivae::fit::NegElbo;
use strongid::ivae::{Vae, VaeConfig, Variant};
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
    for (k, (a, b)) in fast.iter().zip(&reference).enumerate() {
        let scale = 1.0 + b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale;
        assert!(err < 2e-4, "{what}: parameter {k} gradient differs from autodiff by {err} (relative)");
    }
}

fn vae_config(variant: Variant, activation: Activation, prior_mean: bool, anchors: Vec<EnvPrior>) -> VaeConfig {
    let envs = if variant == Variant::Vae { vec![] } else { vec![0, 3, 7] };
    VaeConfig { variant, obs_dim: 4, latent_dim: 3, envs, hidden: 16, hidden_layers: 2, activation, decoder_var: 0.05, prior_mean, anchors, anchor_check: None }
}

#[test]
fn ivae_family_gradient_matches_autodiff() {
    let anchor = EnvPrior { env: 3, mean: vec![0.5, -1.0, 2.0], var: vec![2.0, 0.5, 1.5] };
    let cases = [
        (Variant::Vae, Activation::Lrelu, false, vec![]),
        (Variant::Ivae, Activation::Xtanh, true, vec![]),
        (Variant::Ivae, Activation::Tanh, false, vec![]),
        (Variant::IvaeFrozen, Activation::Xtanh, true, vec![anchor]),
    ];
    let n = 37;
    let x = standard_normal(n, 4, &mut stream(1, 1));
    for (variant, act, prior_mean, anchors) in cases {
        let mut vae = Vae::new(vae_config(variant, act, prior_mean, anchors), &mut stream(2, 0));
        // Random prior tables so the KL term is not trivial.
        for (k, name) in ["prior.mean", "prior.logvar"].iter().enumerate() {
            if let Some(i) = vae.params.names.iter().position(|n| n == name) {
                vae.params.values[i] = tensor::from_matrix(&standard_normal(3, 3, &mut stream(3, k as u64)), DType::F32);
            }
        }
        let labels: Vec<i64> = (0..n).map(|i| [0, 3, 7][i % 3]).collect();
        let onehot = if variant == Variant::Vae { Matrix::zeros(n, 0) } else { vae.one_hot(&labels, std::path::Path::new("u")).unwrap() };
        let obj = NegElbo { vae: &vae, x: &x, onehot: &onehot };
        let rows: Vec<usize> = (0..n).rev().step_by(2).collect();
        compare(&obj, &HostParams::from_tensors(&vae.params.values), &rows, &format!("{variant:?} {act:?} prior_mean={prior_mean}"));
    }
}

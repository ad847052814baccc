//! `strongid demo`: the main job on built-in data. Simulates TMI data (Thm 5.1 setting), fits
//! the triangular `tmi-flow` and the permuting `flow`, and prints their metrics side by side.
use crate::error::Result;
use crate::flows::FlowConfig;
use crate::metrics;
use crate::train::TrainConfig;
use crate::transforms::TransformKind;

pub fn run(seed: u64) -> Result<()> {
    let (dim, n) = (4, 20_000);
    let (ds, _) = crate::simulate::tmi::simulate(dim, n, seed)?;
    let z = ds.z.as_ref().expect("simulated data has latents");
    println!("TMI data: d = {dim}, n = {n}, seed {seed}; x = G(z), G triangular monotone, z ~ N(0, I)");
    let mut results = Vec::new();
    for (name, triangular) in [("tmi-flow", true), ("flow", false)] {
        let config = FlowConfig { dim, layers: 3, hidden: 64, hidden_layers: 2, transform: TransformKind::Spline { bins: 8, tail_bound: 4.0 }, triangular };
        let train = TrainConfig { epochs: 40, batch: 256, lr: 3e-3, seed, ..TrainConfig::default() };
        let (flow, report) = crate::flows::fit::fit(config, &ds.x, &train, true)?;
        println!("{name:>8}: {} epochs, {:.1} s, validation NLL {:.4}", report.epochs_run, report.seconds, report.best_val_loss);
        results.push((name, metrics::evaluate(z, &flow.encode(&ds.x))?));
    }
    let cols: Vec<(&str, &metrics::Scores)> = results.iter().map(|(n, s)| (*n, s)).collect();
    crate::cli::print_scores(&cols);
    println!("tmi-flow recovers z itself (strong_mcc ≈ 1, small identity_rmse); the permuting flow fits the data as well but its code is a different, mixed one.");
    Ok(())
}

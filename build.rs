// Intentionally empty. It exists so that the `[build-dependencies]` entry in Cargo.toml is built
// for the host: it gives `syn` the features the Python binding's proc-macros (PyO3) enable, so
// `cargo test` and the wheel build (maturin) resolve the same host features and share one build
// of every dependency instead of compiling burn and the rest twice.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}

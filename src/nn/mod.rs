//! Neural-network building blocks on top of `tensor`: named parameter sets, Adam, MLPs and the
//! MADE masked autoregressive conditioner.
mod adam;
pub mod cpu;
mod host;
mod made;
mod mlp;
mod params;

pub use adam::Adam;
pub use host::HostParams;
pub use made::Made;
pub use mlp::{Activation, Mlp};
pub use params::ParamSet;

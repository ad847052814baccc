//! Neural-network building blocks on top of `tensor`: named parameter sets, Adam, MLPs and the
//! MADE masked autoregressive conditioner.
mod adam;
mod made;
mod mlp;
mod params;

pub use adam::Adam;
pub use made::Made;
pub use mlp::{Activation, Mlp};
pub use params::ParamSet;

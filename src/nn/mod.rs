//! Neural-network building blocks on top of `tensor`: named parameter sets, Adam, and the
//! MADE masked autoregressive conditioner.
mod adam;
mod made;
mod params;

pub use adam::Adam;
pub use made::Made;
pub use params::ParamSet;

//! Optimal transport and Knothe–Rosenblatt maps (THEORY §3, paper §5.2).
pub mod empirical;
pub mod gaussian;
pub mod limit;

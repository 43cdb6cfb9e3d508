//! Typed Rust APIs over the external systems a runbook touches. Nothing here knows Rhai.

pub mod envfile;
pub mod phala;

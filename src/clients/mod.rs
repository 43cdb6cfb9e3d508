//! Typed Rust APIs over the external systems a runbook touches. Nothing here knows Rhai.

pub mod phala;

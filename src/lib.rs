//! `runbook`: run operational procedures, written as Rhai scripts, against a Phala Cloud
//! deployment or a built-in simulator of it.
//!
//! Layers, each knowing only those below it:
//! `cli` -> `host` (Rhai engine, effects, journal, redaction, REPL) -> `clients` and `sim`.

pub mod backoff;
pub mod cli;
pub mod clients;
pub mod duration;
pub mod error;
pub mod host;
pub mod secret;
pub mod sim;

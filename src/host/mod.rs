//! The host: runs Rhai runbooks with native functions, effects, run records and redaction.
//! It knows the clients and the simulator; they know nothing of it.

pub mod catalog;
pub mod check;
pub mod connections;
pub mod core_fns;
pub mod diagnostic;
pub mod duration;
pub mod engine;
pub mod event;
pub mod journal;
pub mod modules;
pub mod native;
pub mod output;
pub mod redact;
pub mod repl;
pub mod retry;
pub mod runtime;
pub mod scripts;
pub mod secret_fns;
pub mod session;
pub mod settings;

//! Phala Cloud: a typed client of the API that the official `phala` CLI uses.
//!
//! One concept per file: identifier normalisation ([`ids`]), env encryption ([`envcrypt`]),
//! configuration ([`credentials`]), error mapping ([`errors`]), the
//! client ([`client`]) and waiting for operations ([`wait`]).

pub mod client;
pub mod credentials;
pub mod envcrypt;
pub mod errors;
pub mod ids;
pub mod types;
pub mod wait;

pub use client::{ApiVersion, ClientOptions, PhalaClient, RetryPolicy, decode_log_body};
pub use credentials::{DEFAULT_API_PREFIX, PhalaConfig};
pub use ids::normalize_cvm_id;
pub use types::{
    Baseline, Composition, Container, Cvm, CvmSummary, Deployment, LogLine, Progress, WaitOptions,
};

//! Set-up for the tests that talk to the simulator over loopback.

use std::time::Duration;

use runbook::clients::phala::{ClientOptions, PhalaClient, PhalaConfig, RetryPolicy};
use runbook::secret::Secret;
use runbook::sim::{Fault, Sim, SimHandle, SimOptions};

/// Short delays so an update takes about half a second.
pub fn fast_options() -> SimOptions {
    SimOptions {
        pull_delay: Duration::from_millis(150),
        boot_delay: Duration::from_millis(250),
        ..SimOptions::default()
    }
}

pub async fn start_sim() -> SimHandle {
    Sim::start(fast_options())
        .await
        .expect("the simulator starts")
}

/// Retries quickly so fault tests stay fast; the policy shape is the production one.
pub fn client_options() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
        },
    }
}

pub fn client(sim: &SimHandle) -> PhalaClient {
    let config = PhalaConfig::new(sim.phala_api_prefix(), Secret::new(sim.api_key()));
    PhalaClient::with_options(config, client_options()).expect("client builds")
}

pub fn fault(text: &str) -> Fault {
    text.parse().expect("test fault parses")
}

/// Fails, showing the whole text, unless `text` mentions `needle`.
#[track_caller]
pub fn assert_mentions(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in: {text}");
}

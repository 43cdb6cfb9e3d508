//! Waiting for a CVM to finish an operation.
//!
//! The official CLI's `--wait` returns as soon as it reads `status == "running"`, which right
//! after an update can be the *old* deployment still reporting running. Here an operation must
//! first be observed (the status leaves its previous value, the compose hash changes, or the
//! operation shows up in `progress`), and only then does the target status count.

use std::time::Duration;

use tokio::time::Instant;

use super::client::{PhalaClient, changed_since};
use super::types::{Cvm, Deployment, WaitOptions};
use crate::error::{Error, ErrorKind, Result};

/// Statuses from which a CVM does not reach `running` on its own.
const FAILED: &[&str] = &["error", "failed", "boot_failed"];

impl PhalaClient {
    /// Waits until the update (or start/restart) in `deployment` has been observed and the CVM
    /// is `running` with no operation in progress. `on_poll` sees every CVM state read, so a
    /// caller can show it on a spinner.
    pub async fn wait_ready(
        &self,
        cvm: &str,
        deployment: &Deployment,
        options: WaitOptions,
        on_poll: impl FnMut(&Cvm),
    ) -> Result<Cvm> {
        self.wait_status(cvm, deployment, "running", options, on_poll)
            .await
    }

    /// Like [`PhalaClient::wait_ready`] for any target status, e.g. `stopped` after a stop.
    pub async fn wait_status(
        &self,
        cvm: &str,
        deployment: &Deployment,
        target: &str,
        options: WaitOptions,
        mut on_poll: impl FnMut(&Cvm),
    ) -> Result<Cvm> {
        let started = Instant::now();
        // A timeout too large to add is no timeout.
        let deadline = started
            .checked_add(options.timeout)
            .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 86_400));
        let mut interval = options.initial_interval.max(Duration::from_millis(10));
        let mut observed = false;
        let mut last: Option<Cvm> = None;
        let mut last_error: Option<Error> = None;
        loop {
            match tokio::time::timeout_at(deadline, self.poll_cvm(cvm)).await {
                Ok(Ok(now)) => {
                    on_poll(&now);
                    last_error = None;
                    let ours = deployment.correlation_id.is_some()
                        && now
                            .progress
                            .as_ref()
                            .and_then(|p| p.correlation_id.as_ref())
                            == deployment.correlation_id.as_ref();
                    if ours || changed_since(&now, &deployment.before) {
                        observed = true;
                    }
                    if observed && FAILED.contains(&now.status.as_str()) {
                        let why = now
                            .boot_error
                            .clone()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default();
                        return Err(Error::new(
                            ErrorKind::Remote,
                            "phala",
                            format!("CVM {} failed to become {target}: status {:?}{why}", now.name, now.status),
                        )
                        .with_hint(format!(
                            "look at the container and serial logs (`phala logs --serial --cvm-id {cvm}`), fix the cause (often an image that cannot be pulled), then deploy again"
                        )));
                    }
                    if observed && now.status == target && !now.in_progress() {
                        return Ok(now);
                    }
                    last = Some(now);
                }
                Ok(Err(e)) if e.is_transient() => {
                    tracing::debug!(target: "phala", error = %e.message, "poll failed; still waiting");
                    last_error = Some(e);
                }
                Ok(Err(e)) => return Err(e),
                Err(_elapsed) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(timeout_error(
                    cvm,
                    deployment,
                    target,
                    options.timeout,
                    observed,
                    last.as_ref(),
                    last_error.as_ref(),
                ));
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval * 2).min(options.max_interval.max(Duration::from_millis(10)));
        }
    }
}

fn timeout_error(
    cvm: &str,
    deployment: &Deployment,
    target: &str,
    timeout: Duration,
    observed: bool,
    last: Option<&Cvm>,
    last_error: Option<&Error>,
) -> Error {
    let secs = crate::duration::human(timeout.as_millis() as u64);
    let op = deployment
        .correlation_id
        .as_deref()
        .map(|id| format!(" (correlation id {id})"))
        .unwrap_or_default();
    let seen = match last {
        Some(c) => format!("last status seen: {:?}", c.status),
        None => "no status could be read".to_string(),
    };
    let err_note = last_error
        .map(|e| format!("; last poll error: {}", e.message))
        .unwrap_or_default();
    let (message, hint) = if observed {
        (
            format!("CVM {cvm} was not {target} after {secs}{op}; {seen}{err_note}"),
            format!(
                "containers may be pulling large images or crash-looping: `phala logs <container> --cvm-id {cvm}` shows why; wait longer with a larger timeout"
            ),
        )
    } else {
        (
            format!(
                "CVM {cvm} showed no sign of the operation within {secs}{op}: the status stayed {:?} and the compose hash did not change; {seen}{err_note}",
                deployment.before.status
            ),
            format!(
                "the operation may not have been applied; check `phala cvms get {cvm} --json` before repeating it"
            ),
        )
    };
    Error::new(ErrorKind::Remote, "phala", message).with_hint(hint)
}

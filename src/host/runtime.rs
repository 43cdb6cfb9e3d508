//! The one tokio runtime, and Ctrl-C.
//!
//! Rhai is synchronous and runs on the main thread; native functions drive async clients with
//! [`block_on`]. Every such wait races the interrupt flag, so Ctrl-C aborts an in-flight call
//! instead of waiting for it to finish.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::runtime::Runtime;
use tokio::sync::Notify;

use crate::error::Error;

/// The shared multi-thread runtime. Never call [`block_on`] from inside it.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("runbook-io")
            .build()
            .expect("cannot start the tokio runtime")
    })
}

/// Set by Ctrl-C; cleared by the REPL before each line.
#[derive(Default)]
pub struct Interrupt {
    flag: AtomicBool,
    notify: Notify,
}

pub fn interrupt() -> &'static Interrupt {
    static INTERRUPT: Interrupt = Interrupt::new();
    &INTERRUPT
}

impl Interrupt {
    pub const fn new() -> Interrupt {
        Interrupt {
            flag: AtomicBool::new(false),
            notify: Notify::const_new(),
        }
    }

    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub fn clear(&self) {
        self.flag.store(false, Ordering::SeqCst);
    }

    /// Resolves once Ctrl-C has been pressed.
    pub async fn triggered(&self) {
        loop {
            // Register before checking, so a trigger between the two is not lost.
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// Routes SIGINT to [`interrupt`]. A second Ctrl-C while the first is still pending ends the
/// process at once, so a call that ignores cancellation can never trap the operator.
///
/// The handler is registered before this returns: a line editor saves the current SIGINT
/// handler while it reads and restores it afterwards, so a handler registered later by a
/// task could be lost.
pub fn install_ctrl_c_handler() {
    let _runtime = runtime().enter();
    #[cfg(unix)]
    let signals = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    #[cfg(windows)]
    let signals = tokio::signal::windows::ctrl_c();
    let Ok(mut signals) = signals else {
        tracing::warn!("cannot handle Ctrl-C: it will end the process");
        return;
    };
    runtime().spawn(async move {
        while signals.recv().await.is_some() {
            if interrupt().is_set() {
                eprintln!("\ninterrupted twice: exiting now");
                std::process::exit(130);
            }
            interrupt().trigger();
        }
    });
}

/// A sleep that can be created outside the runtime (tokio's own needs the runtime at
/// creation, not just when polled).
pub async fn sleep(duration: std::time::Duration) {
    tokio::time::sleep(duration).await
}

/// Runs a future to completion on the shared runtime, or stops early with an `interrupted`
/// error when Ctrl-C is pressed.
pub fn block_on<T>(future: impl Future<Output = T>) -> Result<T, Error> {
    block_on_unless(interrupt(), future)
}

fn block_on_unless<T>(stop: &Interrupt, future: impl Future<Output = T>) -> Result<T, Error> {
    if stop.is_set() {
        return Err(Error::interrupted());
    }
    runtime().block_on(async {
        tokio::select! {
            value = future => Ok(value),
            _ = stop.triggered() => Err(Error::interrupted()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn interrupt_aborts_a_pending_future() {
        // A flag of its own: the process-wide one would stop other tests running in parallel.
        static STOP: Interrupt = Interrupt::new();
        let started = Instant::now();
        runtime().spawn(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            STOP.trigger();
        });
        let result = block_on_unless(&STOP, sleep(Duration::from_secs(10)));
        assert_eq!(
            result.unwrap_err().kind,
            crate::error::ErrorKind::Interrupted
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

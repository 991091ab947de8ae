//! A stop request for the NS1 client ([`super::Ns1Options::stop`]: a
//! follower's SIGTERM). Once the flag is set no request and no wait is
//! begun ([`Ns1Error::Deadline`] instead), a wait under way ends within
//! [`SLICE`], and the request in flight finishes.

use super::Ns1Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a wait looks at the flag.
pub const SLICE: Duration = Duration::from_millis(100);

/// The flag, if the client has one.
#[derive(Clone, Default)]
pub struct Stop(Option<Arc<AtomicBool>>);

impl Stop {
    pub fn new(flag: Option<Arc<AtomicBool>>) -> Stop {
        Stop(flag)
    }

    /// Whether a stop was requested.
    pub fn is_set(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// [`Ns1Error::Deadline`] once a stop was requested: no request begins.
    pub fn check(&self, method: &str, path: &str) -> Result<(), Ns1Error> {
        if !self.is_set() {
            return Ok(());
        }
        log::debug!("NS1 {method} {path}: stopping, not sending");
        Err(stopped(method, path))
    }

    /// Sleeps `d` in slices, ending early (with the error) on a stop.
    pub fn sleep(&self, method: &str, path: &str, d: Duration) -> Result<(), Ns1Error> {
        let end = Instant::now() + d;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            self.check(method, path)?;
            std::thread::sleep(left.min(SLICE));
        }
    }
}

fn stopped(method: &str, path: &str) -> Ns1Error {
    Ns1Error::Deadline {
        method: method.to_string(),
        path: path.to_string(),
        pacing: None,
    }
}

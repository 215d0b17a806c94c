//! Time is passed in wherever a rule depends on it, so tests set the clock instead of sleeping.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Japan Standard Time (UTC+9, no daylight saving): the time holders read on sheets and
/// labels.
pub fn japan() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset")
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move: for tests.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

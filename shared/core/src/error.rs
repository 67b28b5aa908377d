//! The retryable/terminal split. Every failure a handler meets is one or the
//! other: retryable failures are retried with backoff and dead-lettered after
//! a limit; terminal failures are not retried — the order is compensated and
//! the reason recorded.

/// A handler failure, typed by what should happen next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Might work later (timeout, store busy, conflict that persisted).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will never work (validation, not found, bad signature key).
    #[error("terminal: {0}")]
    Terminal(String),
}

impl Failure {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Failure::Retryable(_))
    }
}

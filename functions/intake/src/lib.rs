//! Intake: validates, authenticates and stores new orders, and starts the saga.

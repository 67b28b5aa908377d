//! Native adapters for tests and simulation: SQLite via rusqlite, in-memory key-value, and a seeded faulty in-process queue.

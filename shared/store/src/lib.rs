//! Typed persistence for Gasline over the SQL port: orders, stock, riders, outbox, processed events, tokens.

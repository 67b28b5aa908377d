//! Ports: the small traits (SQL, key-value, queue, clock, ids, outbound HTTP, secrets) that handlers are written against.

//! Matching: chooses the station and rider for an order, pre-locks stock and assigns, or compensates.

//! The whole Gasline system in one process on the native adapters: for tests, the simulator and demos.

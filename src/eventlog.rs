//! Event log (stub: being written).

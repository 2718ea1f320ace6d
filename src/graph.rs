//! Dependency graph (stub: being written).

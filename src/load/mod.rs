//! Definition loading (stub: being written).

//! Service output (stub: being written).

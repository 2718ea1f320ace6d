//! Client commands (stub: being written).

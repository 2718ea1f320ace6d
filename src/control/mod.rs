//! The control socket: server side (the client is `cli`).

pub mod server;

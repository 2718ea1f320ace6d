//! The control socket: server side (the client is `cli`).

pub mod http;
pub mod server;

//! The control socket: server side (the client is `cli`).

pub mod http;
pub mod proto;
pub mod server;

/// Write as much of `out` as the non-blocking `stream` takes now, removing
/// what went. Ok with `out` not empty: the socket is full, wait for
/// EPOLLOUT. Err: the peer is gone.
pub fn send_pending(stream: &mut impl std::io::Write, out: &mut Vec<u8>) -> std::io::Result<()> {
    while !out.is_empty() {
        match stream.write(out) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

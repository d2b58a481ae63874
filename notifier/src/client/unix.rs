//! Unix side of the client: socket timeouts do the waiting.

use std::io;
use std::time::Duration;

use interprocess::local_socket::traits::Stream as _;
use interprocess::local_socket::Stream;

use crate::endpoint::Endpoint;

/// Connect to the daemon's socket: a listening socket takes a connection at
/// once (or refuses it when its backlog is full), so there is nothing to bound.
pub fn connect(endpoint: &Endpoint, _limit: Duration) -> io::Result<Stream> {
    Stream::connect(endpoint.name()?)
}

/// Bound how long a send may block.
pub fn limit_send(stream: &Stream, limit: Duration) -> io::Result<()> {
    stream.set_send_timeout(Some(limit))
}

/// Prepare a read that gives up after `left` (`None`: never). Always
/// `Ok(true)`: the read itself times out (as `WouldBlock`).
pub fn await_data(stream: &Stream, left: Option<Duration>) -> io::Result<bool> {
    stream.set_recv_timeout(left)?;
    Ok(true)
}

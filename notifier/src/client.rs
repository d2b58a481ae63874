//! The client side, used by workers (to report an end), by `wait` (to be
//! woken) and by `notifier start|stop|status`. Blocking: clients are
//! short-lived CLI processes that should not pay for an async runtime.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use bgjobs_store::StateRoot;
use interprocess::local_socket::Stream;

use crate::endpoint::Endpoint;

#[cfg(unix)]
#[path = "client/unix.rs"]
mod platform;
#[cfg(windows)]
#[path = "client/windows.rs"]
mod platform;
use crate::protocol::{decode, encode, Reply, Request, MAX_LINE};

/// How long a request waits for its reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection attempt may wait for the daemon to take it (a
/// Windows pipe whose every instance is busy).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a client waits for a daemon it started to answer.
pub const START_PATIENCE: Duration = Duration::from_secs(3);
/// How long [`Client::connect_or_start`] gives a started daemon to answer
/// before it starts another.
const RESTART_AFTER: Duration = Duration::from_millis(300);

/// A connection to the notifier.
pub struct Client {
    stream: Stream,
    buf: Vec<u8>,
}

impl Client {
    /// Connect to the running notifier of `root`; fails if none answers.
    pub fn connect(root: &StateRoot) -> io::Result<Self> {
        let endpoint = Endpoint::for_root(root)?;
        let stream = platform::connect(&endpoint, CONNECT_TIMEOUT)?;
        platform::limit_send(&stream, REPLY_TIMEOUT)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    /// Connect, starting the daemon with `start` first if none answers, then
    /// retrying until it does or [`START_PATIENCE`] passes.
    pub fn connect_or_start(
        root: &StateRoot,
        start: &dyn Fn() -> io::Result<()>,
    ) -> io::Result<Self> {
        if let Ok(client) = Self::connect(root) {
            return Ok(client);
        }
        start()?;
        let deadline = Instant::now() + START_PATIENCE;
        let mut started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match Self::connect(root) {
                Ok(client) => return Ok(client),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {
                    // A daemon that is shutting down still holds the lock
                    // for a moment after its socket is gone, and the one just
                    // started then exits at once: start again until one
                    // answers (only one can ever hold the lock).
                    if started.elapsed() >= RESTART_AFTER {
                        start()?;
                        started = Instant::now();
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    /// Send one message.
    pub fn send(&mut self, message: &Request) -> io::Result<()> {
        (&self.stream).write_all(&encode(message)?)
    }

    /// Send a request and read its reply; an `error` reply becomes an error.
    pub fn request(&mut self, message: &Request) -> io::Result<Reply> {
        self.send(message)?;
        match self.recv(Some(REPLY_TIMEOUT))? {
            Some(Reply::Error { message }) => {
                Err(io::Error::other(format!("notifier refused: {message}")))
            }
            Some(reply) => Ok(reply),
            None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the notifier did not reply",
            )),
        }
    }

    /// The next message, waiting at most `timeout` (`None`: forever).
    /// `Ok(None)` when the time passed; an error when the connection ended.
    pub fn recv(&mut self, timeout: Option<Duration>) -> io::Result<Option<Reply>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return decode(&line[..pos])
                    .map(Some)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if self.buf.len() >= MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply line too long",
                ));
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left.max(Duration::from_millis(1))),
                    _ => return Ok(None),
                },
                None => None,
            };
            if !platform::await_data(&self.stream, left)? {
                return Ok(None);
            }
            let mut chunk = [0u8; 8192];
            match (&self.stream).read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the notifier closed the connection",
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Tell the notifier (starting it if needed) `message` about a job: it
/// ended, turned ready, or waits. Best effort: a notifier that starts later finds the job pending in
/// the store anyway.
pub fn report(
    root: &StateRoot,
    message: &Request,
    start: &dyn Fn() -> io::Result<()>,
) -> io::Result<()> {
    let mut client = Client::connect_or_start(root, start)?;
    client.request(message)?;
    Ok(())
}

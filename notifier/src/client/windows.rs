//! Windows side of the client: named pipes have no I/O timeouts (interprocess
//! refuses to set them), so a bounded wait polls `PeekNamedPipe`.

use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, OwnedHandle};
use std::time::{Duration, Instant};

use interprocess::local_socket::Stream;
use interprocess::os::windows::named_pipe::{local_socket, pipe_mode, DuplexPipeStream};
use interprocess::ConnectWaitMode;
use windows_sys::Win32::Foundation::ERROR_PIPE_BUSY;
use windows_sys::Win32::System::Pipes::PeekNamedPipe;

use crate::endpoint::Endpoint;

/// How often a waiting client looks at its pipe.
const POLL: Duration = Duration::from_millis(2);

/// Connect to the daemon's pipe, retrying while every instance is busy (the
/// daemon is between accepting one client and offering the next instance)
/// for up to `limit`. Each attempt is a single `CreateFile`: `WaitNamedPipe`,
/// what a waiting connect would use, can block for good when the daemon goes
/// away meanwhile (it does under Wine). interprocess's local-socket connect
/// always waits that way, hence the named-pipe call underneath it.
pub fn connect(endpoint: &Endpoint, limit: Duration) -> io::Result<Stream> {
    let path = endpoint.describe();
    let start = Instant::now();
    loop {
        let attempt = DuplexPipeStream::<pipe_mode::Bytes>::connect_by_path_with_wait_mode(
            path.as_str(),
            ConnectWaitMode::Timeout(Duration::ZERO),
        );
        match attempt.and_then(into_local_socket) {
            // A busy pipe is `TimedOut` with a zero wait (or ERROR_PIPE_BUSY).
            Err(e) if busy(&e) && start.elapsed() < limit => std::thread::sleep(POLL),
            result => return result,
        }
    }
}

/// Sends to the notifier are small lines; a pipe send cannot be bounded.
pub fn limit_send(_stream: &Stream, _limit: Duration) -> io::Result<()> {
    Ok(())
}

fn into_local_socket(pipe: DuplexPipeStream<pipe_mode::Bytes>) -> io::Result<Stream> {
    let handle =
        OwnedHandle::try_from(pipe).map_err(|_| io::Error::other("a split pipe stream"))?;
    let stream = local_socket::Stream::try_from(handle)
        .map_err(|_| io::Error::other("the connected handle is not a named pipe"))?;
    Ok(Stream::NamedPipe(stream))
}

fn busy(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut || e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)
}

/// Wait until the pipe has data or is closed (`Ok(true)`: read now), or
/// `left` passes with nothing (`Ok(false)`).
pub fn await_data(stream: &Stream, left: Option<Duration>) -> io::Result<bool> {
    let Stream::NamedPipe(pipe) = stream;
    let handle = pipe.as_handle().as_raw_handle();
    let start = Instant::now();
    loop {
        let mut available = 0u32;
        // SAFETY: a valid pipe handle owned by `stream`; null buffers with
        // size 0 only query how much is available.
        let ok = unsafe {
            PeekNamedPipe(
                handle,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                &mut available,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 || available > 0 {
            return Ok(true); // data, or an error (closed) that the read reports
        }
        if left.is_some_and(|l| start.elapsed() >= l) {
            return Ok(false);
        }
        std::thread::sleep(POLL);
    }
}

//! Windows side of the client: named pipes have no I/O timeouts (interprocess
//! refuses to set them), so a bounded wait polls `PeekNamedPipe`.

use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle};
use std::time::{Duration, Instant};

use interprocess::local_socket::Stream;
use windows_sys::Win32::System::Pipes::PeekNamedPipe;

/// How often a waiting client looks at its pipe.
const POLL: Duration = Duration::from_millis(2);

/// Sends to the notifier are small lines; a pipe send cannot be bounded.
pub fn limit_send(_stream: &Stream, _limit: Duration) -> io::Result<()> {
    Ok(())
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

//! Copying a command's output into its bounded log (and, for an attached job,
//! to the terminal as well).

use std::io::{Read, Write};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bgjobs_store::log::LogWriter;

/// Where a stream's bytes go besides the log.
#[derive(Clone, Copy)]
pub enum Echo {
    None,
    Stdout,
    Stderr,
}

/// Threads copying output; [`Pumps::drain`] waits for them, boundedly.
pub struct Pumps {
    done: Receiver<()>,
    count: usize,
}

impl Pumps {
    pub fn new() -> (Self, mpsc::Sender<()>) {
        let (tx, done) = mpsc::channel();
        (Self { done, count: 0 }, tx)
    }

    /// Start copying `source` into `log` (and to `echo`).
    pub fn start(
        &mut self,
        done: &mpsc::Sender<()>,
        mut source: impl Read + Send + 'static,
        log: Arc<Mutex<LogWriter>>,
        echo: Echo,
    ) {
        let done = done.clone();
        self.count += 1;
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let chunk = &buf[..n];
                match echo {
                    Echo::None => {}
                    Echo::Stdout => {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(chunk).and_then(|()| out.flush());
                    }
                    Echo::Stderr => {
                        let _ = std::io::stderr().write_all(chunk);
                    }
                }
                if let Ok(mut log) = log.lock() {
                    // A log that cannot be written (disk full) must not stop
                    // the pump: the command would block on a full pipe.
                    let _ = log.write(chunk);
                }
            }
            let _ = done.send(());
        });
    }

    /// Wait until every stream reached its end, or `limit` passed (a
    /// grandchild that outlives the command may hold a stream open forever).
    pub fn drain(self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for _ in 0..self.count {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.done.recv_timeout(left).is_err() {
                return;
            }
        }
    }
}

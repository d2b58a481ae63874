//! Copying a command's output into its bounded log (and, for an attached job,
//! to the terminal as well).

use std::io::{Read, Write};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bgjobs_store::log::LogWriter;

use super::ready::{Lines, ReadyWatch};

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

    /// Start copying `source` into `log` (and to `echo`), its lines
    /// matched against `ready` when the job has a ready pattern.
    pub fn start(
        &mut self,
        done: &mpsc::Sender<()>,
        mut source: impl Read + Send + 'static,
        log: Arc<Mutex<LogWriter>>,
        echo: Echo,
        ready: Option<Arc<ReadyWatch>>,
    ) {
        let done = done.clone();
        self.count += 1;
        thread::spawn(move || {
            let mut lines = ready.map(Lines::new);
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
                // After the log: whoever is told it is ready finds the line.
                if let Some(lines) = &mut lines {
                    lines.feed(chunk);
                }
            }
            if let Some(lines) = &mut lines {
                lines.finish();
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

//! Readiness (`run --ready REGEX`): the first line of output that matches
//! makes the job ready, once, whichever stream it came on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use regex::Regex;

/// Longest line matched whole; the rest of a longer line is not looked at.
const MAX_LINE: usize = 64 * 1024;

/// Shared by the output pumps of one job.
pub struct ReadyWatch {
    pattern: Regex,
    fired: AtomicBool,
    on_ready: Box<dyn Fn() + Send + Sync>,
}

impl ReadyWatch {
    /// Watch for `pattern`; `on_ready` runs once, on the first match.
    pub fn new(pattern: Regex, on_ready: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            pattern,
            fired: AtomicBool::new(false),
            on_ready: Box::new(on_ready),
        })
    }

    fn check(&self, line: &[u8]) {
        if self.fired.load(Ordering::Relaxed) {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if self.pattern.is_match(line) && !self.fired.swap(true, Ordering::AcqRel) {
            (self.on_ready)();
        }
    }
}

/// One stream's lines, split as its chunks arrive.
pub struct Lines {
    watch: Arc<ReadyWatch>,
    partial: Vec<u8>,
}

impl Lines {
    /// Lines for `watch`.
    pub fn new(watch: Arc<ReadyWatch>) -> Self {
        Self {
            watch,
            partial: Vec::new(),
        }
    }

    /// Feed the next chunk of the stream.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if self.watch.fired.load(Ordering::Relaxed) {
            return;
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            self.take(&chunk[..end]);
            self.watch.check(&self.partial);
            self.partial.clear();
            chunk = &chunk[end + 1..];
        }
        self.take(chunk);
    }

    /// The stream ended: its last line, if it had no newline.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            self.watch.check(&self.partial);
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn the_first_matching_line_fires_once_across_chunks() {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let watch = ReadyWatch::new(Regex::new("^listening on \\d+$").unwrap(), move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let mut lines = Lines::new(watch.clone());
        lines.feed(b"starting\nlisten");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        lines.feed(b"ing on 80");
        lines.feed(b"80\r\nlistening on 1\n");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let mut other = Lines::new(watch);
        other.feed(b"listening on 2");
        other.finish();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_last_line_without_newline_counts() {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let watch = ReadyWatch::new(Regex::new("ready").unwrap(), move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let mut lines = Lines::new(watch);
        lines.feed(b"almost\nready");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        lines.finish();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}

//! Job logs: bounded per job. Past the bound the oldest output is dropped and
//! the newest kept, with a line at the top saying how much was dropped.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fsio;

/// Appends a job's output to its log, keeping the file under `limit` bytes.
/// The worker is the only writer of a log, so no lock is needed.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    len: u64,
    limit: u64,
    dropped: u64,
}

impl LogWriter {
    /// Open `path` for appending, bounded to `limit` bytes.
    pub fn open(path: &Path, limit: u64) -> Result<Self> {
        // Someone may have removed the logs directory; the job still runs.
        if let Some(dir) = path.parent().filter(|d| !d.is_dir()) {
            fsio::create_private_dir_all(dir).map_err(|source| crate::Error::Io {
                action: "cannot create",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let file = fsio::open_append(path)?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            len,
            limit: limit.max(4096),
            dropped: 0,
        })
    }

    /// Append `buf`, dropping the oldest output if the bound would be passed.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.len + buf.len() as u64 <= self.limit {
            self.file.write_all(buf)?;
            self.len += buf.len() as u64;
            return Ok(());
        }
        self.roll(buf)
    }

    /// Rewrite the log as: a note of what was dropped, then the newest half of
    /// the bound's worth of output (old tail plus `buf`), starting at a line.
    fn roll(&mut self, buf: &[u8]) -> io::Result<()> {
        let keep = (self.limit / 2) as usize;
        let from_buf = buf.len().min(keep);
        let from_file = (keep - from_buf).min(self.len as usize);
        let mut kept = Vec::with_capacity(keep);
        let mut old = File::open(&self.path)?;
        old.seek(SeekFrom::Start(self.len - from_file as u64))?;
        old.take(from_file as u64).read_to_end(&mut kept)?;
        kept.extend_from_slice(&buf[buf.len() - from_buf..]);
        // Start at a line boundary when one is near, so no half line leads.
        let cut = kept
            .iter()
            .take(4096)
            .position(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let body = &kept[cut..];
        self.dropped += self.len + buf.len() as u64 - body.len() as u64;
        let note = format!(
            "[bgjobs: {} bytes of earlier output dropped; this log keeps the newest output, up to {} bytes]\n",
            self.dropped, self.limit
        );
        // The log says what happened to the job; a crash of the machine
        // makes it no worse than a torn tail, so it is not synced.
        let mut staged = fsio::Staged::beside(&self.path).map_err(io::Error::other)?;
        staged
            .write_all(note.as_bytes())
            .map_err(io::Error::other)?;
        staged.write_all(body).map_err(io::Error::other)?;
        // Windows refuses to rename over a file that is open: our handle on
        // the old log goes first (the reader above is already closed),
        // replaced by one on the new content, already at its end.
        self.file = staged.handle().map_err(io::Error::other)?;
        staged
            .commit(fsio::Durability::Volatile)
            .map_err(io::Error::other)?;
        self.len = (note.len() + body.len()) as u64;
        Ok(())
    }
}

/// Where the last `lines` lines of the file at `path` start, as a byte
/// offset (0 when it has no more than that; its length when `lines` is 0):
/// read backwards a block at a time, so a long log costs only its end. A
/// missing file is an empty log.
pub fn last_lines_start(path: &Path, lines: u64) -> io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if lines == 0 {
        return Ok(len);
    }
    // A last line without its newline counts as a line too.
    let mut end = len;
    let mut wanted = lines;
    let mut block = vec![0u8; BLOCK as usize];
    let mut last_byte_seen = false;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        for (i, &b) in chunk.iter().enumerate().rev() {
            let at = start + i as u64;
            if !last_byte_seen {
                last_byte_seen = true;
                if b == b'\n' {
                    continue; // the newline that ends the last line
                }
            }
            if b == b'\n' {
                wanted -= 1;
                if wanted == 0 {
                    return Ok(at + 1);
                }
            }
        }
        end = start;
    }
    Ok(0)
}

/// The last `max_lines` lines of the file at `path`, from at most its last
/// `max_bytes` bytes, as text.
pub fn tail(path: &Path, max_lines: usize, max_bytes: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max_bytes);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    drop(file);
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end_matches('\n');
    let lines: Vec<&str> = text.rsplit('\n').take(max_lines).collect();
    let mut lines: Vec<&str> = lines.into_iter().rev().collect();
    if start > 0 && lines.len() > 1 && lines.len() == text.split('\n').count() {
        lines.remove(0); // the first line is cut off
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_start_counts_lines_from_the_end() {
        let dir = std::env::temp_dir().join(format!("bgjobs-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l.log");
        let at = |text: &str, n| -> String {
            std::fs::write(&path, text).unwrap();
            text[last_lines_start(&path, n).unwrap() as usize..].to_string()
        };
        assert_eq!(at("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(at("a\nb\nc", 2), "b\nc", "a last line without its newline");
        assert_eq!(at("a\nb\n", 5), "a\nb\n");
        assert_eq!(at("a\nb\n", 0), "");
        assert_eq!(at("", 3), "");
        assert_eq!(at("\n\n\n", 2), "\n\n", "empty lines are lines");
        let long: String = (0..100_000).map(|i| format!("{i}\n")).collect();
        assert_eq!(at(&long, 3), "99997\n99998\n99999\n", "across blocks");
        assert_eq!(last_lines_start(&dir.join("none"), 3).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bound_keeps_newest_output() {
        let dir = std::env::temp_dir().join(format!("bgjobs-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("1.log");
        let mut log = LogWriter::open(&path, 8192).unwrap();
        for i in 0..5000 {
            log.write(format!("line {i}\n").as_bytes()).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() <= 8192, "{}", text.len());
        assert!(text.starts_with("[bgjobs: "), "{}", &text[..80]);
        assert!(text.ends_with("line 4999\n"));
        assert!(!text.contains("line 10\n"));
        assert_eq!(tail(&path, 2, 4096), "line 4998\nline 4999");
        let from = last_lines_start(&path, 2).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(&text[from as usize..], "line 4998\nline 4999\n");
        drop(log); // Windows cannot remove an open file
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

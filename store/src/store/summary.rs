//! The summary: the JSON of every settled record, kept in one file
//! (`summary`), so that a listing of every job reads one file and the
//! directory of records, not every record.
//!
//! It is a cache of the records, never a substitute for them:
//! - An entry is used only while its record has the length and the
//!   modification time it was made from. A record changed since (a delivery
//!   written, or damage) is read again, and a damaged one is moved aside and
//!   reported as before.
//! - Only final records unchanged for [`SETTLED`] are entered. Two writes of
//!   a record within one tick of the file system's clock could leave the
//!   same length and time, so a record that may still be in its last tick is
//!   never trusted to its stamp.
//! - It is written under the lock: a listing that finds settled jobs it
//!   lacks appends them (a later entry for a job replaces an earlier one),
//!   and it is written anew only when its dead entries (of records changed
//!   or gone) outnumber half its live ones, when it changed since it was
//!   read (another listing appended to it), or when it cannot be trusted:
//!   a workspace whose jobs keep ending does not rewrite it whole at every
//!   listing.
//! - It is never synced where the system names its boot: one written in an
//!   earlier boot (which a crash of the machine may have torn), or by
//!   another version of bgjobs, is ignored and made anew; one torn is used
//!   up to the tear, then made anew. Where the boot is unknown it is
//!   synced.
//! - Nothing is lost with it: every fact in it is in a record too.
//!
//! Format: a first line `{"v":2,"bgjobs":VERSION,"boot":…}`, then for each entry a line
//! `ID LEN MTIME BYTES SESSION` (its id, its record's stamp, the length of
//! its text, its session as JSON) followed by the text (the job's JSON as a
//! listing's JSON document holds it, [`super::listing::JSON_DEPTH`] deep)
//! and a newline. It is read whole (mapped, on Unix), and a listing's texts
//! point into it.

use std::collections::HashMap;
use std::fs::{DirEntry, Metadata};
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::listing::{nested_json, JSON_DEPTH};
use super::Store;
use crate::boot;
use crate::error::Result;
use crate::fsio;
use crate::job::Job;

/// The summary's file, in the store's directory.
pub(super) const FILE: &str = "summary";

/// How long a final record must have been unchanged before it is entered:
/// longer than any file system's clock tick (FAT's is 2 s).
pub(super) const SETTLED: Duration = Duration::from_secs(5);

const VERSION: u32 = 2;

/// What an entry was made from: the record's length and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    len: u64,
    /// Nanoseconds since the Unix epoch.
    mtime: u64,
}

impl Stamp {
    /// The stamp of a record, from its directory entry's metadata; `None`
    /// where the system gives no modification time.
    pub(super) fn of(meta: &Metadata) -> Option<Self> {
        let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(Self {
            len: meta.len(),
            mtime: u64::try_from(mtime.as_nanos()).ok()?,
        })
    }

    /// Whether a record with this stamp has been unchanged for [`SETTLED`].
    fn settled(self, now: SystemTime) -> bool {
        let settled = now
            .checked_sub(SETTLED)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        settled.is_some_and(|t| u128::from(self.mtime) < t.as_nanos())
    }
}

/// A job's text taken from the summary: a part of the summary as read, so
/// a listing of 10,000 jobs copies none of them.
#[derive(Clone)]
pub struct Text {
    buf: fsio::Shared,
    range: Range<usize>,
}

impl Text {
    fn new(bytes: Vec<u8>) -> Self {
        let range = 0..bytes.len();
        Self {
            buf: Arc::new(bytes),
            range,
        }
    }

    /// The job's JSON, as [`super::Listed::json`] gives it.
    pub fn bytes(&self) -> &[u8] {
        &(*self.buf).as_ref()[self.range.clone()]
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Text({} bytes)", self.range.len())
    }
}

/// One entry: a settled job's session (for filters) and text.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub stamp: Stamp,
    pub session: Option<String>,
    pub text: Text,
}

impl Entry {
    /// An entry for `job`, read from a record with `stamp`, if it may be
    /// entered now.
    pub(super) fn of(job: &Job, stamp: Stamp, now: SystemTime) -> Option<Self> {
        if job.status.is_active() || !stamp.settled(now) {
            return None;
        }
        let text = nested_json(job, JSON_DEPTH).ok()?;
        Some(Self {
            stamp,
            session: job.session_id.clone(),
            text: Text::new(text),
        })
    }
}

#[derive(PartialEq, Serialize, Deserialize)]
struct Head {
    v: u32,
    /// The bgjobs that wrote it: another may print a job otherwise.
    bgjobs: String,
    boot: Option<String>,
}

impl Head {
    /// The head this bgjobs writes in this boot, and trusts.
    fn current() -> Self {
        Self {
            v: VERSION,
            bgjobs: env!("CARGO_PKG_VERSION").to_string(),
            boot: boot::id().map(str::to_string),
        }
    }
}

/// An entry's head line: `ID LEN MTIME BYTES SESSION`, the session as JSON
/// (`null` or a string). Plain numbers, read without a JSON parser: a
/// listing reads 10,000 of them.
struct EntryHead {
    id: u64,
    stamp: Stamp,
    bytes: usize,
    session: Option<String>,
}

impl EntryHead {
    fn write(&self, out: &mut Vec<u8>) {
        let Self {
            id, stamp, bytes, ..
        } = self;
        out.extend_from_slice(format!("{id} {} {} {bytes} ", stamp.len, stamp.mtime).as_bytes());
        // Serialising an `Option<String>` to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &self.session);
        out.push(b'\n');
    }

    fn parse(line: &[u8]) -> Option<Self> {
        let mut fields = line.splitn(5, |&b| b == b' ');
        let mut number =
            || -> Option<u64> { std::str::from_utf8(fields.next()?).ok()?.parse().ok() };
        let (id, len, mtime, bytes) = (number()?, number()?, number()?, number()?);
        let session = match fields.next()? {
            b"null" => None,
            text => Some(serde_json::from_slice(text).ok()?),
        };
        Some(Self {
            id,
            stamp: Stamp { len, mtime },
            bytes: usize::try_from(bytes).ok()?,
            session,
        })
    }
}

/// The summary as read: its live entries by job id, and what the file
/// holds beside them.
#[derive(Debug, Default)]
pub(super) struct Summary {
    pub entries: HashMap<u64, Entry>,
    /// The file's length as read, if it was made in this boot and is
    /// readable to its end: only then is it appended to, and only while it
    /// still has that length (so never after another listing's append, or
    /// a torn one).
    trusted_len: Option<u64>,
    /// Whether there was a file at all.
    present: bool,
    /// How many entries the file holds, counting those a later one for the
    /// same job replaced.
    stored: usize,
}

/// How [`Summary::update`] brings the file up to date.
#[derive(Debug, Clone, Copy)]
pub(super) enum Update {
    /// The new entries added at its end.
    Append,
    /// All written anew.
    Anew,
}

/// A summary being read on a thread of its own.
pub(super) enum Loading {
    Thread(std::thread::JoinHandle<Summary>),
    Done(Summary),
}

impl Loading {
    /// The summary read (none, if its thread failed: then the records are
    /// read instead).
    pub(super) fn join(self) -> Summary {
        match self {
            Loading::Thread(thread) => thread.join().unwrap_or_default(),
            Loading::Done(summary) => summary,
        }
    }
}

impl Summary {
    /// Start reading the store's summary beside the caller (on the caller,
    /// where no thread can be started).
    pub(super) fn load_beside(store: &Store) -> Loading {
        let path = store.dir.join(FILE);
        let spare = path.clone();
        match std::thread::Builder::new().spawn(move || Self::load(&path)) {
            Ok(thread) => Loading::Thread(thread),
            Err(_) => Loading::Done(Self::load(&spare)),
        }
    }

    /// The summary at `path`; empty if there is none that can be trusted.
    fn load(path: &Path) -> Self {
        match fsio::read_shared(path) {
            Ok(bytes) => Self::parse(bytes),
            Err(_) => Self::default(),
        }
    }

    /// Its entries up to the first that cannot be read (a later one for a
    /// job replaces an earlier); none if the head is not this boot's.
    fn parse(shared: fsio::Shared) -> Self {
        let buf: &[u8] = (*shared).as_ref();
        let mut summary = Self {
            present: true,
            ..Self::default()
        };
        let mut at = 0;
        let head = line(buf, &mut at).and_then(|l| serde_json::from_slice::<Head>(l).ok());
        if head != Some(Head::current()) {
            return summary;
        }
        while at < buf.len() {
            let Some((id, entry)) = entry_at(&shared, &mut at) else {
                return summary;
            };
            summary.entries.insert(id, entry);
            summary.stored += 1;
        }
        summary.trusted_len = Some(buf.len() as u64);
        summary
    }

    /// How the file is to be brought up to date with `live`, the entries a
    /// listing found true (`fresh` of them new): the new ones appended, or
    /// all written anew where it cannot be trusted or its dead entries
    /// outnumber half its live ones; `None` if it is up to date.
    pub(super) fn update_needed(&self, live: usize, fresh: usize) -> Option<Update> {
        let dead = self.stored.saturating_sub(live.saturating_sub(fresh));
        if self.trusted_len.is_some() && dead <= live / 2 {
            (fresh > 0).then_some(Update::Append)
        } else {
            (self.present || live > 0).then_some(Update::Anew)
        }
    }

    /// Bring the file up to date as [`Summary::update_needed`] said: all
    /// written anew instead of an append if the file changed since it was
    /// read. Lock held.
    pub(super) fn update(
        &self,
        store: &Store,
        how: Update,
        live: &HashMap<u64, Entry>,
        fresh: &[u64],
    ) -> Result<()> {
        let path = store.dir.join(FILE);
        let unchanged = std::fs::metadata(&path).is_ok_and(|m| Some(m.len()) == self.trusted_len);
        let how = match how {
            Update::Append if !unchanged => Update::Anew,
            how => how,
        };
        let mut out = Vec::new();
        let mut ids: Vec<u64> = match how {
            Update::Append => fresh.to_vec(),
            Update::Anew => {
                // Serialising a plain struct to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, &Head::current());
                out.push(b'\n');
                live.keys().copied().collect()
            }
        };
        ids.sort_unstable();
        for id in ids {
            let entry = &live[&id];
            let text = entry.text.bytes();
            let head = EntryHead {
                id,
                stamp: entry.stamp,
                bytes: text.len(),
                session: entry.session.clone(),
            };
            head.write(&mut out);
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        let durability = match boot::id() {
            Some(_) => fsio::Durability::Volatile,
            None => fsio::Durability::Durable,
        };
        match how {
            // A torn append (a full disk) ends the file early: the next
            // listing reads the whole entries before it, and writes it anew.
            Update::Append => fsio::append(&path, &out, durability),
            Update::Anew => fsio::write_atomic_with(&store.dir, FILE, &out, durability),
        }
    }
}

/// The entry at `*at`, moving `*at` past it.
fn entry_at(shared: &fsio::Shared, at: &mut usize) -> Option<(u64, Entry)> {
    let buf: &[u8] = (**shared).as_ref();
    let head = EntryHead::parse(line(buf, at)?)?;
    let range = *at..at.checked_add(head.bytes)?;
    if buf.get(range.end) != Some(&b'\n') {
        return None;
    }
    *at = range.end + 1;
    let entry = Entry {
        stamp: head.stamp,
        session: head.session,
        text: Text {
            buf: shared.clone(),
            range,
        },
    };
    Some((head.id, entry))
}

/// The line at `*at` (without its newline), moving `*at` past it.
fn line<'a>(buf: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*at..)?;
    let end = memchr::memchr(b'\n', rest)?;
    *at += end + 1;
    Some(&rest[..end])
}

/// Each record's stamp. Reading one costs a system call for each record,
/// most of a listing's time at 10,000 jobs, so a long listing reads them on
/// up to four threads.
pub(super) fn stamps(records: Vec<(u64, DirEntry)>) -> Vec<(u64, Option<Stamp>)> {
    let stamp = |(id, entry): &(u64, DirEntry)| {
        let meta = fsio::entry_metadata(entry).ok();
        (*id, meta.as_ref().and_then(Stamp::of))
    };
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    if threads == 1 || records.len() < 2048 {
        return records.iter().map(stamp).collect();
    }
    let chunk = records.len().div_ceil(threads.min(4));
    std::thread::scope(|scope| {
        let mut chunks = records.chunks(chunk);
        let first = chunks.next().unwrap_or_default();
        let others: Vec<_> = chunks
            .map(|c| {
                (
                    c,
                    std::thread::Builder::new()
                        .spawn_scoped(scope, move || c.iter().map(stamp).collect::<Vec<_>>()),
                )
            })
            .collect();
        let mut all: Vec<_> = first.iter().map(stamp).collect();
        for (c, thread) in others {
            // A thread that could not start (or failed): its share here.
            match thread.map(|t| t.join()) {
                Ok(Ok(part)) => all.extend(part),
                _ => all.extend(c.iter().map(stamp)),
            }
        }
        all
    })
}

//! Property tests of the store's records, through the public API only.
//!
//! - Whatever bytes sit in a job record file, reading it (`Store::get`,
//!   `Store::list`) either parses it or reports it corrupt and moves it aside
//!   to `<id>.json.corrupt-<millis>` with its bytes intact: never a panic, and
//!   never "no such job".
//! - Every `Job` value round-trips through serde_json, as records are written.
//! - `time::parse_duration` reads bare seconds; it should never panic,
//!   whatever the text.
//!
//! Two findings of these tests, now fixed, stay here as regression tests: a
//! huge bare number panicked `parse_duration`, and an active record whose
//! `id` differs from its file name read as absent.

#![allow(clippy::unwrap_used)] // test code: a panic is the test failing

mod strategy;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bgjobs_store::{Config, Created, Error, Job, ListFilter, NewJob, StateRoot, Store};
use proptest::collection::vec;
use proptest::prelude::*;

/// A store in a fresh directory under the system temp dir, removed on drop.
struct Scratch {
    dir: PathBuf,
    store: Store,
}

impl Scratch {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bgjobs-props-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let workspace = dir.join("workspace");
        std::fs::create_dir_all(&workspace).unwrap();
        let root = StateRoot::at(dir.join("state")).unwrap();
        let store = Store::open(&root, workspace, Config::default()).unwrap();
        Self { dir, store }
    }

    /// Record a new job and return its id and record path.
    fn new_job(&self) -> (u64, PathBuf) {
        let new = NewJob {
            command: vec!["true".into()],
            cwd: self.dir.to_string_lossy().into_owned(),
            ..NewJob::default()
        };
        let Created::New(job) = self.store.create(new).unwrap() else {
            panic!("a job without a key is always new");
        };
        let path = self
            .store
            .dir()
            .join("jobs")
            .join(format!("{}.json", job.id));
        assert!(path.is_file(), "{}", path.display());
        (job.id, path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What to write over a job's record.
#[derive(Debug, Clone)]
enum Content {
    /// Any bytes at all.
    Bytes(Vec<u8>),
    /// A valid record cut short (a torn write).
    Truncated(Job, usize),
    /// A valid record with one byte changed.
    Flipped(Job, usize, u8),
    /// A valid record (given the id of the file it is written to).
    Valid(Job),
}

impl Content {
    fn bytes(&self, id: u64) -> Vec<u8> {
        let record = |job: &Job| {
            let mut job = job.clone();
            job.id = id;
            serde_json::to_vec_pretty(&job).unwrap()
        };
        match self {
            Content::Bytes(bytes) => bytes.clone(),
            Content::Truncated(job, at) => {
                let bytes = record(job);
                bytes[..at % bytes.len()].to_vec()
            }
            Content::Flipped(job, at, byte) => {
                let mut bytes = record(job);
                let at = at % bytes.len();
                bytes[at] = *byte;
                bytes
            }
            Content::Valid(job) => record(job),
        }
    }
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..256).prop_map(Content::Bytes),
        1 => "[{}\\[\\]\":,0-9a-z \n]{0,64}".prop_map(|s| Content::Bytes(s.into_bytes())),
        2 => (strategy::job(), any::<usize>()).prop_map(|(j, at)| Content::Truncated(j, at)),
        2 => (strategy::job(), any::<usize>(), any::<u8>())
            .prop_map(|(j, at, b)| Content::Flipped(j, at, b)),
        2 => strategy::job().prop_map(Content::Valid),
    ]
}

/// The files `<name>.corrupt-*` beside `path`.
fn moved_aside(path: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}.corrupt-", path.file_name().unwrap().to_string_lossy());
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes in `jobs/<id>.json` (with `id` in the index's active list)
    /// are read as a job or reported corrupt and moved aside intact — by
    /// `get` or by `list`, whichever reads first.
    #[test]
    fn any_record_is_parsed_or_moved_aside(content in content(), list_first in any::<bool>()) {
        let scratch = Scratch::new("record");
        let (id, path) = scratch.new_job();
        prop_assert!(scratch.store.active_ids().unwrap().contains(&id));
        let bytes = content.bytes(id);
        std::fs::write(&path, &bytes).unwrap();
        // A flipped byte may make another valid record (`"id": 1` to
        // `"id":11`): one under another job's name is corrupt too.
        let parses = serde_json::from_slice::<Job>(&bytes).is_ok_and(|job| job.id == id);

        let all = ListFilter { all: true, session: None };
        let listing = if list_first { Some(scratch.store.list(&all).unwrap()) } else { None };
        let got = scratch.store.get(id);
        let listing = listing.unwrap_or_else(|| scratch.store.list(&all).unwrap());

        let path_text = path.to_string_lossy().into_owned();
        let warned = listing.warnings.iter().any(|w| w.path.starts_with(&path_text));
        if parses {
            let job = got.unwrap();
            prop_assert_eq!(job.id, id);
            prop_assert!(path.is_file());
            prop_assert!(moved_aside(&path).is_empty());
            prop_assert!(listing.jobs.iter().any(|j| j.id() == id), "{:?}", listing);
            prop_assert!(!warned, "{:?}", listing.warnings);
        } else {
            match got {
                Err(Error::Corrupt { path: p, moved_to, .. }) => {
                    prop_assert_eq!(&p, &path);
                    prop_assert_eq!(std::fs::read(&moved_to).unwrap(), bytes);
                }
                other => prop_assert!(false, "expected Corrupt, got {:?}", other),
            }
            prop_assert!(!path.exists(), "the corrupt record was left in place");
            prop_assert_eq!(moved_aside(&path).len(), 1);
            prop_assert!(!listing.jobs.iter().any(|j| j.id() == id), "{:?}", listing.jobs);
            prop_assert!(warned, "no warning names {}: {:?}", path_text, listing.warnings);
        }
    }

    /// Job values survive serialisation, pretty (as records are written) or
    /// compact (as `--json` and the wire print them).
    #[test]
    fn jobs_round_trip(job in strategy::job()) {
        let pretty = serde_json::to_vec_pretty(&job).unwrap();
        prop_assert_eq!(&serde_json::from_slice::<Job>(&pretty).unwrap(), &job);
        let compact = serde_json::to_string(&job).unwrap();
        prop_assert_eq!(&serde_json::from_str::<Job>(&compact).unwrap(), &job);
    }

    /// Durations are parsed or refused, never a panic: any text, and text
    /// made of what numbers and durations are written with.
    ///
    /// Regression: a bare number too large for a `Duration` ("1e20",
    /// "18446744073709551616") panicked instead of being refused.
    #[test]
    fn parse_duration_never_panics(
        text in prop_oneof![
            any::<String>(),
            "[0-9eE.+ -]{0,24}",
            "[0-9.]{0,24}[a-z ]{0,8}",
            "[0-9]{1,30}(\\.[0-9]{0,4})?([eE][+-]?[0-9]{1,3})?",
        ],
    ) {
        let _ = bgjobs_store::time::parse_duration(&text);
    }

    /// Bare numbers of seconds that fit a `Duration` parse to that many
    /// seconds; negative ones are refused.
    #[test]
    fn parse_duration_reads_seconds(millis in 0u64..=1 << 50, negative in any::<bool>()) {
        let text = format!("{}{}.{:03}", if negative { "-" } else { "" }, millis / 1000, millis % 1000);
        let parsed = bgjobs_store::time::parse_duration(&text);
        if negative && millis > 0 {
            prop_assert!(parsed.is_err(), "{text:?}: {parsed:?}");
        } else {
            let got = parsed.unwrap().as_secs_f64();
            let want = millis as f64 / 1000.0;
            prop_assert!((got - want).abs() <= want * 1e-9 + 1e-6, "{text:?}: {got} != {want}");
        }
    }
}

/// Regression: a well-formed record whose `id` is not the one its file name
/// says was treated as absent; it is reported as corrupt and kept aside.
#[test]
fn record_with_another_id_is_not_dropped() {
    let scratch = Scratch::new("other-id");
    let (id, path) = scratch.new_job();
    let mut job = scratch.store.get(id).unwrap();
    job.id = id + 100;
    job.worker = Some(bgjobs_store::ProcessIdentity {
        pid: u32::MAX - 1,
        start: 1,
    });
    std::fs::write(&path, serde_json::to_vec(&job).unwrap()).unwrap();
    let got = scratch.store.get(id);
    assert!(!matches!(got, Err(Error::UnknownJob(_))), "{got:?}");
    let listing = scratch
        .store
        .list(&ListFilter {
            all: true,
            session: None,
        })
        .unwrap();
    let path_text = path.to_string_lossy();
    assert!(
        listing.jobs.iter().any(|j| j.id() == id)
            || listing
                .warnings
                .iter()
                .any(|w| w.path.starts_with(&*path_text)),
        "record {path_text} neither listed nor reported: {listing:?}"
    );
}

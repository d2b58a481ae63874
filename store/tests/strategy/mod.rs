//! Proptest strategies for the record types, shared by the store's and the
//! notifier's property tests (the notifier includes this file by path).
//!
//! Timestamps are generated at millisecond precision between 1970 and 9999:
//! records store RFC 3339 with milliseconds, so that is the range and
//! precision that can round-trip.

#![allow(dead_code)]

use std::time::{Duration, UNIX_EPOCH};

use bgjobs_store::time::Timestamp;
use bgjobs_store::{CommandLine, Deliveries, Job, ProcessIdentity, QueueName, Status};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Last millisecond of 9999-12-31, the end of RFC 3339.
const MAX_MILLIS: u64 = 253_402_300_799_999;

/// Any text: every Unicode scalar value, control characters and quotes
/// included, short.
pub fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

/// A timestamp as records hold it.
pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0..=MAX_MILLIS).prop_map(|ms| Timestamp(UNIX_EPOCH + Duration::from_millis(ms)))
}

/// A process identity (almost surely not a live process).
pub fn identity() -> impl Strategy<Value = ProcessIdentity> {
    (any::<u32>(), any::<u64>()).prop_map(|(pid, start)| ProcessIdentity { pid, start })
}

/// Any status.
pub fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Queued),
        Just(Status::Running),
        Just(Status::Succeeded),
        Just(Status::Failed),
        Just(Status::Cancelled),
        Just(Status::Lost),
        Just(Status::TimedOut),
        Just(Status::Skipped),
    ]
}

/// Any deliveries.
pub fn deliveries() -> impl Strategy<Value = Deliveries> {
    (
        option::of(timestamp()),
        option::of(timestamp()),
        option::of(timestamp()),
        option::of(timestamp()),
        option::of(timestamp()),
    )
        .prop_map(
            |(notified_at, desktop_at, told_at, ready_notified_at, ready_told_at)| Deliveries {
                notified_at,
                desktop_at,
                told_at,
                ready_notified_at,
                ready_told_at,
            },
        )
}

/// Any job record, field by field (not necessarily a consistent one: a
/// `queued` job with an exit code is still a record that must round-trip).
pub fn job() -> impl Strategy<Value = Job> {
    let who = (
        any::<u32>(),
        any::<u64>(),
        text(),
        vec(text(), 1..4).prop_map(|w| CommandLine::new(w).expect("at least one word")),
        text(),
        any::<bool>(),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        status(),
    )
        .boxed();
    let how = (
        option::of(any::<i32>()),
        option::of(any::<i32>()),
        option::of(text()),
        timestamp(),
        option::of(timestamp()),
        option::of(timestamp()),
        option::of(any::<u32>()),
        text(),
        text(),
    )
        .boxed();
    let extra = (
        option::of(any::<u64>()),
        option::of(identity()),
        option::of(identity()),
        option::of(text()),
        deliveries(),
        option::of(identity()),
    )
        .boxed();
    let more = (
        proptest::collection::btree_map(text(), text(), 0..3),
        option::of(any::<u64>()),
    )
        .boxed();
    let control = (
        queue(),
        vec(any::<u64>(), 0..3),
        any::<bool>(),
        option::of(text()),
        option::of(timestamp()),
    )
        .boxed();
    (who, how, extra, more, control).prop_map(
        |(
            (v, id, title, command, cwd, background, session_id, agent_id, key, status),
            (
                exit_code,
                signal,
                reason,
                created_at,
                started_at,
                finished_at,
                pid,
                log_path,
                output_tail,
            ),
            (timeout_ms, worker, process, cancel_requested, deliveries, follower),
            (env, restarted_from),
            (queue, after, waiting, ready_pattern, ready_at),
        )| Job {
            v,
            id,
            title,
            command,
            cwd,
            background,
            session_id,
            agent_id,
            key,
            status,
            exit_code,
            signal,
            reason,
            created_at,
            started_at,
            finished_at,
            pid,
            log_path,
            output_tail,
            timeout_ms,
            worker,
            process,
            cancel_requested,
            deliveries,
            follower,
            env,
            restarted_from,
            queue,
            after,
            waiting,
            ready_pattern,
            ready_at,
        },
    )
}

/// Any valid queue name.
pub fn queue() -> impl Strategy<Value = QueueName> {
    "[A-Za-z0-9._-]{1,64}".prop_map(|name| QueueName::new(&name).expect("a valid name"))
}

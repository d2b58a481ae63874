//! Record files as the store reads them (`serde_json::from_slice` of a job,
//! session or broker record — the store's `record::read` is exactly that, and
//! the property test `store/tests/record_props.rs` covers the move-aside
//! around it through the public API). Never a panic; and a record that is
//! accepted can be written back (the store rewrites records it reads) and
//! reads back as the same thing; and an accepted record keeps the invariants
//! its types carry (a job's and a broker's shutdown command are never
//! empty), so nothing that reads it can be handed an impossible value.
#![no_main]

use bgjobs_store::broker::Broker;
use bgjobs_store::session::Session;
use bgjobs_store::Job;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn check<T: Serialize + DeserializeOwned + std::fmt::Debug>(data: &[u8]) {
    let Ok(first) = serde_json::from_slice::<T>(data) else {
        return;
    };
    // Written the way `record::write` writes it.
    let written = serde_json::to_vec_pretty(&first)
        .unwrap_or_else(|e| panic!("accepted record cannot be written back: {e}: {first:?}"));
    let second: T = serde_json::from_slice(&written).unwrap_or_else(|e| {
        panic!(
            "written record does not read back: {e}: {}",
            String::from_utf8_lossy(&written)
        )
    });
    // Timestamps are stored at millisecond precision, so compare the second
    // writing with the first rather than the values.
    let again = serde_json::to_vec_pretty(&second).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&again),
        "record changes each time it is rewritten"
    );
}

fuzz_target!(|data: &[u8]| {
    check::<Job>(data);
    check::<Session>(data);
    check::<Broker>(data);
    if let Ok(job) = serde_json::from_slice::<Job>(data) {
        assert!(!job.command.is_empty(), "a job with no command: {job:?}");
        let _ = job.command.program();
    }
    if let Ok(broker) = serde_json::from_slice::<Broker>(data) {
        if let Some(cmd) = &broker.shutdown_cmd {
            assert!(!cmd.is_empty(), "a broker with an empty shutdown command");
        }
    }
});

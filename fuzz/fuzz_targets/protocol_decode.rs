//! `bgjobs_notifier::protocol::decode` on any line, as a request (what the
//! daemon reads from any peer) and as a reply (what a client reads): never a
//! panic; a line of `MAX_LINE` bytes or more is refused; whatever is accepted
//! encodes to one line that decodes again and encodes to the same line.
#![no_main]

use bgjobs_notifier::protocol::{decode, encode, Reply, Request, MAX_LINE};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn check<T: Serialize + DeserializeOwned>(line: &[u8]) {
    let Ok(message) = decode::<T>(line) else {
        return;
    };
    assert!(
        line.len() < MAX_LINE,
        "accepted a line of {} bytes",
        line.len()
    );
    let encoded = encode(&message).expect("a decoded message serialises");
    assert_eq!(encoded.last(), Some(&b'\n'));
    let body = &encoded[..encoded.len() - 1];
    assert!(!body.contains(&b'\n'), "encoded message spans lines");
    // Defaults filled in (`"pid":null`...) can make the re-encoding longer
    // than a line that was just under the limit; only check the rest.
    if body.len() < MAX_LINE {
        let again = decode::<T>(body).unwrap_or_else(|e| {
            panic!(
                "re-encoded message refused: {e}: {:?}",
                String::from_utf8_lossy(body)
            )
        });
        assert_eq!(
            String::from_utf8_lossy(&encode(&again).expect("serialises")),
            String::from_utf8_lossy(&encoded),
            "message changes each time it is re-encoded"
        );
    }
}

fuzz_target!(|line: &[u8]| {
    check::<Request>(line);
    check::<Reply>(line);
});

//! `bgjobs::hook_event::parse` on any stdin a hook could be given: never a
//! panic; whatever is accepted has a session id that is safe as a file name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(event) = bgjobs::hook_event::parse(bytes) {
        assert!(bgjobs_store::session::check_id(&event.session_id).is_ok());
        assert!(!event.session_id.contains('/') && !event.session_id.starts_with('.'));
    }
});

//! Windows: a named pipe whose security descriptor admits only its owner (the
//! current user) and which rejects remote clients (interprocess sets
//! `PIPE_REJECT_REMOTE_CLIENTS` unless asked otherwise).

use std::io;

use bgjobs_store::StateRoot;
use interprocess::local_socket::tokio::Stream as TokioStream;
use interprocess::local_socket::{GenericNamespaced, ListenerOptions, Name, ToNsName};
use interprocess::os::windows::local_socket::ListenerOptionsExt;
use interprocess::os::windows::security_descriptor::SecurityDescriptor;

/// Protected DACL: full access for the object's owner and for SYSTEM only.
const OWNER_ONLY_SDDL: &str = "D:P(A;;GA;;;OW)(A;;GA;;;SY)";

/// The notifier's named pipe.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pipe: String,
}

impl Endpoint {
    /// The pipe for `root`: `\\.\pipe\bgjobs-<hash of root>`.
    pub fn for_root(root: &StateRoot) -> io::Result<Self> {
        Ok(Self {
            pipe: format!("bgjobs-{}", super::root_tag(root)),
        })
    }

    /// For messages: the pipe path.
    pub fn describe(&self) -> String {
        format!(r"\\.\pipe\{}", self.pipe)
    }

    /// The name clients connect to.
    pub fn name(&self) -> io::Result<Name<'_>> {
        self.pipe.as_str().to_ns_name::<GenericNamespaced>()
    }

    /// Listener options for the daemon: owner-only security descriptor.
    pub fn listener_options(&self) -> io::Result<ListenerOptions<'_>> {
        let sddl: Vec<u16> = OWNER_ONLY_SDDL.encode_utf16().chain(Some(0)).collect();
        let sddl = widestring::U16CStr::from_slice(&sddl).map_err(io::Error::other)?;
        let sd = SecurityDescriptor::deserialize(sddl)?;
        Ok(ListenerOptions::new()
            .name(self.name()?)
            .security_descriptor(sd))
    }

    /// Pipes vanish with their last handle.
    pub fn cleanup(&self) {}
}

/// The pipe's security descriptor already admits only the current user.
pub fn peer_allowed(_stream: &TokioStream) -> bool {
    true
}

/// Pipe instances are not bounded by a descriptor limit on Windows.
pub fn raise_fd_limit() {}

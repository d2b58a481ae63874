//! Windows: a named pipe whose security descriptor admits only the current
//! user (and SYSTEM) and which rejects remote clients (interprocess sets
//! `PIPE_REJECT_REMOTE_CLIENTS` unless asked otherwise).

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr::null_mut;

use bgjobs_store::StateRoot;
use interprocess::local_socket::tokio::Stream as TokioStream;
use interprocess::local_socket::{GenericNamespaced, ListenerOptions, Name, ToNsName};
use interprocess::os::windows::local_socket::ListenerOptionsExt;
use interprocess::os::windows::security_descriptor::SecurityDescriptor;
use widestring::U16CStr;
use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
use windows_sys::Win32::Security::{GetTokenInformation, TokenUser, TOKEN_QUERY, TOKEN_USER};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

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
        let sddl: Vec<u16> = owner_only_sddl()?.encode_utf16().chain(Some(0)).collect();
        let sddl = U16CStr::from_slice(&sddl).map_err(io::Error::other)?;
        let sd = SecurityDescriptor::deserialize(sddl)?;
        Ok(ListenerOptions::new()
            .name(self.name()?)
            .security_descriptor(sd))
    }

    /// Pipes vanish with their last handle.
    pub fn cleanup(&self) {}
}

/// A protected DACL granting full access to the current user and to SYSTEM
/// only. The user is named by its SID rather than as the object's owner
/// (`OW`): an elevated process's objects are owned by Administrators, which
/// would admit every elevated administrator and shut out the same user's
/// unelevated hooks.
fn owner_only_sddl() -> io::Result<String> {
    let user = current_user_sid()?;
    Ok(format!("D:P(A;;GA;;;{user})(A;;GA;;;SY)"))
}

/// The SID of the user this process runs as, from its token ("S-1-5-21-…").
fn current_user_sid() -> io::Result<String> {
    let mut raw = null_mut();
    // SAFETY: the pseudo-handle of this process; `raw` receives a new token
    // handle, owned below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut raw) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a handle just opened for us, closed once by the guard.
    let token = unsafe { OwnedHandle::from_raw_handle(raw) };

    // TOKEN_USER and the SID it points to, in one buffer whose size the
    // first call reports; u64 units keep the struct aligned.
    let mut len = 0u32;
    // SAFETY: a size query with no buffer; it fails with the size needed.
    unsafe { GetTokenInformation(token.as_raw_handle(), TokenUser, null_mut(), 0, &mut len) };
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    // SAFETY: `buf` holds at least `len` bytes, suitably aligned.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            buf.as_mut_ptr().cast(),
            len,
            &mut len,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER.
    let user = unsafe { &*buf.as_ptr().cast::<TOKEN_USER>() };
    let mut text = null_mut();
    // SAFETY: a valid SID inside `buf`; `text` receives a LocalAlloc'd string.
    if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a NUL-terminated string from the call above.
    let sid = unsafe { U16CStr::from_ptr_str(text) }.to_string_lossy();
    // SAFETY: LocalAlloc'd by ConvertSidToStringSidW, freed once, not used after.
    unsafe { LocalFree(text.cast()) };
    Ok(sid)
}

/// The pipe's security descriptor already admits only the current user.
pub fn peer_allowed(_stream: &TokioStream) -> bool {
    true
}

/// Pipe instances are not bounded by a descriptor limit on Windows.
pub fn raise_fd_limit() {}

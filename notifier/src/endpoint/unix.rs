//! Unix: a socket file, mode 0600, in an owner-only directory; peers with
//! another effective uid are refused. The path is kept under the `sun_path`
//! limit (104 bytes on macOS, 108 on Linux) even for a long state root.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bgjobs_store::fsio::create_private_dir_all;
use bgjobs_store::StateRoot;
use interprocess::local_socket::tokio::Stream as TokioStream;
use interprocess::local_socket::traits::StreamCommon as _;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, Name, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

/// Longest socket path used, with room to spare under every platform's limit.
const MAX_PATH: usize = 100;

/// The notifier's socket.
#[derive(Debug, Clone)]
pub struct Endpoint {
    path: PathBuf,
}

impl Endpoint {
    /// The socket for `root`: `<root>/notifier/sock` when short enough, else a
    /// per-user directory under `XDG_RUNTIME_DIR` or `/tmp`.
    pub fn for_root(root: &StateRoot) -> io::Result<Self> {
        let preferred = super::notifier_dir(root).join("sock");
        if preferred.as_os_str().len() <= MAX_PATH {
            return Ok(Self { path: preferred });
        }
        let file = format!("bgjobs-{}.sock", super::root_tag(root));
        if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
            let path = runtime.join(&file);
            if runtime.is_absolute() && path.as_os_str().len() <= MAX_PATH {
                return Ok(Self { path });
            }
        }
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        let dir = PathBuf::from(format!("/tmp/bgjobs-{uid}"));
        Ok(Self {
            path: dir.join(file),
        })
    }

    /// For messages: the socket path.
    pub fn describe(&self) -> String {
        self.path.display().to_string()
    }

    /// The name clients connect to.
    pub fn name(&self) -> io::Result<Name<'_>> {
        self.path.as_path().to_fs_name::<GenericFilePath>()
    }

    /// Listener options for the daemon, which holds the notifier lock: any
    /// socket file left at the path belongs to a dead daemon and is removed.
    pub fn listener_options(&self) -> io::Result<ListenerOptions<'_>> {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        create_private_dir_all(dir)?;
        check_private_dir(dir)?;
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Ok(ListenerOptions::new().name(self.name()?).mode(0o600))
    }

    /// Remove the socket file when the daemon exits.
    pub fn cleanup(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Refuse a socket directory that another user could reach into or own
/// (matters for the shared `/tmp` fallback).
fn check_private_dir(dir: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != uid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a directory owned by uid {uid}", dir.display()),
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Whether the peer runs as our effective uid.
pub fn peer_allowed(stream: &TokioStream) -> bool {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    stream.peer_creds().ok().and_then(|c| c.euid()) == Some(uid)
}

/// Raise the soft limit on open files to the hard limit: every client is a
/// descriptor, and a burst of them must not make the daemon refuse the rest.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, owned struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

//! Windows: the worker starts detached (no console, its own process group)
//! and breaks away from the caller's Job Object only where that job allows
//! breakaway; asking where it is not allowed fails with "access denied".

use std::os::windows::process::CommandExt;
use std::process::{Child, Command, ExitStatus};

use windows_sys::Win32::System::JobObjects::{
    IsProcessInJob, JobObjectExtendedLimitInformation, QueryInformationJobObject,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_BREAKAWAY_OK,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, CREATE_BREAKAWAY_FROM_JOB, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS,
};

/// Whether this process is in a Job Object that permits breakaway.
fn breakaway_allowed() -> bool {
    // SAFETY: plain queries with valid out-pointers; a null job handle means
    // the job of the calling process.
    unsafe {
        let mut in_job = 0;
        if IsProcessInJob(GetCurrentProcess(), std::ptr::null_mut(), &mut in_job) == 0
            || in_job == 0
        {
            return false;
        }
        let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
        let ok = QueryInformationJobObject(
            std::ptr::null_mut(),
            JobObjectExtendedLimitInformation,
            (&mut info as *mut JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            std::ptr::null_mut(),
        );
        ok != 0 && info.BasicLimitInformation.LimitFlags & JOB_OBJECT_LIMIT_BREAKAWAY_OK != 0
    }
}

/// Spawn `cmd` detached from the console and, where allowed, from the job.
pub fn spawn_detached(cmd: &mut Command) -> std::io::Result<Child> {
    let mut flags = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
    if breakaway_allowed() {
        flags |= CREATE_BREAKAWAY_FROM_JOB;
    }
    keep_own_stdio_private();
    cmd.creation_flags(flags).spawn()
}

/// Windows hands every inheritable handle to a child, whatever its stdio
/// says: a detached worker (and its command, and the notifier) would hold the
/// caller's stdout pipe open, and a caller that captures `run -b`'s output
/// would wait for the job to end. Our own stdio is never meant for them.
fn keep_own_stdio_private() {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::{SetHandleInformation, HANDLE_FLAG_INHERIT};
    let handles = [
        std::io::stdin().as_raw_handle(),
        std::io::stdout().as_raw_handle(),
        std::io::stderr().as_raw_handle(),
    ];
    for handle in handles.into_iter().filter(|h| !h.is_null()) {
        // SAFETY: our own standard handles; clearing a flag on them.
        unsafe { SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0) };
    }
}

/// Windows cannot fork: its workers are always started as `bgjobs worker`.
pub enum Forked {}

impl Forked {
    /// Never called: no value exists.
    pub fn pid(&self) -> u32 {
        match *self {}
    }

    /// Never called: no value exists.
    pub fn hand_over(self, _id: u64) -> std::io::Result<()> {
        match self {}
    }
}

/// Windows cannot fork: `None`, and the caller starts `bgjobs worker`.
pub fn fork_worker(_work: impl FnOnce(u64) -> i32) -> std::io::Result<Option<Forked>> {
    Ok(None)
}

/// A job's exit code as this process's exit status: Windows keeps all 32
/// bits (an NTSTATUS such as 0xC0000005 passes through as it was reported).
pub fn exit_code(code: i32) -> i32 {
    code
}

/// Windows has no signals.
pub fn signal_of(_status: &ExitStatus) -> Option<i32> {
    None
}

/// Windows has no SIGPIPE.
pub fn default_sigpipe() {}

/// A path as Git Bash (the shell of Claude Code's Bash tool) names it:
/// `C:/x/bgjobs.exe`, since a backslash is an escape there.
pub fn path_for_shell(path: &std::path::Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

//! Windows: the command runs in a named Job Object, created before the
//! command runs a single instruction (it is started suspended), so that every
//! process it starts is in the job and `TerminateJobObject` ends them all.
//! The job kills its processes when its last handle closes: the worker holds
//! the only one, so a worker that dies (and whose job is then `lost`) leaves
//! no unsupervised tree behind, as `lost` on Unix stops the orphaned group.

use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation, OpenJobObjectW,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    OpenThread, ResumeThread, CREATE_NO_WINDOW, CREATE_SUSPENDED, THREAD_SUSPEND_RESUME,
};

use super::Ended;

/// `JOB_OBJECT_TERMINATE` access right (winnt.h).
const JOB_OBJECT_TERMINATE: u32 = 0x0008;

struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: an owned, open handle, closed once.
        unsafe { CloseHandle(self.0) };
    }
}

// SAFETY: a Job Object handle may be used from any thread.
unsafe impl Send for Handle {}
// SAFETY: the handle is only passed to thread-safe Win32 calls, never mutated.
unsafe impl Sync for Handle {}

/// The worker's handle on a running tree: the Job Object.
pub struct Tree {
    job: Handle,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tree(job object)")
    }
}

impl Tree {
    /// Windows has no signals; any request ends the tree.
    pub fn signal(&self, _sig: i32) {
        // SAFETY: terminating a job we own.
        unsafe { TerminateJobObject(self.job.0, 1) };
    }

    /// End the whole tree at once (there is no polite request to a detached
    /// console-less tree).
    pub fn terminate(&self, _grace: Duration) -> Ended {
        // SAFETY: terminating a job we own.
        if unsafe { TerminateJobObject(self.job.0, 1) } == 0 {
            return Ended::Failed(std::io::Error::last_os_error().to_string());
        }
        Ended::Killed
    }
}

fn wide(name: &str) -> Vec<u16> {
    format!("Local\\{name}")
        .encode_utf16()
        .chain(Some(0))
        .collect()
}

pub fn spawn(cmd: &mut Command, name: &str) -> std::io::Result<(Child, Tree)> {
    let name = wide(name);
    // SAFETY: `name` is NUL-terminated; a null security attribute is allowed.
    let job = unsafe { CreateJobObjectW(std::ptr::null(), name.as_ptr()) };
    if job.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let job = Handle(job);
    kill_on_close(&job)?;
    let mut child = cmd
        .creation_flags(CREATE_NO_WINDOW | CREATE_SUSPENDED)
        .spawn()?;
    // SAFETY: both handles are valid and open.
    if unsafe { AssignProcessToJobObject(job.0, child.as_raw_handle() as HANDLE) } == 0 {
        let err = std::io::Error::last_os_error();
        let _ = child.kill();
        let _ = child.wait();
        return Err(err);
    }
    resume_threads(child.id());
    Ok((child, Tree { job }))
}

/// Make closing the job's last handle end every process in it.
fn kill_on_close(job: &Handle) -> std::io::Result<()> {
    // SAFETY: a zeroed limit structure is valid; only LimitFlags is set, and
    // the size passed is the structure's.
    let ok = unsafe {
        let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        SetInformationJobObject(
            job.0,
            JobObjectExtendedLimitInformation,
            (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Resume the (single) initial thread of a process started suspended.
fn resume_threads(pid: u32) {
    // SAFETY: snapshot and thread handles are owned and closed; entry is sized.
    unsafe {
        let snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
        if snap.is_null() || snap as isize == -1 {
            return;
        }
        let snap = Handle(snap);
        let mut entry: THREADENTRY32 = std::mem::zeroed();
        entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
        let mut ok = Thread32First(snap.0, &mut entry);
        while ok != 0 {
            if entry.th32OwnerProcessID == pid {
                let thread = OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID);
                if !thread.is_null() {
                    let thread = Handle(thread);
                    ResumeThread(thread.0);
                }
            }
            ok = Thread32Next(snap.0, &mut entry);
        }
    }
}

pub fn terminate(_pid: u32, name: &str, _grace: Duration) -> Ended {
    let name = wide(name);
    // SAFETY: `name` is NUL-terminated.
    let job = unsafe { OpenJobObjectW(JOB_OBJECT_TERMINATE, 0, name.as_ptr()) };
    if job.is_null() {
        return Ended::NotRunning;
    }
    let job = Handle(job);
    // SAFETY: an open job handle with terminate access.
    if unsafe { TerminateJobObject(job.0, 1) } == 0 {
        return Ended::Failed(std::io::Error::last_os_error().to_string());
    }
    Ended::Killed
}

pub fn request_stop(pid: u32, name: &str) {
    terminate(pid, name, Duration::ZERO);
}

/// End one process (Windows has no polite request to a console-less process).
pub fn signal_process(pid: u32, _force: bool) {
    use windows_sys::Win32::System::Threading::{OpenProcess, TerminateProcess, PROCESS_TERMINATE};
    // SAFETY: the handle is owned and closed; the caller checked the identity.
    unsafe {
        let raw = OpenProcess(PROCESS_TERMINATE, 0, pid);
        if !raw.is_null() {
            let handle = Handle(raw);
            TerminateProcess(handle.0, 1);
        }
    }
}

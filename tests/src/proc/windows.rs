//! Windows processes: liveness through the process's identity (exit code and
//! creation time), `TerminateProcess`, Job Objects like the ones Claude Code
//! (through libuv) runs its children in, and Wine detection.

use std::io;

use bgjobs_store::ProcessIdentity;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_BREAKAWAY_OK, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, TerminateProcess, WaitForSingleObject,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SET_QUOTA, PROCESS_SYNCHRONIZE, PROCESS_TERMINATE,
};

struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: an owned, open handle, closed once.
        unsafe { CloseHandle(self.0) };
    }
}

fn open(pid: u32, access: u32) -> Option<Handle> {
    // SAFETY: a plain query; the handle is owned by the returned guard.
    let raw = unsafe { OpenProcess(access, 0, pid) };
    (!raw.is_null()).then(|| Handle(raw))
}

/// Whether `pid` is a running process (one that has exited is dead, even
/// while a handle keeps its object).
pub fn pid_alive(pid: u32) -> bool {
    ProcessIdentity::of(pid).is_some()
}

/// End `pid` at once with `TerminateProcess` (exit code 1). Returns whether
/// that is how it ended: a process that exited on its own a moment before
/// keeps its own exit code (Wine's TerminateProcess reports success on it).
pub fn kill(pid: u32) -> bool {
    const KILLED: u32 = 1;
    let access = PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE;
    let Some(process) = open(pid, access) else {
        return false;
    };
    // SAFETY: an open handle with terminate access.
    if unsafe { TerminateProcess(process.0, KILLED) } == 0 {
        return false;
    }
    let mut code = 0u32;
    // SAFETY: an open handle with synchronize and query access; `code` is
    // a valid place for the exit code.
    unsafe {
        WaitForSingleObject(process.0, 10_000);
        GetExitCodeProcess(process.0, &mut code) != 0 && code == KILLED
    }
}

/// Try to create the first instance of the named pipe `path`
/// (`\\.\pipe\NAME`), as a second daemon would: `FILE_FLAG_FIRST_PIPE_INSTANCE`
/// fails while another server holds the name. The instance is closed again.
pub fn create_first_pipe_instance(path: &str) -> io::Result<()> {
    use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_FLAG_FIRST_PIPE_INSTANCE, PIPE_ACCESS_DUPLEX,
    };
    use windows_sys::Win32::System::Pipes::{
        CreateNamedPipeW, PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES,
    };
    let wide: Vec<u16> = path.encode_utf16().chain(Some(0)).collect();
    // SAFETY: a NUL-terminated name and default security; the handle is owned.
    let raw = unsafe {
        CreateNamedPipeW(
            wide.as_ptr(),
            PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
            PIPE_TYPE_BYTE,
            PIPE_UNLIMITED_INSTANCES,
            4096,
            4096,
            0,
            std::ptr::null(),
        )
    };
    if raw == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    drop(Handle(raw));
    Ok(())
}

/// The SID of the user the tests run as ("S-1-5-21-…"), from the token.
pub fn current_user_sid() -> io::Result<String> {
    use windows_sys::Win32::Security::{GetTokenInformation, TokenUser, TOKEN_QUERY, TOKEN_USER};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
    let mut raw = std::ptr::null_mut();
    // SAFETY: this process's pseudo-handle; the token handle is owned below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut raw) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = Handle(raw);
    let mut buf = vec![0u64; 128];
    let mut len = 0;
    // SAFETY: `buf` is 1 KiB, aligned; far more than a TOKEN_USER and its SID.
    let ok =
        unsafe { GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), 1024, &mut len) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER.
    let sid = unsafe { (*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    sid_text(sid)
}

/// The DACL of the named pipe `path` (`\\.\pipe\NAME`) in SDDL
/// ("D:P(A;;FA;;;SY)…"), read through a client handle opened for
/// `READ_CONTROL` only.
pub fn pipe_dacl(path: &str) -> io::Result<String> {
    use windows_sys::Win32::Foundation::{LocalFree, INVALID_HANDLE_VALUE, WIN32_ERROR};
    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
        SE_KERNEL_OBJECT,
    };
    use windows_sys::Win32::Security::DACL_SECURITY_INFORMATION;
    use windows_sys::Win32::Storage::FileSystem::{CreateFileW, OPEN_EXISTING, READ_CONTROL};
    let wide: Vec<u16> = path.encode_utf16().chain(Some(0)).collect();
    // SAFETY: a NUL-terminated name; the handle is owned by the guard.
    let raw = unsafe {
        CreateFileW(
            wide.as_ptr(),
            READ_CONTROL,
            0,
            std::ptr::null(),
            OPEN_EXISTING,
            0,
            std::ptr::null_mut(),
        )
    };
    if raw == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    let pipe = Handle(raw);
    let mut sd = std::ptr::null_mut();
    let null = std::ptr::null_mut();
    // SAFETY: an open handle with READ_CONTROL; `sd` receives a LocalAlloc'd
    // descriptor, freed below.
    let err: WIN32_ERROR = unsafe {
        GetSecurityInfo(
            pipe.0,
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION,
            null,
            null,
            null.cast(),
            null.cast(),
            &mut sd,
        )
    };
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err as i32));
    }
    let mut text = std::ptr::null_mut();
    // SAFETY: the descriptor from above; `text` receives a LocalAlloc'd string.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            std::ptr::null_mut(),
        )
    };
    let result = if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: a NUL-terminated string from the call above.
        let dacl = unsafe { wide_to_string(text) };
        // SAFETY: allocated by the call above, freed once.
        unsafe { LocalFree(text.cast()) };
        Ok(dacl)
    };
    // SAFETY: allocated by GetSecurityInfo, freed once.
    unsafe { LocalFree(sd) };
    result
}

/// A SID in its text form.
fn sid_text(sid: windows_sys::Win32::Security::PSID) -> io::Result<String> {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
    let mut text = std::ptr::null_mut();
    // SAFETY: a valid SID; `text` receives a LocalAlloc'd string.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a NUL-terminated string from the call above, then freed once.
    let sid = unsafe { wide_to_string(text) };
    unsafe { LocalFree(text.cast()) };
    Ok(sid)
}

/// # Safety
/// `text` points to a NUL-terminated UTF-16 string.
unsafe fn wide_to_string(text: *const u16) -> String {
    let mut len = 0;
    // SAFETY: NUL-terminated, per the caller.
    while unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) })
}

/// Whether this is Wine: its ntdll exports `wine_get_version`.
pub fn is_wine() -> bool {
    let ntdll: Vec<u16> = "ntdll.dll".encode_utf16().chain(Some(0)).collect();
    // SAFETY: NUL-terminated names; ntdll is always loaded.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// A Job Object as a parent process may run its children in: every process
/// assigned to it, and every process they start, is in the job. Closing the
/// last handle (dropping this) ends them all when `kill_on_close` is set.
pub struct JobObject {
    job: Handle,
}

impl JobObject {
    /// An anonymous job; `breakaway_ok` lets its processes start children
    /// outside it with `CREATE_BREAKAWAY_FROM_JOB`.
    pub fn new(kill_on_close: bool, breakaway_ok: bool) -> io::Result<Self> {
        // SAFETY: anonymous job, default security; the handle is owned.
        let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        let job = Handle(raw);
        // SAFETY: a zeroed limit structure is valid; only LimitFlags is set.
        let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        if kill_on_close {
            info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        }
        if breakaway_ok {
            info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_BREAKAWAY_OK;
        }
        // SAFETY: the structure is the size the class names.
        let ok = unsafe {
            SetInformationJobObject(
                job.0,
                JobObjectExtendedLimitInformation,
                (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { job })
    }

    /// Put the running process `pid` in the job.
    pub fn assign(&self, pid: u32) -> io::Result<()> {
        let process = open(pid, PROCESS_SET_QUOTA | PROCESS_TERMINATE)
            .ok_or_else(io::Error::last_os_error)?;
        // SAFETY: both handles are open with the access the call needs.
        if unsafe { AssignProcessToJobObject(self.job.0, process.0) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// End every process in the job.
    pub fn terminate(&self) -> io::Result<()> {
        // SAFETY: our own open job handle.
        if unsafe { TerminateJobObject(self.job.0, 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

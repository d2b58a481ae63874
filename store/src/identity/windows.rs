//! Windows: `GetProcessTimes` creation time; a process that has exited (even
//! while handles keep its object alive) counts as gone. Whether it has exited
//! is its handle's state (signalled once it exits), not its exit code alone: a
//! process may exit with code 259, `STILL_ACTIVE`.

use windows_sys::Wdk::System::Threading::{NtQueryInformationProcess, ProcessBasicInformation};
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_BAD_LENGTH, FILETIME, HANDLE, STILL_ACTIVE, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, GetProcessTimes, OpenProcess, QueryFullProcessImageNameW,
    WaitForSingleObject, PROCESS_BASIC_INFORMATION, PROCESS_NAME_WIN32,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE,
};

struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was returned open by the OS and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// Creation time of `pid` as a FILETIME, `None` if it has exited or is unknown.
pub fn start_time(pid: u32) -> Option<u64> {
    // SAFETY: plain Win32 calls on a handle we own; out-pointers are valid.
    unsafe {
        let query = PROCESS_QUERY_LIMITED_INFORMATION;
        let raw = OpenProcess(query | PROCESS_SYNCHRONIZE, 0, pid);
        let (handle, can_wait) = match raw.is_null() {
            false => (Handle(raw), true),
            // A process whose security grants us less: the exit code alone.
            true => (open_for_query(pid)?, false),
        };
        let exited = match can_wait {
            true => WaitForSingleObject(handle.0, 0) != WAIT_TIMEOUT,
            false => {
                let mut code = 0u32;
                GetExitCodeProcess(handle.0, &mut code) == 0 || code != STILL_ACTIVE as u32
            }
        };
        if exited {
            return None;
        }
        let zero = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        if GetProcessTimes(handle.0, &mut created, &mut exited, &mut kernel, &mut user) == 0 {
            return None;
        }
        Some((u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime))
    }
}

/// How many times a snapshot taken while processes start and exit is retried.
const SNAPSHOT_RETRIES: usize = 20;

/// Every process as (pid, parent pid), from a ToolHelp snapshot.
fn processes() -> Vec<(u32, u32)> {
    let mut all = Vec::new();
    // SAFETY: the snapshot handle is owned and closed; the entry is sized.
    unsafe {
        // "If the function fails with ERROR_BAD_LENGTH, retry the function
        // until it succeeds" (it does while processes come and go).
        let mut snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        for _ in 0..SNAPSHOT_RETRIES {
            if !(snap.is_null() || snap as isize == -1) || GetLastError() != ERROR_BAD_LENGTH {
                break;
            }
            snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        }
        if snap.is_null() || snap as isize == -1 {
            return all;
        }
        let snap = Handle(snap);
        let mut entry: PROCESSENTRY32W = std::mem::zeroed();
        entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
        let mut ok = Process32FirstW(snap.0, &mut entry);
        while ok != 0 {
            all.push((entry.th32ProcessID, entry.th32ParentProcessID));
            ok = Process32NextW(snap.0, &mut entry);
        }
    }
    all
}

/// `pid`, opened for queries (`None`: gone, or not ours to look at).
fn open_for_query(pid: u32) -> Option<Handle> {
    // SAFETY: a plain open; the handle is owned by the guard.
    let raw = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    (!raw.is_null()).then(|| Handle(raw))
}

/// Parent pid, asked of the process itself (a ToolHelp snapshot of every
/// process would cost more, and can miss one while processes churn).
pub fn parent_pid(pid: u32) -> Option<u32> {
    let handle = open_for_query(pid)?;
    // SAFETY: the structure is the size the information class names, and
    // zeroed is a valid value for it.
    unsafe {
        let mut info: PROCESS_BASIC_INFORMATION = std::mem::zeroed();
        let status = NtQueryInformationProcess(
            handle.0,
            ProcessBasicInformation,
            (&mut info as *mut PROCESS_BASIC_INFORMATION).cast(),
            std::mem::size_of::<PROCESS_BASIC_INFORMATION>() as u32,
            std::ptr::null_mut(),
        );
        (status >= 0).then_some(info.InheritedFromUniqueProcessId as u32)
    }
}

/// The executable name of `pid`, without `.exe`.
pub fn name(pid: u32) -> Option<String> {
    let handle = open_for_query(pid)?;
    let mut buf = vec![0u16; 32 * 1024];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` holds `len` wide characters; the call writes at most that.
    let ok = unsafe {
        QueryFullProcessImageNameW(handle.0, PROCESS_NAME_WIN32, buf.as_mut_ptr(), &mut len)
    };
    if ok == 0 {
        return None;
    }
    let path = String::from_utf16_lossy(&buf[..len as usize]);
    let file = path.rsplit(['\\', '/']).next().unwrap_or(&path);
    let stem = match file.len().checked_sub(4) {
        Some(at) if file.is_char_boundary(at) && file[at..].eq_ignore_ascii_case(".exe") => {
            &file[..at]
        }
        _ => file,
    };
    Some(stem.to_string())
}

/// Direct children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|p| p.1 == pid && p.0 != pid)
        .map(|p| p.0)
        .collect()
}

/// Windows has no process groups in this sense; trees are Job Objects.
pub fn group_alive(_pgid: u32) -> Option<bool> {
    None
}

//! macOS: `proc_pidinfo(PROC_PIDTBSDINFO)`, start time in microseconds.

fn bsd_info(pid: u32) -> Option<libc::proc_bsdinfo> {
    // SAFETY: `proc_bsdinfo` is plain data, for which all zeroes is valid.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // SAFETY: `info` is a valid, writable buffer of `size` bytes.
    let n = unsafe {
        libc::proc_pidinfo(
            pid as libc::c_int,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    (n == size).then_some(info)
}

/// `SZOMB` from `<sys/proc.h>`.
const SZOMB: u32 = 5;

/// Start time of `pid`, `None` if it does not exist or is a zombie.
pub fn start_time(pid: u32) -> Option<u64> {
    let info = bsd_info(pid)?;
    if info.pbi_status == SZOMB {
        return None;
    }
    Some(info.pbi_start_tvsec * 1_000_000 + info.pbi_start_tvusec)
}

/// Parent pid.
pub fn parent_pid(pid: u32) -> Option<u32> {
    bsd_info(pid).map(|i| i.pbi_ppid)
}

/// The executable name of `pid`.
pub fn name(pid: u32) -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe {
        libc::proc_name(
            pid as libc::c_int,
            buf.as_mut_ptr().cast(),
            buf.len() as u32,
        )
    };
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n as usize]).into_owned())
}

/// Direct children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let mut pids = vec![0 as libc::pid_t; 1024];
    let size = (pids.len() * std::mem::size_of::<libc::pid_t>()) as libc::c_int;
    // SAFETY: `pids` is valid for `size` bytes.
    let n = unsafe { libc::proc_listchildpids(pid as libc::pid_t, pids.as_mut_ptr().cast(), size) };
    if n <= 0 {
        return Vec::new();
    }
    pids.truncate(n as usize);
    pids.into_iter()
        .filter(|&p| p > 0)
        .map(|p| p as u32)
        .collect()
}

/// Not answered here; callers fall back to `kill(-pgid, 0)`.
pub fn group_alive(_pgid: u32) -> Option<bool> {
    None
}

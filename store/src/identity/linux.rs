//! Linux: `/proc/<pid>/stat`, field 22 (start time in clock ticks since boot).

use std::io::Read;

/// Fields after the `(comm)` field, which may itself hold spaces and parens.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = read_proc(&format!("/proc/{pid}/stat"))?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// A `/proc` file, in as few reads as it takes. Such a file reports no size,
/// so `read_to_string` starts with a tiny buffer and reads it in several
/// pieces, and the kernel renders the whole file again for each (for `stat`,
/// walking the process's memory map): a read that leaves room in the buffer
/// has had all there is.
fn read_proc(path: &str) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0; 1024];
    let mut len = 0;
    loop {
        let n = file.read(&mut buf[len..]).ok()?;
        len += n;
        if n == 0 || len < buf.len() {
            break;
        }
        buf.resize(buf.len() * 2, 0);
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

/// Start time of `pid`, `None` if it does not exist or is a zombie.
pub fn start_time(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    // fields[0] is field 3 (state); field 22 is fields[19].
    match fields.first()?.as_str() {
        "Z" | "X" | "x" => None,
        _ => fields.get(19)?.parse().ok(),
    }
}

/// Parent pid (field 4).
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The executable name of `pid` (`comm`).
pub fn name(pid: u32) -> Option<String> {
    read_proc(&format!("/proc/{pid}/comm")).map(|s| s.trim_end().to_string())
}

/// Direct children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| parent_pid(p) == Some(pid))
        .collect()
}

/// Whether process group `pgid` has a member that is not a zombie. A group
/// of zombies waiting for a slow reaper (a container's PID 1) is over.
pub fn group_alive(pgid: u32) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(entries.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        // fields[0] is field 3 (state); field 5 (pgrp) is fields[2].
        stat_fields(pid).is_some_and(|f| {
            !matches!(f.first().map(String::as_str), Some("Z" | "X" | "x"))
                && f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
        })
    }))
}

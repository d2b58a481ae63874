//! Linux: `/proc/sys/kernel/random/boot_id`, a UUID made at each boot.

pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string())
}

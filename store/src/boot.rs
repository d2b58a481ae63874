//! Which boot of the machine this is: an id the system makes anew at each
//! start, so that a file stamped with it tells whether the machine has gone
//! down since it was written. A write that is not synced survives the crash
//! of any process (it sits in the page cache), and is lost only with the
//! machine; a reader that finds the stamp of this boot can trust it.

use std::sync::OnceLock;

#[cfg(target_os = "linux")]
#[path = "boot/linux.rs"]
mod platform;
#[cfg(target_os = "macos")]
#[path = "boot/macos.rs"]
mod platform;
#[cfg(windows)]
#[path = "boot/windows.rs"]
mod platform;

/// This boot's id, read once per process; `None` where the system does not
/// tell (then nothing may rely on it, and writes stay synced).
pub fn id() -> Option<&'static str> {
    static ID: OnceLock<Option<String>> = OnceLock::new();
    ID.get_or_init(|| platform::boot_id().filter(|id| !id.is_empty()))
        .as_deref()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_boot_id_is_stable() {
        let first = super::platform::boot_id();
        assert_eq!(super::platform::boot_id(), first);
        assert_eq!(super::id(), first.as_deref().filter(|id| !id.is_empty()));
    }

    /// Linux and macOS always name their boot (Windows does, Wine not).
    #[cfg(unix)]
    #[test]
    fn the_boot_id_is_known() {
        let id = super::platform::boot_id().expect("this system names its boot");
        assert!(!id.is_empty());
    }
}

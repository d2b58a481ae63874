//! Windows: `NtQuerySystemInformation(SystemBootEnvironmentInformation)`,
//! whose `BootIdentifier` is a GUID made at each boot.

use std::ffi::c_void;

/// `SystemBootEnvironmentInformation` of `SYSTEM_INFORMATION_CLASS`.
const SYSTEM_BOOT_ENVIRONMENT_INFORMATION: i32 = 90;

#[link(name = "ntdll")]
unsafe extern "system" {
    fn NtQuerySystemInformation(
        class: i32,
        info: *mut c_void,
        length: u32,
        returned: *mut u32,
    ) -> i32;
}

pub fn boot_id() -> Option<String> {
    // SYSTEM_BOOT_ENVIRONMENT_INFORMATION: the GUID, the firmware type, the
    // boot flags (32 bytes, 8-aligned).
    let mut info = [0u64; 4];
    let mut returned = 0u32;
    // SAFETY: `info` is writable for the length given, suitably aligned.
    let status = unsafe {
        NtQuerySystemInformation(
            SYSTEM_BOOT_ENVIRONMENT_INFORMATION,
            info.as_mut_ptr().cast(),
            std::mem::size_of_val(&info) as u32,
            &mut returned,
        )
    };
    let guid = [info[0], info[1]];
    if status < 0 || guid == [0, 0] {
        return None;
    }
    Some(format!("{:016x}{:016x}", guid[0], guid[1]))
}

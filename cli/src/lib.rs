//! The library part of the `bgjobs` crate: the pieces of the command-line
//! tool that other code (the fuzz targets in `fuzz/`) needs to reach. The
//! binary (`main.rs`) is everything else.

pub mod hook_event;

//! `cargo run --release -p bgjobs-bench`: the performance report.

fn main() {}

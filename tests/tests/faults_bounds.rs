//! Fault injection: inputs at and past their bounds. A command line of
//! 100,000 arguments, a title far over the limit, a gigabyte of output: the
//! job runs, the store stays small and readable, the worker's memory stays
//! bounded. Each test prints what it tried and the sizes involved.
//!
//! Already covered elsewhere: a 10 MiB hook payload (`tests/hooks.rs`).

use std::time::{Duration, Instant};

use bgjobs_tests::*;

/// Stderr's non-empty lines.
fn error_lines(out: &std::process::Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// How many bytes of argument and environment space `execve` gives, if the
/// platform says.
#[cfg(unix)]
fn arg_max() -> Option<u64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
    (n > 0).then_some(n as u64)
}

#[cfg(not(unix))]
fn arg_max() -> Option<u64> {
    None // Windows: a 32,767-character command line, see below
}

/// Bytes `execve` needs for `args` with this process's environment: every
/// string with its NUL, and a pointer for each.
fn exec_size(args: &[String]) -> u64 {
    let env: u64 = std::env::vars_os()
        .map(|(k, v)| k.len() as u64 + v.len() as u64 + 2)
        .sum::<u64>()
        + 512; // the variables TestEnv adds
    let strings: u64 = args.iter().map(|a| a.len() as u64 + 1).sum();
    let pointers = (args.len() as u64 + std::env::vars_os().count() as u64 + 8) * 8;
    strings + env + pointers
}

#[test]
fn a_hundred_thousand_arguments() {
    let env = TestEnv::new();
    let helper = env.helper();
    let fixed: Vec<String> = ["bgjobs", "run", "-b", "--", &helper, "exit", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut n = 100_000usize;
    let budget = match arg_max() {
        Some(max) => max * 3 / 4, // room to spare: the worker execs it again
        None => 30_000,           // Windows' command line: 32,767 characters
    };
    loop {
        let mut args = fixed.clone();
        args.extend(std::iter::repeat_n("a".to_string(), n));
        if exec_size(&args) <= budget || n <= 1000 {
            break;
        }
        n /= 2;
    }
    if n < 100_000 {
        println!(
            "a hundred thousand arguments: ARG_MAX {:?} leaves room for {n} only; scaled down",
            arg_max()
        );
    }
    let mut cmd: Vec<&str> = vec![&helper, "exit", "0"];
    cmd.extend(std::iter::repeat_n("a", n));
    let started = Instant::now();
    let id = env.start(&[], &cmd);
    let out = env.run(&["wait", &id.to_string(), "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let job = env.job(id);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["command"].as_array().unwrap().len(), n + 3);
    let title = job["title"].as_str().unwrap();
    assert!(
        title.chars().count() <= 201,
        "the default title is not cut: {} chars",
        title.chars().count()
    );
    let status = env.status_json();
    let listed = find_job(&status, id).expect("listed");
    assert_eq!(listed["title"], title);
    let show = env.run_ok(&["show", &id.to_string()]);
    let record = std::fs::metadata(env.job_file(id)).unwrap().len();
    println!(
        "a hundred thousand arguments: {n} arguments ({} bytes to exec): job {id} succeeded in \
         {:.1}s; title cut to {} chars; record {} KiB; `show` prints {} KiB",
        exec_size(&cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        started.elapsed().as_secs_f64(),
        title.chars().count(),
        record >> 10,
        show.len() >> 10
    );
}

#[test]
fn a_title_over_the_limit_is_a_usage_error() {
    let env = TestEnv::new();
    let helper = env.helper();
    let first = env.start(&[], &[&helper, "exit", "0"]);
    env.wait_delivered(first);
    let before = env.snapshot("jobs");

    // Linux will not even pass a 1 MiB argument (MAX_ARG_STRLEN, 128 KiB).
    #[cfg(target_os = "linux")]
    {
        let huge = "t".repeat(1 << 20);
        let err = env
            .bgjobs(&["run", "-b", "--title", &huge, "--", &helper, "exit", "0"])
            .output()
            .expect_err("a 1 MiB argument cannot be exec'd on Linux");
        println!("a 1 MiB --title: the system refuses to exec it: {err}");
        assert_eq!(err.raw_os_error(), Some(libc::E2BIG), "{err}");
    }

    // The largest title each system lets through to bgjobs: Linux limits one
    // argument to 128 KiB; Windows a whole command line to 32,767 characters
    // (the command, the helper's path and the other arguments take the rest).
    let largest = if cfg!(windows) { 30_000 } else { 120 << 10 };
    let mut tried = Vec::new();
    for len in [4097usize, largest] {
        let title = "t".repeat(len);
        let out = env.run(&["run", "-b", "--title", &title, "--", &helper, "exit", "0"]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "a {len}-char title: {}",
            stderr(&out)
        );
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "one line: {lines:?}");
        assert!(lines[0].contains("--title"), "{}", lines[0]);
        assert!(
            lines[0].len() < 300,
            "the error repeats the title: {} bytes",
            lines[0].len()
        );
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        assert_eq!(
            env.snapshot("jobs"),
            before,
            "a refused title recorded something"
        );
        tried.push(format!("{len} chars: exit 2, {:?}", lines[0]));
    }
    // The limit itself is allowed, and kept whole.
    let title = "t".repeat(4096);
    let id = env.start(&["--title", &title], &[&helper, "exit", "0"]);
    assert_eq!(env.job(id)["title"], title.as_str());
    println!("titles over the limit: {}", tried.join("; "));
    println!("a 4096-char title: accepted and kept whole");
}

/// The peak memory (`VmHWM`, KiB) of the live process named by `identity`.
#[cfg(target_os = "linux")]
fn peak_kib(identity: &Value) -> Option<u64> {
    let pid = identity["pid"].as_u64()?;
    let start = identity["start"].as_u64()?;
    if proc::stat(pid as u32)?.start != start {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Run `spew BYTES` as a background job in `env`, sampling its worker's
/// peak memory until it ends; check its log against `bound`. Returns the
/// time it took and the worker's peak (KiB; 0 where it cannot be read).
fn spew_job(env: &TestEnv, bytes: u64, bound: u64, timeout: Duration) -> (Duration, u64) {
    let started = Instant::now();
    let id = env.start_helper(&[], &["spew", &bytes.to_string()]);
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut peak = 0u64;
    let job = wait_until(&format!("job {id} (spew {bytes})"), timeout, || {
        let record = env.read_record(id);
        #[cfg(target_os = "linux")]
        if let Some(kib) = peak_kib(&record["worker"]) {
            peak = peak.max(kib);
        }
        let status = record["status"].as_str().unwrap_or_default();
        (status != "queued" && status != "running").then_some(record)
    });
    let took = started.elapsed();
    let job = if job["status"] == "succeeded" {
        job
    } else {
        env.job(id) // as bgjobs reports it, for the message below
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    let log = std::fs::read(env.log_file(id)).unwrap();
    let head = String::from_utf8_lossy(&log[..log.len().min(200)]).into_owned();
    assert!(
        log.len() as u64 <= bound,
        "the log passed its bound: {} > {bound}",
        log.len()
    );
    assert!(log.ends_with(b"\nEND\n"), "the log lost its end");
    assert!(
        head.starts_with("[bgjobs: ") && head.contains("dropped"),
        "the log does not start with the note of what was dropped: {head:?}"
    );
    assert!(
        job["output_tail"].as_str().unwrap().ends_with("END"),
        "{}",
        job["output_tail"]
    );
    println!(
        "{} MiB of output, log bound {} KiB: job {id} succeeded in {:.1}s; log {} KiB, ends with END, \
         starts with {:?}; worker peak memory (VmHWM) {} KiB",
        bytes >> 20,
        bound >> 10,
        took.as_secs_f64(),
        log.len() >> 10,
        head.lines().next().unwrap_or_default(),
        peak
    );
    (took, peak)
}

#[test]
fn a_gigabyte_of_output_keeps_the_log_and_the_worker_small() {
    // A configured 1 MiB bound first, with 64 MiB: this also measures the
    // machine, to see whether a whole gigabyte fits in the time.
    let small = TestEnv::with_config("log_max_bytes = 1048576\n");
    let (took, peak_small) = spew_job(&small, 64 << 20, 1 << 20, DEADLINE);
    let mut bytes: u64 = 1 << 30;
    let projected = took.as_secs_f64() * 16.0;
    if projected > 60.0 {
        bytes = 256 << 20;
        println!(
            "a gigabyte of output: 64 MiB took {:.1}s here, so 1 GiB would take ~{projected:.0}s: \
             scaled down to 256 MiB",
            took.as_secs_f64()
        );
    }
    // The default bound (16 MiB).
    let env = TestEnv::new();
    let timeout = DEADLINE.max(Duration::from_secs_f64(projected * 4.0));
    let (_, peak) = spew_job(&env, bytes, 16 << 20, timeout);
    #[cfg(target_os = "linux")]
    {
        assert!(
            peak_small > 0 && peak > 0,
            "the worker's memory was never read"
        );
        assert!(
            peak_small < 64 * 1024 && peak < 64 * 1024,
            "the worker's peak memory: {peak_small} KiB (1 MiB bound), {peak} KiB (16 MiB bound)"
        );
    }
    let _ = (peak_small, peak);
}

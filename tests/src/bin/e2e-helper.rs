//! A tiny, portable stand-in for the shell utilities the end-to-end tests run
//! as job commands (`sleep`, `exit`, printing numbered lines, waiting for a
//! file), so that the same tests can run where there is no `sh` (Windows).
//!
//! ```text
//! e2e-helper sleep SECS          sleep, then exit 0
//! e2e-helper exit CODE           exit with CODE
//! e2e-helper lines N             print "line 1" .. "line N" on stdout
//! e2e-helper print TEXT          print TEXT on stdout
//! e2e-helper eprint TEXT         print TEXT on stderr
//! e2e-helper cwd                 print the current directory
//! e2e-helper env NAME..          print NAME=VALUE for each NAME (VALUE empty
//!                                when unset)
//! e2e-helper wait-file PATH      print "waiting", wait until PATH exists, print "done"
//! e2e-helper serve MS LINE GATE  print "starting", after MS milliseconds print
//!                                LINE, wait until GATE exists, print "done": a
//!                                server that says when it is ready
//! e2e-helper mark FILE NAME MS [GATE]
//!                                (after GATE exists, when given) append "NAME
//!                                start" to FILE, sleep MS milliseconds, append
//!                                "NAME end": who ran when
//! e2e-helper store-writer OP [ID] write to the store of BGJOBS_HOME / the current
//!                                directory until killed: OP is `update` (job ID's
//!                                record, over and over), `create` (new jobs, each
//!                                then finished), `prune` (keep 5) or `seed` (10
//!                                finished jobs, then exit)
//! e2e-helper spew BYTES [GATE]   (after GATE exists, when given) write BYTES of
//!                                64-byte lines on stdout as fast as it can, then
//!                                a final line "END"
//! e2e-helper tree DEPTH          print "pid <own pid>", start `e2e-helper tree
//!                                DEPTH-1` as a child (DEPTH > 0), sleep 300 s:
//!                                a process tree DEPTH+1 deep whose pids are in
//!                                the output
//! e2e-helper run CMD..           run CMD (same stdio), exit with its exit code:
//!                                a stand-in for a shell, under the shell's name
//! e2e-helper starter GATE CMD..  once GATE exists, run CMD (same stdio) to its
//!                                end, print "started <status>", sleep 300 s: a
//!                                parent process that outlives what it started
//! ```

use std::io::Write;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str {
        args.get(i)
            .map(String::as_str)
            .unwrap_or_else(|| usage(&args))
    };
    match arg(0) {
        "sleep" => {
            let secs: f64 = arg(1).parse().unwrap_or_else(|_| usage(&args));
            std::thread::sleep(Duration::from_secs_f64(secs));
        }
        "exit" => std::process::exit(arg(1).parse().unwrap_or_else(|_| usage(&args))),
        "lines" => {
            let n: u64 = arg(1).parse().unwrap_or_else(|_| usage(&args));
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for i in 1..=n {
                writeln!(out, "line {i}").expect("write stdout");
            }
            out.flush().expect("flush stdout");
        }
        "print" => println!("{}", arg(1)),
        "eprint" => eprintln!("{}", arg(1)),
        "cwd" => println!(
            "{}",
            std::env::current_dir()
                .expect("a current directory")
                .display()
        ),
        "env" => {
            for name in &args[1..] {
                println!("{name}={}", std::env::var(name).unwrap_or_default());
            }
        }
        "wait-file" => {
            let path = std::path::Path::new(arg(1));
            println!("waiting");
            std::io::stdout().flush().expect("flush stdout");
            wait_for(path);
            println!("done");
        }
        "serve" => {
            let ms: u64 = arg(1).parse().unwrap_or_else(|_| usage(&args));
            println!("starting");
            std::io::stdout().flush().expect("flush stdout");
            std::thread::sleep(Duration::from_millis(ms));
            println!("{}", arg(2));
            std::io::stdout().flush().expect("flush stdout");
            wait_for(std::path::Path::new(arg(3)));
            println!("done");
        }
        "mark" => {
            let ms: u64 = arg(3).parse().unwrap_or_else(|_| usage(&args));
            let append = |what: &str| {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(arg(1))
                    .expect("open the mark file");
                // One write per line: appends of concurrent helpers never mix.
                file.write_all(format!("{} {what}\n", arg(2)).as_bytes())
                    .expect("append a mark");
            };
            if let Some(gate) = args.get(4) {
                wait_for(std::path::Path::new(gate));
            }
            append("start");
            std::thread::sleep(Duration::from_millis(ms));
            append("end");
        }
        "store-writer" => store_writer(arg(1), args.get(2).and_then(|a| a.parse().ok())),
        "spew" => spew(
            arg(1).parse().unwrap_or_else(|_| usage(&args)),
            args.get(2).map(std::path::Path::new),
        ),
        "tree" => tree(arg(1).parse().unwrap_or_else(|_| usage(&args))),
        "run" => {
            let cmd = args
                .get(1..)
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| usage(&args));
            let status = std::process::Command::new(&cmd[0]).args(&cmd[1..]).status();
            std::process::exit(status.ok().and_then(|s| s.code()).unwrap_or(127));
        }
        "starter" => {
            wait_for(std::path::Path::new(arg(1)));
            let cmd = args
                .get(2..)
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| usage(&args));
            let status = std::process::Command::new(&cmd[0]).args(&cmd[1..]).status();
            println!("started {status:?}");
            std::io::stdout().flush().expect("flush stdout");
            std::thread::sleep(Duration::from_secs(300));
        }
        _ => usage(&args),
    }
}

fn wait_for(path: &std::path::Path) {
    while !path.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One level of a process tree: say who we are, start the next level, sleep.
fn tree(depth: u32) {
    println!("pid {}", std::process::id());
    std::io::stdout().flush().expect("flush stdout");
    let _child = (depth > 0).then(|| {
        std::process::Command::new(std::env::current_exe().expect("current_exe"))
            .args(["tree", &(depth - 1).to_string()])
            .spawn()
            .expect("spawn the next level")
    });
    std::thread::sleep(Duration::from_secs(300));
}

/// Store writes for the crash loop, through the store library as bgjobs
/// itself does them, until the test kills this process at a random moment.
fn store_writer(op: &str, id: Option<u64>) {
    use bgjobs_store::retention::{self, Policy};
    use bgjobs_store::workspace::{self, WorkspaceHints};
    use bgjobs_store::{Config, Created, NewJob, StateRoot, Status, Store};

    let root = StateRoot::from_env().expect("state root");
    let ws =
        workspace::resolve(&WorkspaceHints::from_env(None).expect("hints")).expect("workspace");
    let store = Store::open(&root, ws.clone(), Config::default()).expect("store");
    let new_finished = |n: u64| {
        let new = NewJob {
            command: vec!["true".into(), n.to_string()],
            cwd: ws.to_string_lossy().into_owned(),
            background: true,
            ..NewJob::default()
        };
        if let Created::New(job) = store.create(new).expect("create") {
            store
                .update(job.id, |j| {
                    j.finish(Status::Succeeded, None);
                    j.exit_code = Some(0);
                })
                .expect("finish");
        }
    };
    let mut n = 0u64;
    loop {
        n += 1;
        match op {
            "seed" if n > 10 => return,
            "seed" | "create" => new_finished(n),
            "update" => {
                let id = id.unwrap_or_else(|| usage(&["store-writer update needs ID".into()]));
                store
                    .update(id, |j| j.output_tail = format!("write {n}"))
                    .expect("update");
            }
            "prune" => {
                let policy = Policy {
                    keep: 5,
                    older_than: None,
                };
                retention::prune(&store, policy).expect("prune");
            }
            _ => usage(&[op.to_string()]),
        }
    }
}

/// Write `bytes` of output in big chunks of whole 64-byte lines (the last
/// line may be cut short), then `END`.
fn spew(bytes: u64, gate: Option<&std::path::Path>) {
    if let Some(gate) = gate {
        wait_for(gate);
    }
    let line = format!(
        "{:<63}\n",
        "spew: the quick brown fox jumps over the lazy dog"
    );
    let chunk = line.repeat(16 * 1024); // 1 MiB
    let mut out = std::io::stdout().lock();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk.as_bytes()[..n]).expect("write stdout");
        left -= n as u64;
    }
    if !bytes.is_multiple_of(64) {
        out.write_all(b"\n").expect("write stdout");
    }
    out.write_all(b"END\n").expect("write stdout");
    out.flush().expect("flush stdout");
}

fn usage(args: &[String]) -> ! {
    eprintln!("e2e-helper: bad arguments {args:?}");
    std::process::exit(64)
}

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
//! e2e-helper wait-file PATH      print "waiting", wait until PATH exists, print "done"
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
        "wait-file" => {
            let path = std::path::Path::new(arg(1));
            println!("waiting");
            std::io::stdout().flush().expect("flush stdout");
            while !path.exists() {
                std::thread::sleep(Duration::from_millis(20));
            }
            println!("done");
        }
        _ => usage(&args),
    }
}

fn usage(args: &[String]) -> ! {
    eprintln!("e2e-helper: bad arguments {args:?}");
    std::process::exit(64)
}

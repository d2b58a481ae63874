//! Fault injection: what real machines do to a store. Each test prints what
//! it tried and how many times.

use bgjobs_tests::*;

#[test]
fn writers_killed_at_random_moments_lose_and_corrupt_nothing() {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    let env = TestEnv::new();
    let seeded = output({
        let mut cmd = std::process::Command::new(helper_bin());
        cmd.args(["store-writer", "seed"]).current_dir(&env.ws);
        env.apply(&mut cmd);
        cmd
    });
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    let store = env.store_dir();
    let jobs = store.join("jobs");
    let mut rng = Rng::new();
    println!("crash loop seed {} (BGJOBS_E2E_SEED to repeat)", rng.0);
    let snapshot = |dir: &std::path::Path| -> BTreeMap<String, Vec<u8>> {
        list_dir(dir)
            .into_iter()
            .filter(|n| n.ends_with(".json"))
            .map(|n| {
                let bytes = std::fs::read(dir.join(&n)).unwrap_or_default();
                (n, bytes)
            })
            .collect()
    };
    let (mut kills, mut ops) = (0u32, BTreeMap::<&str, u32>::new());
    let started = Instant::now();
    while kills < 500 && started.elapsed() < Duration::from_secs(120) {
        let before = snapshot(&jobs);
        let ids: Vec<u64> = before
            .keys()
            .filter_map(|n| n.trim_end_matches(".json").parse().ok())
            .collect();
        let (op, target) = match rng.below(4) {
            0 => ("create", None),
            1 => ("prune", None),
            _ => ("update", Some(ids[rng.below(ids.len() as u64) as usize])),
        };
        let mut cmd = std::process::Command::new(helper_bin());
        cmd.args(["store-writer", op]).current_dir(&env.ws);
        if let Some(id) = target {
            cmd.arg(id.to_string());
        }
        env.apply(&mut cmd);
        let mut child = cmd.stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(500 + rng.below(6_000)));
        let _ = child.kill(); // SIGKILL, or TerminateProcess
        let _ = child.wait();
        kills += 1;
        *ops.entry(op).or_default() += 1;

        let after = snapshot(&jobs);
        for (name, bytes) in &after {
            let value: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| {
                panic!("after kill {kills} ({op}): {name} does not parse: {e}")
            });
            assert!(value["id"].is_u64(), "{name}: {value}");
        }
        for name in ["index.json", "workspace.json"] {
            let bytes = std::fs::read(store.join(name)).unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| {
                panic!("after kill {kills} ({op}): {name} does not parse: {e}")
            });
        }
        for (name, old) in &before {
            let written = target.is_some_and(|id| *name == format!("{id}.json"));
            match after.get(name) {
                Some(new) => assert!(
                    written || new == old,
                    "after kill {kills} ({op}): {name} changed"
                ),
                None => assert_eq!(op, "prune", "after kill {kills} ({op}): {name} vanished"),
            }
        }
        for dir in [&store, &jobs] {
            let temps = list_dir(dir)
                .into_iter()
                .filter(|n| n.contains("tmp"))
                .count();
            assert!(
                temps <= 1,
                "after kill {kills}: temp files accumulate in {}",
                dir.display()
            );
            let corrupt = list_dir(dir)
                .into_iter()
                .filter(|n| n.contains(".corrupt-"))
                .count();
            assert_eq!(corrupt, 0, "after kill {kills}: a record was found corrupt");
        }
        if kills % 50 == 0 {
            // The lock of a killed writer is never left behind.
            env.run_ok(&["status", "--json"]);
        }
    }
    env.run_ok(&["status", "--all", "--json"]);
    println!(
        "crash loop: {kills} writers killed outright at random moments ({ops:?}) in {:.1}s: every record parses, \
         nothing else changed or vanished, at most one temp file per directory, no stale lock",
        started.elapsed().as_secs_f64()
    );
    assert!(kills >= 100, "too few kills in the time bound: {kills}");
}

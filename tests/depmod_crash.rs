//! Crash safety: depmod killed with SIGKILL at any moment leaves every index file
//! either as it was before or complete and new, byte for byte — never partial, never
//! missing — and no stray file under a name a reader opens; kmod's modprobe keeps
//! reading the indexes. Its cache is never partial either (as long as its header
//! says), and whatever cache a kill leaves, the next run writes the new indexes.
//!
//! The "old" indexes are made from the tree without one module (`xor`, which btrfs
//! needs), the "new" ones from the whole tree, so every index differs between the two.

use crate::support::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REMOVED: &str = "kernel/crypto/xor.ko";
const KILLS: usize = 60;

type Outputs = Vec<Option<Vec<u8>>>;

fn read_outputs(dir: &Path) -> Outputs {
    DEPMOD_OUTPUTS
        .iter()
        .map(|n| std::fs::read(dir.join(n)).ok())
        .collect()
}

/// Put the old indexes back (new files: no depmod is running).
fn restore(dir: &Path, old: &Outputs) {
    for (n, data) in DEPMOD_OUTPUTS.iter().zip(old) {
        replace_file(&dir.join(n), data.as_ref().unwrap());
    }
}

fn depmod(root: &Path, kver: &str) -> Command {
    let mut c = ours_depmod();
    c.arg("-b").arg(root).arg(kver);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// What kmod 34.2's modprobe makes of the indexes.
fn query(o: &Oracle, root: &Path, kver: &str) -> Run {
    let mut c = o.theirs("modprobe");
    c.arg("-d").arg(root).args([
        "-S",
        kver,
        "-a",
        "--show-depends",
        "btrfs",
        "xor",
        "fs-btrfs",
    ]);
    run(c)
}

/// Whether `data` is a whole cache: the magic, and exactly as long as the end of
/// the last of its four sections (header: magic, byte order mark, format, then
/// per section u64 offset, u64 length, 16 bytes of digest).
fn whole_cache(data: &[u8]) -> bool {
    let u64_at = |at: usize| {
        data.get(at..at + 8)
            .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
    };
    let ends: Option<Vec<u64>> = (0..4)
        .map(|i| Some(u64_at(16 + 32 * i)? + u64_at(24 + 32 * i)?))
        .collect();
    data.starts_with(b"KRSCACHE")
        && ends.is_some_and(|e| e.iter().max() == Some(&(data.len() as u64)))
}

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// One run of depmod on the old indexes, watched: (total time, time of the first
/// change in the output directory).
fn measure(dir: &Path, root: &Path, kver: &str, old: &Outputs) -> (Duration, Duration) {
    restore(dir, old);
    let before = entries(dir);
    let ino = |n: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir.join(n)).map_or(0, |m| m.ino())
    };
    let inodes: Vec<u64> = DEPMOD_OUTPUTS.iter().map(|n| ino(n)).collect();
    let t0 = Instant::now();
    let mut child = depmod(root, kver).spawn().unwrap();
    let mut first_change = None;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if first_change.is_none()
            && (entries(dir) != before
                || DEPMOD_OUTPUTS
                    .iter()
                    .zip(&inodes)
                    .any(|(n, &i)| ino(n) != i))
        {
            first_change = Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let total = t0.elapsed();
    (total, first_change.unwrap_or(total))
}

#[test]
fn depmod_sigkill_leaves_old_or_new_indexes() {
    let Some(o) = Oracle::get() else { return };
    let t = o.tree("bookworm-amd64");
    let kver = t.kver.as_str();
    let tmp = TempDir::new("depmod-crash");
    let root = tmp.path().join("root");
    link_copy(&t.root, &root);
    let dir = root.join("lib/modules").join(kver);

    // old and new indexes, and what modprobe makes of each
    let removed = dir.join(REMOVED);
    std::fs::remove_file(&removed).unwrap();
    let st = depmod(&root, kver).status().unwrap();
    assert!(st.success(), "depmod (old) failed");
    let old = read_outputs(&dir);
    let old_q = query(&o, &root, kver);
    std::fs::hard_link(t.moddir().join(REMOVED), &removed).unwrap();
    let st = depmod(&root, kver).status().unwrap();
    assert!(st.success(), "depmod (new) failed");
    let new = read_outputs(&dir);
    let new_q = query(&o, &root, kver);
    for ((n, a), b) in DEPMOD_OUTPUTS.iter().zip(&old).zip(&new) {
        assert!(a.is_some() && b.is_some(), "{n} not written");
        if n.starts_with("modules.dep") || n.starts_with("modules.symbols") {
            assert_ne!(a, b, "{n}: old and new should differ");
        }
    }
    assert_ne!(old_q, new_q, "modprobe should see the difference");
    assert_eq!(old_q.status, Some(1), "old: xor is missing: {old_q:?}");
    assert_eq!(new_q.status, Some(0), "new: {new_q:?}");
    let inputs = entries(&dir);

    // when does depmod write? kill over the whole run, and often while it writes
    let (total, writes) = measure(&dir, &root, kver, &old);
    let (total2, writes2) = measure(&dir, &root, kver, &old);
    let total = (total + total2) / 2;
    let writes = writes.min(writes2);
    eprintln!("depmod run: {total:?}, first write at {writes:?}");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut delays: Vec<Duration> = Vec::new();
    for i in 0..KILLS {
        let u = f64::from((i / 2) as u32) + f64::from((rng.next() % 1000) as u32) / 1000.0;
        let frac = u / f64::from((KILLS / 2) as u32);
        let d = if i % 2 == 0 {
            total.mul_f64(frac)
        } else {
            let from = writes.saturating_sub(total / 20);
            from + total.saturating_sub(from).mul_f64(frac * 1.05)
        };
        delays.push(d);
    }

    let mut failures: Vec<String> = Vec::new();
    let mut mid_run = 0;
    let mut new_counts = vec![0usize; DEPMOD_OUTPUTS.len() + 1];
    let mut leftovers = 0;
    let mut caches = BTreeSet::new();
    let started = Instant::now();
    for (i, delay) in delays.iter().enumerate() {
        restore(&dir, &old);
        let mut child = depmod(&root, kver).spawn().unwrap();
        std::thread::sleep(*delay);
        if child.try_wait().unwrap().is_none() {
            mid_run += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let now = read_outputs(&dir);
        let mut n_new = 0;
        for ((n, cur), (a, b)) in DEPMOD_OUTPUTS.iter().zip(&now).zip(old.iter().zip(&new)) {
            if cur == b {
                n_new += usize::from(a != b);
            } else if cur != a {
                failures.push(format!(
                    "kill {i} after {delay:?}: {n} is neither old nor new ({} bytes)",
                    cur.as_ref().map_or(0, Vec::len)
                ));
            }
        }
        new_counts[n_new] += 1;
        match std::fs::read(dir.join(DEPMOD_CACHE)) {
            Ok(c) if !whole_cache(&c) => failures.push(format!(
                "kill {i} after {delay:?}: partial cache ({} bytes)",
                c.len()
            )),
            Ok(c) => {
                caches.insert(c);
            }
            Err(_) => failures.push(format!("kill {i} after {delay:?}: no cache")),
        }
        for e in entries(&dir) {
            if inputs.contains(&e) {
                continue;
            }
            if is_depmod_temp_name(&e) {
                leftovers += 1;
                let _ = std::fs::remove_file(dir.join(&e));
            } else {
                failures.push(format!("kill {i} after {delay:?}: stray file {e}"));
            }
        }
        let q = query(&o, &root, kver);
        if q != old_q && q != new_q {
            failures.push(format!(
                "kill {i} after {delay:?}: modprobe --show-depends gives neither the old nor the new answer: {q:?}"
            ));
        }
    }
    eprintln!(
        "{KILLS} kills in {:?}: {mid_run} while depmod ran; (outputs that differ between old and new, already new at the kill: number of kills) {:?}; {leftovers} temporary files left behind; {} different caches seen",
        started.elapsed(),
        new_counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .collect::<Vec<_>>(),
        caches.len()
    );
    // and finally a run to completion gives the new indexes
    restore(&dir, &old);
    assert!(depmod(&root, kver).status().unwrap().success());
    assert!(read_outputs(&dir) == new, "an uninterrupted run differs");
    let mut check = ours_depmod();
    check.arg("--check").arg("-b").arg(&root).arg(kver);
    let r = run(check);
    assert_eq!(
        (r.status, r.stdout.as_slice()),
        (Some(0), &b""[..]),
        "{r:?}"
    );

    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        mid_run >= KILLS / 2,
        "only {mid_run} of {KILLS} kills hit a running depmod"
    );
}

//! The loading tools on Debian's real kernels under QEMU (`tests/vm/run.sh`).
//!
//! One run boots bookworm's 6.1 and trixie's 6.12 twice each (kmod 34.2, then the
//! static kmod-rs), runs the scenario scripts of `tests/vm/scenarios` and compares the
//! transcripts (`tests/vm/transcript.py`). This test then asserts what is certain
//! today:
//! * the harness itself works: kmod 34.2's transcript shows the expected results (loop
//!   loaded with max_loop=3 visible in /sys, the btrfs chain loaded and removed, the
//!   options from /etc/modprobe.d and the kernel command line, the refused variants);
//! * kmod-rs's depmod and modinfo steps, and the forced loads of the CRC scenario,
//!   match kmod 34.2's;
//! * kmod-rs refuses the module whose `__versions` CRC of a dependency's symbol was
//!   flipped itself, before the syscall (its message with both CRCs; not loaded; the
//!   kernel log says nothing about it), where kmod's transcript shows the kernel's
//!   refusal;
//! * kmod-rs's load/unload cycles: all of them, no failure, nothing left.
//!
//! Needs root (apt installs qemu-system-x86, busybox-static, cpio, python3) and the
//! reference data (`scripts/fetch-reference.sh`). `KMOD_RS_SKIP_VM=1` skips it;
//! without qemu and without `KMOD_RS_REQUIRE_ORACLE` it skips too.
//! `KMOD_RS_VM_CYCLES` sets kmod-rs's load/unload cycles (default 1000; kmod 34.2 runs
//! `KMOD_RS_VM_REF_CYCLES`, default 100, see `tests/vm/run.sh`);
//! `KMOD_RS_VM_REQUIRE_ALL=1` makes every compared step count, not only depmod/modinfo.

use crate::support::cache_dir;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One recorded step.
#[derive(Debug, Default, Clone)]
struct Step {
    out: String,
    err: String,
    kmsg: String,
    rc: Option<i32>,
    complete: bool,
}

/// A parsed transcript (format: tests/vm/guest/lib.sh).
#[derive(Debug, Default)]
struct Transcript {
    steps: HashMap<String, Step>,
    done: bool,
}

fn parse(path: &Path) -> Transcript {
    let raw = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&raw).replace('\r', "");
    let mut t = Transcript::default();
    let mut cur: Option<String> = None;
    let mut section: Option<&'static str> = None;
    let mut buf: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        if line.starts_with("@@@") && !line.starts_with("@@@TIME ") {
            if let (Some(id), Some(sec)) = (&cur, section) {
                let s = t.steps.get_mut(id).unwrap();
                let joined = buf.join("\n");
                match sec {
                    "out" => s.out = joined,
                    "err" => s.err = joined,
                    _ => s.kmsg = joined,
                }
            }
            buf.clear();
            section = None;
        }
        if let Some(rest) = line.strip_prefix("@@@STEP ") {
            let id = rest.split(' ').next().unwrap_or_default().to_string();
            t.steps.insert(id.clone(), Step::default());
            cur = Some(id);
        } else if line.starts_with("@@@DONE") {
            t.done = true;
        } else if line == "@@@OUT" {
            section = Some("out");
        } else if line == "@@@ERR" {
            section = Some("err");
        } else if line == "@@@KMSG" {
            section = Some("kmsg");
        } else if let Some(rc) = line.strip_prefix("@@@RC ") {
            if let Some(id) = &cur {
                t.steps.get_mut(id).unwrap().rc = rc.trim().parse().ok();
            }
        } else if line == "@@@END" {
            if let Some(id) = &cur {
                t.steps.get_mut(id).unwrap().complete = true;
            }
        } else if section.is_some() {
            buf.push(line);
        }
    }
    t
}

/// Collects failed expectations for one tree.
struct Checker<'a> {
    tree: &'a str,
    t: &'a Transcript,
    failures: Vec<String>,
}

impl Checker<'_> {
    fn step(&mut self, id: &str) -> Option<Step> {
        match self.t.steps.get(id) {
            Some(s) if s.complete => Some(s.clone()),
            _ => {
                self.failures
                    .push(format!("{}: step {id} missing or incomplete", self.tree));
                None
            }
        }
    }

    fn expect(&mut self, id: &str, what: &str, ok: impl FnOnce(&Step) -> bool) {
        if let Some(s) = self.step(id)
            && !ok(&s)
        {
            self.failures.push(format!(
                "{}: step {id}: expected {what}; got exit {:?}\n  stdout: {:?}\n  stderr: {:?}",
                self.tree, s.rc, s.out, s.err
            ));
        }
    }

    fn rc(&mut self, id: &str, rc: i32) {
        self.expect(id, &format!("exit {rc}"), |s| s.rc == Some(rc));
    }

    fn out_is(&mut self, id: &str, rc: i32, out: &str) {
        self.expect(id, &format!("exit {rc} and stdout {out:?}"), |s| {
            s.rc == Some(rc) && s.out == out
        });
    }

    fn out_has(&mut self, id: &str, rc: i32, needle: &str) {
        self.expect(
            id,
            &format!("exit {rc} and stdout containing {needle:?}"),
            |s| s.rc == Some(rc) && s.out.contains(needle),
        );
    }

    fn err_has(&mut self, id: &str, rc: i32, needle: &str) {
        self.expect(
            id,
            &format!("exit {rc} and stderr containing {needle:?}"),
            |s| s.rc == Some(rc) && s.err.contains(needle),
        );
    }

    /// The modules listed by the step's last `loaded:` line (`eval "$names"`).
    fn names(&mut self, id: &str) -> Vec<String> {
        self.step(id)
            .and_then(|s| {
                s.out
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("loaded:"))
                    .map(|l| l.split_whitespace().map(str::to_string).collect())
            })
            .unwrap_or_default()
    }

    fn loaded(&mut self, id: &str, rc: i32, present: &[&str], absent: &[&str]) {
        let names = self.names(id);
        let Some(s) = self.step(id) else { return };
        let bad_present: Vec<&&str> = present
            .iter()
            .filter(|m| !names.iter().any(|n| n == *m))
            .collect();
        let bad_absent: Vec<&&str> = absent
            .iter()
            .filter(|m| names.iter().any(|n| n == *m))
            .collect();
        if s.rc != Some(rc) || !bad_present.is_empty() || !bad_absent.is_empty() {
            self.failures.push(format!(
                "{}: step {id}: expected exit {rc}, loaded {present:?}, not loaded {absent:?}; \
                 got exit {:?}, loaded {names:?}\n  stderr: {:?}",
                self.tree, s.rc, s.err
            ));
        }
    }
}

fn params(dir: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(dir.join("params")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

fn name_of(path: &str) -> String {
    crate::support::modname_of(path)
}

/// What kmod 34.2's run must show: validates the harness and the scenarios.
fn check_reference(tree: &str, dir: &Path, kernel_decompresses: bool) -> Vec<String> {
    let t = parse(&dir.join("ref/transcript.txt"));
    let p = params(dir);
    let mut c = Checker {
        tree,
        t: &t,
        failures: Vec::new(),
    };
    if !t.done {
        c.failures
            .push(format!("{tree}: kmod 34.2's transcript is incomplete"));
    }
    let kver = p.get("KVER").cloned().unwrap_or_default();
    c.out_is("uname", 0, &format!("{kver}\n"));
    if kernel_decompresses {
        c.out_is("module-compression", 0, "xz\n");
    }
    c.out_is("cmdline", 0, "loop.max_part=7\n");
    c.out_is("proc-modules-empty", 0, "");
    // depmod in the guest gives what kmod 34.2's depmod gives on the host
    c.rc("depmod-a", 0);
    c.expect("depmod-vs-host", "every index same as the host's", |s| {
        s.rc == Some(0) && s.out.lines().count() == 11 && !s.out.contains("DIFFERS")
    });
    c.out_is("depmod-A-uptodate", 0, "unchanged\n");
    c.out_has("depmod-A-newer", 0, "fresh\n");
    // insmod / lsmod / rmmod
    c.out_is("insmod-loop", 0, "");
    c.out_is("loop-params", 0, "3\n0\n");
    c.out_has("lsmod", 0, "\nloop ");
    c.err_has("insmod-loop-again", 1, "File exists");
    c.out_is("rmmod-loop", 0, "0\n");
    c.err_has("rmmod-loop-again", 1, "not currently loaded");
    c.rc("insmod-missing-file", 1);
    // modprobe: options from test.conf and from the kernel command line
    c.out_is("modprobe-loop", 0, "");
    c.out_is("modprobe-loop-params", 0, "5\n7\n");
    c.rc("modprobe-first-time-loaded", 1);
    c.rc("modprobe-loaded-again", 0);
    c.loaded("modprobe-r-loop", 0, &[], &["loop"]);
    c.rc("first-time-1", 0);
    c.err_has("first-time-2", 1, "already in kernel");
    c.loaded("char-major", 0, &["loop"], &[]);
    c.loaded("char-major-r", 0, &[], &["loop"]);
    // the btrfs chain, from modinfo's view of its dependencies
    let deps: Vec<String> = c
        .step("modinfo-F-depends")
        .map(|s| {
            s.out
                .trim()
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if deps.is_empty() {
        c.failures
            .push(format!("{tree}: modinfo -F depends btrfs gave nothing"));
    }
    let mut chain: Vec<&str> = deps.iter().map(String::as_str).collect();
    chain.push("btrfs");
    c.loaded("dry-run", 0, &[], &chain);
    c.loaded("btrfs", 0, &chain, &[]);
    c.out_is("btrfs-again", 0, "");
    let inuse = p.get("INUSE").cloned().unwrap_or_default();
    c.err_has("rmmod-in-use", 1, "in use");
    c.err_has("modprobe-r-in-use", 1, "in use");
    c.loaded("btrfs-r", 0, &[], &chain);
    if !deps.contains(&inuse) {
        c.failures
            .push(format!("{tree}: INUSE={inuse} is not a btrfs dependency"));
    }
    c.loaded("fs-vfat", 0, &["vfat", "fat"], &[]);
    c.loaded("fs-vfat-r", 0, &[], &["vfat", "fat"]);
    let pci_mod = p.get("PCI_MOD").cloned().unwrap_or_default();
    let pci_dep = name_of(p.get("PCI_DEP").map_or("", String::as_str));
    c.loaded("pci-alias", 0, &[&pci_mod, &pci_dep], &[]);
    c.loaded("pci-alias-r", 0, &[], &[&pci_mod, &pci_dep]);
    c.rc("builtin", 0);
    c.err_has("builtin-r", 1, "builtin");
    c.err_has("builtin-rmmod", 1, "builtin");
    c.err_has("modprobe-missing", 1, "not found");
    c.out_is("modprobe-q-missing", 1, "");
    c.loaded("kernel-request", 0, &["dummy"], &[]);
    // configuration: install/remove commands, softdep, blacklist
    c.out_has("install-cmd", 0, "installing dummy\n");
    c.loaded("install-cmd", 0, &["dummy"], &[]);
    c.out_has("remove-cmd", 0, "removing dummy\n");
    c.loaded("remove-cmd", 0, &[], &["dummy"]);
    c.loaded("softdep", 0, &["brd", "loop"], &[]);
    c.expect("softdep", "loop inserted before brd", |s| {
        let l = s.out.find("/loop.ko");
        let b = s.out.find("/brd.ko");
        matches!((l, b), (Some(l), Some(b)) if l < b)
    });
    c.loaded("softdep-r", 0, &[], &["brd"]);
    c.loaded("blacklist-alias", 0, &[], &[&pci_mod]);
    c.loaded("blacklist-b-alias", 0, &[], &[&pci_mod]);
    c.loaded("blacklist-b-name", 0, &[], &[&pci_mod]);
    c.loaded("blacklist-name", 0, &[&pci_mod], &[]);
    c.loaded("config-alias", 0, &["loop"], &[]);
    c.out_has("config-options-cmdline", 0, "2\n7\n");
    // compressed copies of dummy
    for v in ["dummy.ko", "dummy-kbuild.ko.xz", "dummy.ko.zst"] {
        c.out_has(&format!("insmod-{v}"), 0, "dummy ");
    }
    // kmod 34.2 refuses a zstd frame without its content size, has no zlib (Debian's
    // build), and the 6.12 kernel refuses xz's default CRC64 check
    c.err_has("insmod-dummy-pipe.ko.zst", 1, "decompression size");
    c.rc("insmod-dummy.ko.gz", 1);
    c.rc("insmod-dummy-crc64.ko.xz", i32::from(kernel_decompresses));
    c.out_has("insmod-tree-dummy", 0, "dummy ");
    // broken copies are refused; the unsigned control loads
    c.err_has("insmod-bad-vermagic", 1, "Invalid module format");
    c.err_has("insmod-bad-layout-crc", 1, "Invalid module format");
    // the flipped CRC of a dependency's symbol: the kernel refuses it
    let crc_mod = p.get("CRC_MOD").cloned().unwrap_or_default();
    let crc_dep = p.get("CRC_DEP").cloned().unwrap_or_default();
    let crc_sym = p.get("CRC_SYM").cloned().unwrap_or_default();
    c.loaded("crc-dep", 0, &[&crc_dep], &[&crc_mod]);
    let kernel_refused = format!("disagrees about version of symbol {crc_sym}");
    for id in ["insmod-bad-crc", "modprobe-bad-crc"] {
        c.expect(
            id,
            &format!("exit 1, not loaded, kernel log {kernel_refused:?}"),
            |s| s.rc == Some(1) && s.out == "0\n" && s.kmsg.contains(&kernel_refused),
        );
    }
    c.out_has("insmod-force-crc", 0, &format!("{crc_mod} "));
    c.out_has("modprobe-force-modversion", 0, &format!("{crc_mod} "));
    c.loaded("crc-dep-r", 0, &[], &[&crc_dep, &crc_mod]);
    c.out_has("insmod-unsigned", 0, "dummy ");
    // stress
    c.expect("parallel-8", "8 exits 0 and one loop", |s| {
        s.rc == Some(0)
            && s.out.matches(": exit 0\n").count() == 8
            && s.out.contains("instances: 1\n")
    });
    c.expect("cycles", "no failure, nothing left", |s| {
        s.rc == Some(0) && s.out.contains("failures: 0 left: 0\n")
    });
    // a dependency's file missing
    c.rc("missing-dep", 1);
    // kmod 34.2 has no --json
    c.err_has("btrfs-lsmod-json", 1, "unrecognized option '--json'");
    c.failures
}

/// What kmod-rs's run must show beyond kmod (its own refusals before the syscall,
/// the cycles), and the steps where it must give kmod 34.2's transcript.
fn check_ours(tree: &str, dir: &Path, cycles: &str) -> Vec<String> {
    let t = parse(&dir.join("ours/transcript.txt"));
    let p = params(dir);
    let mut c = Checker {
        tree,
        t: &t,
        failures: Vec::new(),
    };
    if !t.done {
        c.failures
            .push(format!("{tree}: kmod-rs's transcript is incomplete"));
    }
    // The flipped CRC of a symbol of a loaded dependency: refused by our check, with
    // module, symbol and both CRCs, and no syscall (not loaded, nothing in the kernel
    // log about it).
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let (crc_mod, sym) = (get("CRC_MOD"), get("CRC_SYM"));
    let reason = format!(
        "disagrees about version of symbol {sym} (module {}, kernel {})",
        get("CRC_BAD"),
        get("CRC_GOOD")
    );
    let want = [
        (
            "insmod-bad-crc",
            format!(
                "insmod: ERROR: could not insert module /variants/{crc_mod}-badcrc.ko: {reason}\n"
            ),
        ),
        (
            "modprobe-bad-crc",
            format!("modprobe: ERROR: could not insert '{crc_mod}_badcrc': {reason}\n"),
        ),
    ];
    for (id, err) in want {
        c.expect(
            id,
            &format!("exit 1, not loaded, no syscall, stderr {err:?}"),
            |s| s.rc == Some(1) && s.out == "0\n" && s.err == err && !s.kmsg.contains(&sym),
        );
    }
    c.expect(
        "cycles",
        &format!("{cycles} cycles, no failure, nothing left"),
        |s| {
            s.rc == Some(0)
                && s.out.contains("failures: 0 left: 0\n")
                && s.out.contains(&format!("@@@TIME cycles={cycles} "))
        },
    );
    // lsmod --json on the real kernel: the table's rows, as data
    if let (Some(table), Some(json)) = (c.step("btrfs-lsmod"), c.step("btrfs-lsmod-json")) {
        if let Some(e) = lsmod_json_matches(&table.out, &json) {
            c.failures
                .push(format!("{tree}: step btrfs-lsmod-json: {e}"));
        }
        // the transcript keeps the output's final newline
        let mut doc = json.out.clone().into_bytes();
        if !doc.ends_with(b"\n") {
            doc.push(b'\n');
        }
        crate::support::schema::validate("lsmod", &[(format!("{tree} lsmod --json"), doc)]);
    }
    let mut failures = c.failures;
    let tsv = std::fs::read_to_string(dir.join("summary.tsv")).unwrap_or_default();
    let status: HashMap<&str, &str> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4).then(|| (f[0], f[3]))
        })
        .collect();
    let must_match = [
        "uname",
        "module-compression",
        "cmdline",
        "proc-modules-empty",
        "ls-before",
        "depmod-a",
        "depmod-files",
        "depmod-vs-host",
        "depmod-dep",
        "depmod-softdep",
        "depmod-devname",
        "depmod-A-uptodate",
        "depmod-A-newer",
        "depmod-kver",
        "modinfo-loop",
        "modinfo-F-depends",
        "modinfo-aliases",
        "modinfo-p",
        "modinfo-builtin",
        "modinfo-path",
        "modinfo-missing",
        "crc-dep",
        "insmod-force-crc",
        "modprobe-force-modversion",
        "crc-dep-r",
    ];
    // kmod-rs refuses these itself (or, --json, goes beyond kmod): they must differ from
    // kmod 34.2 (the kernel's refusal, an unknown option)
    for id in ["insmod-bad-crc", "modprobe-bad-crc", "btrfs-lsmod-json"] {
        let st = status.get(id).copied().unwrap_or("absent");
        if st != "expected-diff" {
            failures.push(format!(
                "{tree}: step {id}: expected kmod-rs to differ from kmod 34.2 (its own refusal), got {st}"
            ));
        }
    }
    let report = std::fs::read_to_string(dir.join("report.txt")).unwrap_or_default();
    // KMOD_RS_VM_REQUIRE_ALL=1: every compared step must match (expected-diff steps and
    // nocmp steps excepted), not only the depmod/modinfo ones.
    let all: Vec<&str> = if std::env::var_os("KMOD_RS_VM_REQUIRE_ALL").is_some() {
        status
            .iter()
            .filter(|(_, st)| !matches!(**st, "same" | "expected-diff" | "nocmp"))
            .map(|(id, _)| *id)
            .collect()
    } else {
        Vec::new()
    };
    for id in must_match.iter().copied().chain(all) {
        let st = status.get(id).copied().unwrap_or("absent");
        if st != "same" {
            let mut msg = format!("{tree}: step {id}: kmod-rs differs from kmod 34.2 ({st})");
            if let Some(i) = report.find(&format!("--- {id}: ")) {
                let tail = &report[i..];
                let end = tail[4..].find("\n--- ").map_or(tail.len(), |e| e + 4);
                let _ = write!(msg, "\n{}", &tail[..end.min(3000)]);
            }
            failures.push(msg);
        }
    }
    failures
}

/// Does `lsmod --json`'s document (step `json`) give the rows of the table `table`
/// (name, size, use count, holders), with a state and a file for each module? The
/// difference, if any.
fn lsmod_json_matches(table: &str, json: &Step) -> Option<String> {
    if json.rc != Some(0) || !json.err.is_empty() {
        return Some(format!("exit {:?}, stderr {:?}", json.rc, json.err));
    }
    let v: serde_json::Value = match serde_json::from_str(&json.out) {
        Ok(v) => v,
        Err(e) => return Some(format!("not JSON: {e}: {:?}", json.out)),
    };
    let rows: Vec<String> = table.lines().skip(1).map(str::to_string).collect();
    let modules = v["modules"].as_array().cloned().unwrap_or_default();
    if rows.len() != modules.len() || rows.is_empty() {
        return Some(format!("{} rows, {} modules", rows.len(), modules.len()));
    }
    for (row, m) in rows.iter().zip(&modules) {
        let f: Vec<&str> = row.split_whitespace().collect();
        let holders: Vec<String> = m["used_by"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .filter_map(|h| h.as_str().map(str::to_string))
            .collect();
        let want = (
            f.first().copied().unwrap_or_default().to_string(),
            f.get(1).copied().unwrap_or_default().to_string(),
            f.get(2).copied().unwrap_or_default().to_string(),
            f.get(3).copied().unwrap_or_default().to_string(),
        );
        let got = (
            m["name"].as_str().unwrap_or_default().to_string(),
            m["size"].to_string(),
            m["refcount"].to_string(),
            holders.join(","),
        );
        if want != got || m["state"] != "live" || !m["path"].is_string() {
            return Some(format!("row {row:?}, module {m}"));
        }
    }
    None
}

fn kernel_decompresses(cache: &Path, tree: &str) -> bool {
    let root = cache.join("trees").join(tree);
    let kver = std::fs::read_to_string(root.join("KVER")).unwrap_or_default();
    let config = std::fs::read_to_string(root.join(format!("boot/config-{}", kver.trim())))
        .unwrap_or_default();
    config.lines().any(|l| l == "CONFIG_MODULE_DECOMPRESS=y")
}

fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

#[test]
fn vm_real_kernels() {
    if std::env::var_os("KMOD_RS_SKIP_VM").is_some() {
        eprintln!("SKIP: KMOD_RS_SKIP_VM is set");
        return;
    }
    let require = std::env::var_os("KMOD_RS_REQUIRE_ORACLE").is_some();
    let cache = cache_dir();
    let trees = ["bookworm-amd64", "trixie-amd64"];
    let have_data = trees
        .iter()
        .all(|t| cache.join("trees").join(t).join("KVER").exists());
    if !require && (!have_data || !have("qemu-system-x86_64")) {
        eprintln!(
            "SKIP: no qemu-system-x86_64 or no reference trees (tests/vm/run.sh installs and fetches them)"
        );
        return;
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = repo.join("target/vm-test");
    let cycles = std::env::var("KMOD_RS_VM_CYCLES").unwrap_or_else(|_| "1000".into());
    let out = Command::new(repo.join("tests/vm/run.sh"))
        .env("KMOD_RS_CACHE", &cache)
        .env("KMOD_RS_VM_WORK", &work)
        .env("KMOD_RS_VM_TREES", trees.join(" "))
        .env("KMOD_RS_VM_IMPLS", "ref ours")
        .env("KMOD_RS_VM_CYCLES", &cycles)
        .env("KMOD_RS_VM_QUIET", "1")
        .env_remove("KMOD_RS_VM_SCENARIOS")
        .env_remove("KMOD_RS_VM_STRICT")
        .output()
        .expect("run tests/vm/run.sh");
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut failures = Vec::new();
    if !out.status.success() {
        failures.push(format!(
            "tests/vm/run.sh failed ({}): a VM did not finish; see {}/<tree>/<impl>/console.log",
            out.status,
            work.display()
        ));
    }
    for tree in trees {
        let dir = work.join(tree);
        failures.extend(check_reference(
            tree,
            &dir,
            kernel_decompresses(&cache, tree),
        ));
        failures.extend(check_ours(tree, &dir, &cycles));
    }
    assert!(
        failures.is_empty(),
        "{} failed expectations (transcripts under {}):\n{}",
        failures.len(),
        work.display(),
        failures.join("\n")
    );
}

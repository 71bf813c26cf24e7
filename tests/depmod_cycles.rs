//! depmod's report of dependency cycles compared with kmod 34.2 on synthetic trees
//! with several overlapping cycles: which cycles are reported, from which module
//! each starts, in which order, and the count of modules in cycles. kmod's list of
//! candidate roots rotates as modules are taken off it, which decides where a cycle
//! starts: trees with two-, three- and four-module cycles sharing modules, and
//! seeded random dependency graphs, exercise it.

use crate::depmod_synthetic::{KVER, M, compare_depmod, m, write_tree};
use crate::support::*;
use object::{Architecture, Endianness};
use std::path::Path;
use std::process::Command;

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_all(v: Vec<String>) -> &'static [&'static str] {
    Box::leak(
        v.into_iter()
            .map(leak)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// A module `name` exporting `sym_<name>` and needing `sym_<n>` for each of `needs`.
fn module(dir: &str, name: &str, needs: &[&str]) -> M {
    m(
        leak(format!("kernel/{dir}/{name}.ko")),
        leak_all(vec![format!("sym_{name}")]),
        leak_all(needs.iter().map(|n| format!("sym_{n}")).collect()),
    )
}

/// Hand-made trees on which kmod's report ends, in `modules.order` order.
fn fixed_trees() -> Vec<(&'static str, Vec<M>)> {
    let tree = |spec: &[(&str, &[&str])]| -> Vec<M> {
        spec.iter()
            .map(|(n, needs)| module("cyc", n, needs))
            .collect()
    };
    vec![
        (
            // a two-, a three- and a four-module cycle, interleaved
            "interleaved",
            tree(&[
                ("c3", &["a3"]),
                ("a2", &["b2"]),
                ("b4", &["c4"]),
                ("a3", &["b3"]),
                ("d4", &["a4"]),
                ("b2", &["a2"]),
                ("b3", &["c3"]),
                ("a4", &["b4"]),
                ("c4", &["d4"]),
            ]),
        ),
        (
            // one module in a two-, a three- and a four-module cycle
            "hub",
            tree(&[
                ("hub", &["p", "q", "r"]),
                ("r3", &["hub"]),
                ("p", &["hub"]),
                ("q", &["q2"]),
                ("r", &["r2"]),
                ("q2", &["hub"]),
                ("r2", &["r3"]),
                ("user", &["hub", "p"]),
            ]),
        ),
        (
            // cycles with branches after them (modules they need, in no cycle)
            "branches",
            tree(&[
                ("leaf", &[]),
                ("b", &["c", "leaf"]),
                ("x", &["y"]),
                ("c", &["a", "mid"]),
                ("a", &["b"]),
                ("mid", &["leaf"]),
                ("y", &["x", "mid"]),
                ("top", &["a", "x"]),
            ]),
        ),
        (
            // two cycles through the same pair of modules
            "double",
            tree(&[
                ("m1", &["m2", "m3"]),
                ("m2", &["m1"]),
                ("m3", &["m2"]),
                ("n1", &["n2"]),
                ("n2", &["n1"]),
            ]),
        ),
    ]
}

/// A random tree kmod's report ends on: disjoint cycles of two to five modules,
/// modules outside them needing cycle members or each other (acyclic), all in a
/// random `modules.order` order.
fn random_disjoint(rng: &mut Rng) -> Vec<M> {
    let mut specs: Vec<(String, Vec<String>)> = Vec::new();
    for c in 0..=(rng.next() % 4) {
        let len = 2 + rng.next() % 4;
        for i in 0..len {
            let next = (i + 1) % len;
            specs.push((format!("c{c}_{i}"), vec![format!("c{c}_{next}")]));
        }
    }
    let members = specs.len();
    for u in 0..rng.next() % 4 {
        let mut needs = Vec::new();
        for _ in 0..=(rng.next() % 2) {
            needs.push(specs[(rng.next() % specs.len() as u64) as usize].0.clone());
        }
        specs.push((format!("u{u}"), needs));
    }
    // a random order
    for i in (1..specs.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        specs.swap(i, j);
    }
    assert!(members >= 2);
    specs
        .iter()
        .map(|(n, needs)| {
            let needs: Vec<&str> = needs.iter().map(String::as_str).collect();
            module("rnd", n, &needs)
        })
        .collect()
}

/// A random dependency graph of 3 to 12 modules, most with one to three needs
/// (kmod's report does not end on some of them).
fn random_tree(rng: &mut Rng) -> Vec<M> {
    let n = 3 + (rng.next() % 10) as usize;
    (0..n)
        .map(|i| {
            let mut needs: Vec<String> = Vec::new();
            for _ in 0..rng.next() % 4 {
                let d = (rng.next() % n as u64) as usize;
                let s = format!("m{d}");
                if d != i && !needs.contains(&s) {
                    needs.push(s);
                }
            }
            let needs: Vec<&str> = needs.iter().map(String::as_str).collect();
            module("rnd", &format!("m{i}"), &needs)
        })
        .collect()
}

/// Write `tree` under `root` with a `modules.order` listing it in order.
fn write_ordered(root: &Path, tree: &[M]) {
    write_tree(root, tree, Architecture::X86_64, Endianness::Little);
    let order: String = tree.iter().flat_map(|m| [m.path, "\n"]).collect();
    let dir = root.join("lib/modules").join(KVER);
    std::fs::write(dir.join("modules.order"), order).unwrap();
}

/// Whether the modules' needs form a cycle (Kahn's algorithm leaves some behind).
fn has_cycle(tree: &[M]) -> bool {
    let provider = |sym: &str| tree.iter().position(|m| m.exports.contains(&sym));
    let deps: Vec<Vec<usize>> = tree
        .iter()
        .map(|m| m.needs.iter().filter_map(|s| provider(s)).collect())
        .collect();
    let mut users = vec![0usize; tree.len()];
    for ds in &deps {
        for &d in ds {
            users[d] += 1;
        }
    }
    let mut free: Vec<usize> = (0..tree.len()).filter(|&i| users[i] == 0).collect();
    let mut done = 0;
    while let Some(i) = free.pop() {
        done += 1;
        for &d in &deps[i] {
            users[d] -= 1;
            if users[d] == 0 {
                free.push(d);
            }
        }
    }
    done < tree.len()
}

/// depmod with bounds: 512 MiB of address space, 5 seconds (kmod's search from a
/// root that reaches a cycle without that root never ends, or aborts on its stack
/// assertion).
fn bounded(depmod: &Path, root: &Path) -> Run {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("ulimit -v 524288; exec timeout -s KILL 5 \"$@\"")
        .arg("sh")
        .arg(depmod)
        .arg("-b")
        .arg(root)
        .arg(KVER);
    let mut r = run(c);
    let rs = root.to_str().unwrap().as_bytes();
    r.stderr = replace(&r.stderr, rs, b"<ROOT>");
    r
}

/// Compare both depmods on `root` (which must have a cycle); `false` when kmod gave
/// no answer (killed, aborted): then ours must still end with the count line.
fn compare_cycles(o: &Oracle, d: &mut Diffs, what: &str, root: &Path) -> bool {
    let k = bounded(&o.bin.join("depmod"), root);
    // our binary called `depmod` (through a link: `timeout` keeps no argv[0])
    let link = root.with_extension("depmod");
    let _ = std::fs::remove_dir_all(&link);
    std::fs::create_dir_all(&link).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kmod"), link.join("depmod")).unwrap();
    let u = bounded(&link.join("depmod"), root);
    let answered = k.status == Some(1) && k.stderr.ends_with(b" modules in dependency cycles!\n");
    if answered {
        d.check(what, &k, &u);
    } else {
        let done = u.status == Some(1)
            && u.stderr.ends_with(b" modules in dependency cycles!\n")
            && u.stderr.starts_with(b"depmod: ERROR: Cycle detected: ");
        let ours_ok = Run {
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: Some(i32::from(done)),
        };
        let expected = Run {
            status: Some(1),
            ..ours_ok.clone()
        };
        d.check(
            &format!("{what} (kmod gives no answer)"),
            &expected,
            &ours_ok,
        );
    }
    answered
}

#[test]
fn oracle_depmod_overlapping_cycles() {
    let Some(o) = Oracle::get() else { return };
    let mut d = Diffs::default();
    let tmp = TempDir::new("dcyc");
    for (name, mut tree) in fixed_trees() {
        let root = tmp.path().join(name);
        write_ordered(&root, &tree);
        assert!(
            compare_cycles(&o, &mut d, name, &root),
            "{name}: kmod gives no answer"
        );
        let _ = std::fs::remove_dir_all(&root);
        // the first module stays the first root: kmod's report ends from there
        tree[1..].reverse();
        write_ordered(&root, &tree);
        let what = format!("{name} (the rest reversed)");
        assert!(
            compare_cycles(&o, &mut d, &what, &root),
            "{what}: kmod gives no answer"
        );
    }
    let mut rng = Rng(0x6379_636c_6573_2121);
    for k in 0..40 {
        let root = tmp.path().join(format!("disjoint{k}"));
        write_ordered(&root, &random_disjoint(&mut rng));
        let what = format!("random disjoint cycles {k}");
        assert!(
            compare_cycles(&o, &mut d, &what, &root),
            "{what}: kmod gives no answer"
        );
    }
    // any graph: where kmod never ends, ours still reports and ends
    let (mut cyclic, mut answered) = (0, 0);
    for k in 0..30 {
        let root = tmp.path().join(format!("random{k}"));
        let tree = random_tree(&mut rng);
        write_ordered(&root, &tree);
        if has_cycle(&tree) {
            cyclic += 1;
            let what = format!("random graph {k}");
            answered += usize::from(compare_cycles(&o, &mut d, &what, &root));
        } else {
            compare_depmod(&o, &mut d, &format!("random graph {k}"), &root, &[KVER]);
        }
    }
    eprintln!("random graphs: {cyclic} with cycles, kmod answered {answered}");
    d.finish("depmod cycle reports");
    crate::support::schema::validate_pending();
}

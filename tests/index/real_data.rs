//! The index reader against the indexes of real module trees written by kmod 34.2's
//! depmod: every `modules.dep` line found by exact lookup, the module priorities,
//! the text outputs rebuilt into byte-identical indexes, a resolver over the five
//! indexes that answers like `modprobe -R` for every alias pattern, instantiated
//! aliases, symbols, builtin names and module names (compared with kmod 34.2's
//! `modprobe -R`), and `modprobe -c`'s index dumps.

use super::Rng;
use crate::support::{Oracle, TempDir, indexed_copy};
use libkmod_rs::index::{Index, IndexBuilder};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&c| c == b'\n').filter(|l| !l.is_empty())
}

/// kmod's `alias_normalize`: `-` becomes `_` outside brackets; an unmatched
/// bracket is an error.
fn alias_normalize(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() && s[i] != 0 {
        match s[i] {
            b'-' => out.push(b'_'),
            b']' => return None,
            b'[' => {
                while i < s.len() && s[i] != b']' && s[i] != 0 {
                    out.push(s[i]);
                    i += 1;
                }
                if s.get(i) != Some(&b']') {
                    return None;
                }
                out.push(b']');
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// kmod's `path_to_modname`: the base name up to its first `.`, `-` as `_`.
fn modname(path: &[u8]) -> Vec<u8> {
    let base = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    base.iter()
        .take_while(|&&c| c != b'.')
        .map(|&c| if c == b'-' { b'_' } else { c })
        .collect()
}

/// Split "alias KEY MODNAME" lines.
fn alias_lines(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    lines(data)
        .filter(|l| l.starts_with(b"alias "))
        .map(|l| {
            let rest = &l[6..];
            let sp = rest.iter().rposition(|&c| c == b' ').expect("alias line");
            (&rest[..sp], &rest[sp + 1..])
        })
        .collect()
}

/// Records `modname.key=value` of modules.builtin.modinfo with key `alias`.
fn builtin_aliases(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    data.split(|&c| c == 0)
        .filter_map(|rec| {
            let dot = rec.iter().position(|&c| c == b'.')?;
            let eq = rec.iter().position(|&c| c == b'=')?;
            (eq > dot && &rec[dot + 1..eq] == b"alias" && eq + 1 < rec.len())
                .then(|| (rec[..dot].to_vec(), rec[eq + 1..].to_vec()))
        })
        .collect()
}

/// A plain string the pattern (probably) matches, with some noise.
fn instantiate(pat: &[u8], rng: &mut Rng) -> Vec<u8> {
    const FILL: [&[u8]; 6] = [b"", b"0", b"1A", b"00001234", b"abc", b"F00D"];
    let mut out = Vec::new();
    let mut i = 0;
    while i < pat.len() {
        match pat[i] {
            b'*' => out.extend_from_slice(FILL[rng.below(FILL.len())]),
            b'?' => out.push(b"0aZ9"[rng.below(4)]),
            b'[' => {
                let end = pat[i..]
                    .iter()
                    .position(|&c| c == b']')
                    .map_or(pat.len(), |e| i + e);
                let set = &pat[(i + 1).min(end)..end];
                let c = match set.first() {
                    Some(b'!' | b'^') | None => b'Z',
                    Some(&c) => c,
                };
                out.push(c);
                i = end;
            }
            c => out.push(c),
        }
        i += 1;
    }
    if rng.below(10) == 0 && !out.is_empty() {
        let at = rng.below(out.len());
        out[at] = b"0Ax_"[rng.below(4)];
    }
    out
}

/// Resolve like `modprobe -R` (without configuration): the module names.
struct Resolver<'a> {
    dep: Index<'a>,
    alias: Index<'a>,
    symbols: Index<'a>,
    builtin: Index<'a>,
    builtin_alias: Index<'a>,
}

impl Resolver<'_> {
    fn resolve(&self, query: &[u8]) -> Vec<Vec<u8>> {
        let Some(n) = alias_normalize(query) else {
            return Vec::new();
        };
        let names = |v: Vec<libkmod_rs::index::IndexValue<'_>>| -> Vec<Vec<u8>> {
            v.iter().map(|x| x.value.to_vec()).collect()
        };
        if !n.contains(&b':') && self.dep.lookup(&n).is_some() {
            return vec![n];
        }
        if n.starts_with(b"symbol:") {
            let r = names(self.symbols.search(&n));
            if !r.is_empty() {
                return r;
            }
        }
        let r = names(self.alias.search(&n));
        if !r.is_empty() {
            return r;
        }
        if self.builtin.lookup(&n).is_some() {
            return vec![n];
        }
        names(self.builtin_alias.search(&n))
    }
}

/// Run the reference `modprobe -R -a` over `queries`, separated by a
/// sentinel module name, and return each query's output lines.
fn modprobe_resolve(
    modprobe: &str,
    root: &Path,
    kver: &str,
    sentinel: &[u8],
    queries: &[Vec<u8>],
) -> Vec<Vec<Vec<u8>>> {
    use std::os::unix::ffi::OsStrExt;
    let mut results = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(1500) {
        let before = results.len();
        let mut cmd = Command::new(modprobe);
        cmd.arg("-d")
            .arg(root)
            .arg("-S")
            .arg(kver)
            .args(["-R", "-a", "--"]);
        for q in chunk {
            cmd.arg(std::ffi::OsStr::from_bytes(q));
            cmd.arg(std::ffi::OsStr::from_bytes(sentinel));
        }
        let out = cmd.output().expect("run modprobe");
        let mut current = Vec::new();
        for line in out.stdout.split(|&c| c == b'\n') {
            if line == sentinel {
                results.push(std::mem::take(&mut current));
            } else if !line.is_empty() {
                current.push(line.to_vec());
            }
        }
        assert_eq!(
            results.len() - before,
            chunk.len(),
            "modprobe output out of step"
        );
    }
    assert_eq!(results.len(), queries.len());
    results
}

#[test]
fn real_module_trees() {
    let Some(o) = Oracle::get() else { return };
    let tmp = TempDir::new("index-real");
    let modprobe = o.bin.join("modprobe").to_string_lossy().into_owned();
    for name in ["bookworm-amd64", "trixie-amd64"] {
        let t = o.tree(name);
        let dir = indexed_copy(&o, t, tmp.path())
            .join("lib/modules")
            .join(&t.kver);
        let report = real_module_tree(&dir, &modprobe);
        eprintln!("{name}:\n{report}");
    }
}

/// The checks on one module directory indexed by kmod; what was compared.
fn real_module_tree(dir: &Path, modprobe: &str) -> String {
    let mut report = String::new();
    let dep_txt = read(dir, "modules.dep");
    let dep_bin = read(dir, "modules.dep.bin");
    let alias_txt = read(dir, "modules.alias");
    let alias_bin = read(dir, "modules.alias.bin");
    let sym_txt = read(dir, "modules.symbols");
    let sym_bin = read(dir, "modules.symbols.bin");
    let builtin_txt = read(dir, "modules.builtin");
    let builtin_bin = read(dir, "modules.builtin.bin");
    let modinfo = read(dir, "modules.builtin.modinfo");
    let builtin_alias_bin = read(dir, "modules.builtin.alias.bin");

    // (1) exact lookups of every module in modules.dep, and the module
    // indexes (= priorities) from the line order.
    let dep = Index::new(&dep_bin).unwrap();
    let mut idx_of: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut rebuilt = IndexBuilder::new();
    for (i, line) in lines(&dep_txt).enumerate() {
        let colon = line.iter().position(|&c| c == b':').unwrap();
        let name = modname(&line[..colon]);
        assert_eq!(
            dep.lookup(&name),
            Some(line),
            "{}",
            String::from_utf8_lossy(&name)
        );
        let all = dep.lookup_all(&name);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].priority, i as u32);
        idx_of.insert(name.clone(), i as u32);
        rebuilt.insert(&name, line, i as u32).unwrap();
    }
    assert!(
        rebuilt.to_bytes().unwrap() == dep_bin,
        "modules.dep.bin differs"
    );
    let _ = writeln!(
        report,
        "modules.dep: {} lookups ok, rebuilt byte-identical ({} bytes)",
        idx_of.len(),
        dep_bin.len()
    );

    // (3) rebuild the other indexes the way depmod inserts.
    let aliases = alias_lines(&alias_txt);
    let mut b = IndexBuilder::new();
    let mut skipped = 0;
    for (pat, module) in &aliases {
        match alias_normalize(pat) {
            Some(n) => {
                b.insert(&n, module, idx_of[*module]).unwrap();
            }
            None => skipped += 1,
        }
    }
    assert!(
        b.to_bytes().unwrap() == alias_bin,
        "modules.alias.bin differs"
    );
    let _ = writeln!(
        report,
        "modules.alias.bin: rebuilt byte-identical from {} aliases ({skipped} skipped as depmod does, {} bytes)",
        aliases.len(),
        alias_bin.len()
    );
    let symbols = alias_lines(&sym_txt);
    let mut b = IndexBuilder::new();
    for (sym, module) in &symbols {
        b.insert(sym, module, idx_of[*module]).unwrap();
    }
    assert!(
        b.to_bytes().unwrap() == sym_bin,
        "modules.symbols.bin differs"
    );
    let _ = writeln!(
        report,
        "modules.symbols.bin: rebuilt byte-identical from {} symbols ({} bytes)",
        symbols.len(),
        sym_bin.len()
    );
    let mut b = IndexBuilder::new();
    let mut builtin_names = Vec::new();
    for line in lines(&builtin_txt) {
        let name = modname(line);
        b.insert(&name, b"", 0).unwrap();
        builtin_names.push(name);
    }
    assert!(
        b.to_bytes().unwrap() == builtin_bin,
        "modules.builtin.bin differs"
    );
    let baliases = builtin_aliases(&modinfo);
    let mut b = IndexBuilder::new();
    for (module, alias) in &baliases {
        if let Some(n) = alias_normalize(alias) {
            b.insert(&n, module, 0).unwrap();
        }
    }
    assert!(
        b.to_bytes().unwrap() == builtin_alias_bin,
        "modules.builtin.alias.bin differs"
    );
    let _ = writeln!(
        report,
        "modules.builtin.bin ({} names) and modules.builtin.alias.bin ({} aliases): rebuilt byte-identical",
        builtin_names.len(),
        baliases.len()
    );

    // Dumps and re-serialisation through a walk of kmod's files.
    for (name, data) in [
        ("modules.dep.bin", &dep_bin),
        ("modules.alias.bin", &alias_bin),
        ("modules.symbols.bin", &sym_bin),
        ("modules.builtin.bin", &builtin_bin),
        ("modules.builtin.alias.bin", &builtin_alias_bin),
    ] {
        let idx = Index::new(data).unwrap();
        let mut entries = Vec::new();
        idx.for_each(|k, v| entries.push((k.to_vec(), v.priority, v.value.to_vec())));
        // Values of one key are stored sorted, equal priorities newest
        // first: inserting them in reverse stored order reproduces them.
        let mut b = IndexBuilder::new();
        for (k, p, v) in entries.iter().rev() {
            b.insert(k, v, *p).unwrap();
        }
        assert!(
            b.to_bytes().unwrap() == **data,
            "{name}: re-serialised walk differs"
        );
        let _ = writeln!(
            report,
            "{name}: walk of {} entries re-serialises byte-identical",
            entries.len()
        );
    }

    let resolver = Resolver {
        dep,
        alias: Index::new(&alias_bin).unwrap(),
        symbols: Index::new(&sym_bin).unwrap(),
        builtin: Index::new(&builtin_bin).unwrap(),
        builtin_alias: Index::new(&builtin_alias_bin).unwrap(),
    };

    // Self-consistency without the reference tool: every instantiated alias
    // finds its module.
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut queries: Vec<Vec<u8>> = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |q: Vec<u8>, queries: &mut Vec<Vec<u8>>| {
        if !q.is_empty()
            && q[0] != b'-'
            && q[0] != b'/'
            && !q.starts_with(b"./")
            && seen.insert(q.clone())
        {
            queries.push(q);
        }
    };
    for (pat, _) in &aliases {
        push(pat.to_vec(), &mut queries);
    }
    let n_patterns = queries.len();
    let mut inst = 0;
    while inst < 4000 {
        let (pat, _) = aliases[rng.below(aliases.len())];
        let before = queries.len();
        push(instantiate(pat, &mut rng), &mut queries);
        inst += queries.len() - before;
    }
    for (_, alias) in &baliases {
        push(alias.clone(), &mut queries);
        push(instantiate(alias, &mut rng), &mut queries);
    }
    for (sym, _) in &symbols {
        push(sym.to_vec(), &mut queries);
    }
    for name in builtin_names.iter().chain(idx_of.keys().take(500)) {
        push(name.clone(), &mut queries);
    }
    let ours: Vec<Vec<Vec<u8>>> = queries.iter().map(|q| resolver.resolve(q)).collect();
    let found = ours.iter().filter(|r| !r.is_empty()).count();
    let _ = writeln!(
        report,
        "queries: {} ({n_patterns} alias patterns, {inst} instantiated aliases, builtin aliases, {} symbols, module names); {found} resolve to something",
        queries.len(),
        symbols.len()
    );

    {
        let kver = dir.file_name().unwrap().to_string_lossy().into_owned();
        let root = dir
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .unwrap();
        // A module with no aliases and no exported symbols separates the
        // answers: it can only be printed when asked for by name.
        let mut excluded: HashSet<&[u8]> = aliases.iter().map(|a| a.1).collect();
        excluded.extend(symbols.iter().map(|s| s.1));
        let mut candidates: Vec<&Vec<u8>> = idx_of
            .keys()
            .filter(|k| !excluded.contains(&k[..]))
            .collect();
        candidates.sort();
        let sentinel = candidates[0].clone();
        let (q, o): (Vec<_>, Vec<_>) = queries
            .iter()
            .zip(&ours)
            .filter(|(q, _)| **q != sentinel)
            .unzip();
        let q: Vec<Vec<u8>> = q.into_iter().cloned().collect();
        let theirs = modprobe_resolve(modprobe, root, &kver, &sentinel, &q);
        let mut mismatches = Vec::new();
        for ((query, ours), theirs) in q.iter().zip(o).zip(&theirs) {
            if ours != theirs {
                mismatches.push(String::from_utf8_lossy(query).into_owned());
            }
        }
        let results: usize = theirs.iter().map(Vec::len).sum();
        // `modprobe -c` ends with the dumps of modules.alias.bin and
        // modules.symbols.bin.
        let out = Command::new(modprobe)
            .arg("-d")
            .arg(root)
            .arg("-S")
            .arg(&kver)
            .arg("-c")
            .output()
            .expect("run modprobe -c");
        let marker = b"# End of configuration files. Dumping indexes now:\n\n";
        let at = out
            .stdout
            .windows(marker.len())
            .position(|w| w == marker)
            .expect("dump marker");
        let mut dump = Vec::new();
        resolver.alias.dump_to(&mut dump, true).unwrap();
        resolver.symbols.dump_to(&mut dump, true).unwrap();
        assert!(
            out.stdout[at + marker.len()..] == dump[..],
            "modprobe -c dump differs"
        );
        let _ = writeln!(
            report,
            "modprobe -c index dump: {} bytes identical",
            dump.len()
        );
        let _ = writeln!(
            report,
            "modprobe -R comparison: {} queries, {results} module names printed by kmod, {} mismatches",
            q.len(),
            mismatches.len()
        );
        assert!(
            mismatches.is_empty(),
            "mismatches: {:?}",
            &mismatches[..mismatches.len().min(20)]
        );
    }
    report
}

//! Packaging: man pages (every option documented, `mandoc -T lint` clean), shell
//! completions (each script loads in its shell), `make install` / `make uninstall`.
//!
//! mandoc, zsh, fish and make are optional tools: when one is missing the test that
//! needs it skips, or fails if `KMOD_RS_REQUIRE_ORACLE` is set (as in CI).

use crate::support::TempDir;
use kmod_rs::completions::{self, SHELLS, Shell};
use kmod_rs::getopt::Opt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `prog` can be run; panics instead of returning false when the oracle
/// tools are required.
fn available(prog: &str) -> bool {
    let found = match Command::new(prog)
        .arg("-h")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    };
    if !found {
        assert!(
            std::env::var_os("KMOD_RS_REQUIRE_ORACLE").is_none(),
            "{prog} is required (KMOD_RS_REQUIRE_ORACLE is set) but not installed"
        );
        eprintln!("skipping: {prog} not installed");
    }
    found
}

/// Each man page with the options it must document.
fn pages() -> Vec<(&'static str, Vec<Opt<()>>)> {
    let table = |t: &str| completions::opts(t).unwrap();
    vec![
        ("kmod.8", [table("kmod"), table("static-nodes")].concat()),
        ("insmod.8", table("insmod")),
        ("rmmod.8", table("rmmod")),
        ("lsmod.8", table("lsmod")),
        ("modprobe.8", table("modprobe")),
        ("depmod.8", table("depmod")),
        ("modinfo.8", table("modinfo")),
    ]
}

const ALL_PAGES: &[&str] = &[
    "kmod.8",
    "insmod.8",
    "rmmod.8",
    "lsmod.8",
    "modprobe.8",
    "depmod.8",
    "modinfo.8",
    "modprobe.d.5",
    "depmod.d.5",
    "modules.dep.5",
];

/// The page's text with font escapes removed and `\-` turned into `-`.
fn plain(page: &str) -> String {
    let src = std::fs::read_to_string(root().join("man").join(page))
        .unwrap_or_else(|e| panic!("man/{page}: {e}"));
    let mut s = src.replace("\\-", "-");
    for f in ["\\fB", "\\fI", "\\fR", "\\fP"] {
        s = s.replace(f, "");
    }
    s
}

/// Whether `text` contains `word` not glued to other option characters.
fn has_option(text: &str, word: &str) -> bool {
    let opt_char = |c: char| c.is_ascii_alphanumeric() || c == '-';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(opt_char) && !after.is_some_and(opt_char)
    })
}

#[test]
fn man_pages_document_every_option() {
    let mut missing = Vec::new();
    for (page, table) in pages() {
        let text = plain(page);
        for o in &table {
            if let Some(c) = o.short {
                let w = format!("-{}", c as char);
                if !has_option(&text, &w) {
                    missing.push(format!("{page}: {w}"));
                }
            }
            if let Some(l) = o.long {
                let w = format!("--{l}");
                if !has_option(&text, &w) {
                    missing.push(format!("{page}: {w}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented options: {missing:?}");
}

#[test]
fn man_pages_pass_mandoc_lint() {
    if !available("mandoc") {
        return;
    }
    for page in ALL_PAGES {
        let out = Command::new("mandoc")
            .args(["-T", "lint", "-W", "error"])
            .arg(root().join("man").join(page))
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "mandoc -T lint -W error man/{page}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn script(shell: Shell, tool: &str) -> Vec<u8> {
    let mut v = Vec::new();
    completions::generate(shell, tool, &mut v).unwrap();
    v
}

#[test]
fn completions_binary_prints_the_scripts() {
    for (shell, name) in [
        (Shell::Bash, "bash"),
        (Shell::Zsh, "zsh"),
        (Shell::Fish, "fish"),
    ] {
        for tool in completions::TOOLS {
            let out = Command::new(env!("CARGO_BIN_EXE_kmod-rs-completions"))
                .args([name, tool])
                .output()
                .unwrap();
            assert!(out.status.success(), "{name} {tool}: {}", out.status);
            assert_eq!(out.stdout, script(shell, tool), "{name} {tool}");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kmod-rs-completions"))
        .args(["tcsh", "kmod"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The completion of every option form appears in every script.
#[test]
fn completions_cover_every_option() {
    for shell in SHELLS {
        for tool in completions::TOOLS {
            let s = String::from_utf8(script(*shell, tool)).unwrap();
            let table = completions::opts(tool).unwrap();
            for o in table {
                if let Some(l) = o.long {
                    let needle = match shell {
                        Shell::Fish => format!("-l {l} "),
                        _ => format!("--{l}"),
                    };
                    assert!(s.contains(&needle), "{shell:?} {tool}: {needle}");
                }
                if let Some(c) = o.short {
                    let needle = match shell {
                        Shell::Fish => format!("-s {} ", c as char),
                        _ => format!("-{}", c as char),
                    };
                    assert!(s.contains(&needle), "{shell:?} {tool}: {needle}");
                }
            }
        }
    }
}

fn run_shell(prog: &str, args: &[&str], file: &Path) {
    let out = Command::new(prog)
        .args(args)
        .env("F", file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{prog} {args:?} on {}: {}\n{}",
        file.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn completions_load_in_their_shells() {
    let tmp = TempDir::new("completions");
    for shell in SHELLS {
        let prog = match shell {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        };
        if !available(prog) {
            continue;
        }
        for tool in completions::TOOLS {
            let f = tmp.path().join(format!("{tool}.{prog}"));
            std::fs::write(&f, script(*shell, tool)).unwrap();
            let path = f.to_str().unwrap();
            match shell {
                Shell::Bash => {
                    run_shell("bash", &["-n", path], &f);
                    run_shell(
                        "bash",
                        &["-c", "source \"$F\" && complete -p \"$0\" >/dev/null", tool],
                        &f,
                    );
                }
                Shell::Zsh => {
                    run_shell("zsh", &["-n", path], &f);
                    run_shell(
                        "zsh",
                        &[
                            "-f",
                            "-c",
                            "autoload -U compinit && compinit -u -D && source \"$F\"",
                        ],
                        &f,
                    );
                }
                Shell::Fish => {
                    run_shell("fish", &["--no-config", "-n", path], &f);
                    run_shell(
                        "fish",
                        &[
                            "--no-config",
                            "-c",
                            "source $F; and complete -c kmod >/dev/null",
                        ],
                        &f,
                    );
                }
            }
        }
    }
}

#[test]
fn make_install_then_uninstall() {
    if !available("make") {
        return;
    }
    let tmp = TempDir::new("install");
    let dest = tmp.path().join("dest");
    let make = |target: &str| {
        let out = Command::new("make")
            .arg("-C")
            .arg(root())
            .arg("--no-print-directory")
            .arg(target)
            .arg(format!("DESTDIR={}", dest.display()))
            .arg(format!("KMOD_BIN={}", env!("CARGO_BIN_EXE_kmod")))
            .arg(format!(
                "COMPLETIONS_BIN={}",
                env!("CARGO_BIN_EXE_kmod-rs-completions")
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "make {target}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    make("install");
    let bin = dest.join("usr/bin");
    for tool in ["insmod", "rmmod", "lsmod", "modprobe", "depmod", "modinfo"] {
        let link = bin.join(tool);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("kmod"),
            "{tool} is a relative link to kmod"
        );
        let out = Command::new(&link).arg("--version").output().unwrap();
        assert!(out.status.success(), "{tool} --version: {}", out.status);
        let first = String::from_utf8_lossy(&out.stdout);
        assert!(
            first
                .lines()
                .next()
                .unwrap_or("")
                .starts_with("kmod version"),
            "{tool} --version: {first}"
        );
    }
    for f in [
        "usr/share/man/man8/kmod.8",
        "usr/share/man/man5/modprobe.d.5",
        "usr/share/bash-completion/completions/modprobe",
        "usr/share/zsh/vendor-completions/_modprobe",
        "usr/share/fish/vendor_completions.d/modprobe.fish",
    ] {
        assert!(dest.join(f).is_file(), "{f} installed");
    }
    make("uninstall");
    let mut left = Vec::new();
    non_dirs(&dest, &mut left);
    assert!(left.is_empty(), "left after uninstall: {left:?}");
}

/// Every entry under `dir` that is not a directory (files and symlinks).
fn non_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            non_dirs(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

/// What the generated bash and fish scripts complete for a command line.
#[test]
fn completions_complete_options_and_commands() {
    let tmp = TempDir::new("completions-run");
    let cases: &[(&str, &[&str], &str)] = &[
        ("modprobe", &["modprobe", "--show-d"], "--show-depends"),
        (
            "depmod",
            &["depmod", "-b", "x", "--symb"],
            "--symbol-prefix",
        ),
        ("kmod", &["kmod", "st"], "static-nodes"),
        ("kmod", &["kmod", "static-nodes", "--fo"], "--format"),
    ];
    if available("bash") {
        for (tool, words, want) in cases {
            let f = tmp.path().join(format!("{tool}.bash"));
            std::fs::write(&f, script(Shell::Bash, tool)).unwrap();
            let cmd = format!(
                "source \"$F\"; COMP_WORDS=({}); COMP_CWORD={}; _kmod_rs_{tool}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                words.join(" "),
                words.len() - 1
            );
            let out = Command::new("bash")
                .args(["-c", &cmd])
                .env("F", &f)
                .output()
                .unwrap();
            let got = String::from_utf8_lossy(&out.stdout);
            assert_eq!(got.trim(), *want, "bash {words:?}");
        }
    }
    if available("fish") {
        for (tool, words, want) in cases {
            let f = tmp.path().join(format!("{tool}.fish"));
            std::fs::write(&f, script(Shell::Fish, tool)).unwrap();
            let out = Command::new("fish")
                .args(["--no-config", "-c", "source $F; complete -C \"$L\""])
                .env("F", &f)
                .env("L", words.join(" "))
                .output()
                .unwrap();
            let got = String::from_utf8_lossy(&out.stdout);
            let firsts: Vec<&str> = got
                .lines()
                .map(|l| l.split('\t').next().unwrap_or(""))
                .collect();
            assert_eq!(firsts, [*want], "fish {words:?}: {got}");
        }
    }
}

/// Every key of every `--json` document (the properties of its schema, nested ones
/// included) is named in the tool's man page.
#[test]
fn man_pages_document_every_json_key() {
    fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Object(p)) = m.get("properties") {
                    out.extend(p.keys().cloned());
                }
                m.values().for_each(|x| keys(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
            _ => {}
        }
    }
    let word = |text: &str, w: &str| {
        let key_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
        text.match_indices(w).any(|(i, _)| {
            !text[..i].chars().next_back().is_some_and(key_char)
                && !text[i + w.len()..].chars().next().is_some_and(key_char)
        })
    };
    let mut missing = Vec::new();
    for (page, schema) in [
        ("lsmod.8", "lsmod"),
        ("modinfo.8", "modinfo"),
        ("depmod.8", "depmod"),
        ("modprobe.8", "modprobe-closure"),
    ] {
        let text = plain(page);
        let path = crate::support::schema::schema_path(schema);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut all = Vec::new();
        keys(&v, &mut all);
        assert!(all.len() > 5, "{schema}: {} keys", all.len());
        for k in all {
            if !word(&text, &k) {
                missing.push(format!("{page}: {k}"));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "JSON keys the man pages do not name: {missing:?}"
    );
}

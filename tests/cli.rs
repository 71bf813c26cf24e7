//! The tools run in-process on fake roots, and the binary's dispatch.

use crate::support::*;
use kmod_rs::Env;
use libkmod_rs::Root;
use libkmod_rs::kernel::fake::FakeKernel;
use std::ffi::OsString;

fn run_in(root: &std::path::Path, argv: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = {
        let mut env = Env {
            root: Root::at(root),
            kernel: Box::new(FakeKernel::new(Root::at(root), "4.4.4")),
            out: &mut out,
            err: &mut err,
            vars: kmod_rs::env::Vars::default(),
        };
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        kmod_rs::run(&argv, &mut env)
    };
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn unknown_tool_name_exits_1_silently() {
    let tmp = TempDir::new("cli");
    assert_eq!(
        run_in(tmp.path(), &["frobnicate"]),
        (1, String::new(), String::new())
    );
}

#[test]
fn kmod_without_command() {
    let tmp = TempDir::new("cli");
    let (code, out, err) = run_in(tmp.path(), &["kmod"]);
    assert_eq!(code, 1);
    assert_eq!(err, "missing command\n");
    assert!(out.starts_with("kmod - Manage kernel modules"));
    let (code, _, err) = run_in(tmp.path(), &["kmod", "bogus"]);
    assert_eq!((code, err.as_str()), (1, "invalid command 'bogus'\n"));
    assert_eq!(run_in(tmp.path(), &["kmod", "help"]).0, 0);
}

#[test]
fn modinfo_uses_the_fake_roots_module_dir() {
    // modinfo without -b/-k looks in <root>/lib/modules/<uname -r>
    let tmp = TempDir::new("cli");
    let dir = tmp.path().join("lib/modules/4.4.4");
    std::fs::create_dir_all(&dir).unwrap();
    let (code, out, err) = run_in(tmp.path(), &["modinfo", "nothere"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(err, "modinfo: ERROR: Module nothere not found.\n");
}

#[test]
fn version_names_the_project() {
    let r = run({
        let mut c = ours("modinfo");
        c.arg("-V");
        c
    });
    assert_eq!(r.status, Some(0));
    let s = String::from_utf8(r.stdout).unwrap();
    assert!(s.starts_with("kmod version 34.2 (kmod-rs "), "{s}");
    assert_eq!(s.lines().count(), 2);
}

#[test]
fn static_nodes_formats() {
    let tmp = TempDir::new("cli");
    let dir = tmp.path().join("lib/modules/4.4.4");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("modules.devname"),
        "# Device nodes to trigger on-demand module loading.\nloop loop-control c10:237\nfuse fuse c10:229\ntun net/tun c10:200\nbad entry\ncuse cuse x10:1\n",
    )
    .unwrap();
    let (code, out, err) = run_in(tmp.path(), &["kmod", "static-nodes", "-f", "tmpfiles"]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "c! /dev/loop-control 0600 - - - 10:237\nc! /dev/fuse 0600 - - - 10:229\nd /dev/net 0755 - - -\nc! /dev/net/tun 0600 - - - 10:200\n"
    );
    assert_eq!(
        err,
        "Error: invalid devname entry: bad entry\nError: invalid devname entry: cuse cuse x10:1\n"
    );
    let (_, out, _) = run_in(tmp.path(), &["kmod", "static-nodes"]);
    assert!(out.starts_with("Module: loop\n\tDevice node: /dev/loop-control\n\t\tType: character device\n\t\tMajor: 10\n\t\tMinor: 237\n"));
    let target = tmp.path().join("out/sub/static-nodes");
    let (code, out, _) = run_in(
        tmp.path(),
        &[
            "kmod",
            "static-nodes",
            "--format=devname",
            "-o",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "loop loop-control c10:237\nfuse fuse c10:229\ntun net/tun c10:200\n"
    );
    std::fs::remove_file(dir.join("modules.devname")).unwrap();
    let (code, _, err) = run_in(tmp.path(), &["kmod", "static-nodes"]);
    assert_eq!(
        (code, err.as_str()),
        (
            0,
            "Warning: /lib/modules/4.4.4/modules.devname not found - ignoring\n"
        )
    );
}

/// `depmod --check` and `--no-cache` in-process: the stale list on stdout (0, 1),
/// nothing written; the cache next to the outputs unless `--no-cache`.
#[test]
fn depmod_check_and_no_cache_in_process() {
    let tmp = TempDir::new("cli-depmod-check");
    let dir = tmp.path().join("lib/modules/4.4.4");
    std::fs::create_dir_all(dir.join("kernel")).unwrap();
    let mut ko =
        crate::support::ko::Ko::new(object::Architecture::X86_64, object::Endianness::Little);
    ko.modinfo.push("alias=kmodrs-cli".into());
    std::fs::write(dir.join("kernel/mod_a.ko"), ko.build()).unwrap();
    let (code, out, _) = run_in(tmp.path(), &["depmod", "--check"]);
    assert_eq!((code, out.lines().count()), (1, DEPMOD_OUTPUTS.len()));
    assert!(!dir.join("modules.dep").exists());
    let (code, _, _) = run_in(tmp.path(), &["depmod", "--no-cache"]);
    assert_eq!(code, 0);
    assert!(dir.join("modules.alias").exists() && !dir.join(DEPMOD_CACHE).exists());
    let (code, out, _) = run_in(tmp.path(), &["depmod", "--check", "4.4.4"]);
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, _, _) = run_in(tmp.path(), &["depmod"]);
    assert_eq!(code, 0);
    assert!(dir.join(DEPMOD_CACHE).exists());
    std::fs::remove_file(dir.join("modules.devname")).unwrap();
    let (code, out, _) = run_in(tmp.path(), &["depmod", "--check"]);
    assert_eq!((code, out.as_str()), (1, "modules.devname\n"));
    let (code, _, _) = run_in(tmp.path(), &["depmod", "--check", "not-a-version"]);
    assert_eq!(code, 2);
}

//! `modprobe --show-depends --json`: the load plan as data. The probe is the same
//! dry run that prints `--show-depends`'s lines ([`libkmod_rs::Module::probe`]);
//! its host records each action instead of printing it (`host::Host::show`), and
//! [`Recorder::finish`] turns the recorded actions into the closure: every module
//! once in load order, with what applies to it and the firmware it names.

use crate::json::{self, Bytes};
use libkmod_rs::{Action, Level, Module, ModuleInfo};
use std::collections::{HashMap, HashSet};

/// What a `--json` run of modprobe records.
#[derive(Default)]
pub(super) struct Recorder {
    /// The document (operands and messages as they come; the rest at the end).
    pub(super) doc: json::Closure,
    /// The actions in order, with the operand each belongs to.
    steps: Vec<(usize, Module, Action)>,
    /// The modules each operand resolved to.
    resolved: Vec<Vec<Module>>,
    /// How each probe of each operand ended.
    probes: Vec<Vec<Probe>>,
}

/// How one probe ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// Something to insert or an install command to run.
    Load,
    /// Only builtin modules.
    Builtin,
    /// Skipped for the blacklist.
    Blacklisted,
    /// Nothing shown (no file, not builtin).
    Nothing,
}

impl Recorder {
    /// A new operand is being processed.
    pub(super) fn operand(&mut self, operand: &[u8]) {
        self.doc.operands.push(json::Operand {
            operand: Bytes::of(operand),
            result: "ok",
            modules: Vec::new(),
        });
        self.resolved.push(Vec::new());
        self.probes.push(Vec::new());
    }

    /// The current operand's result.
    pub(super) fn result(&mut self, result: &'static str) {
        if let Some(o) = self.doc.operands.last_mut() {
            o.result = result;
        }
    }

    /// The modules the current operand resolved to.
    pub(super) fn resolved(&mut self, list: &[Module]) {
        if let (Some(o), Some(r)) = (self.doc.operands.last_mut(), self.resolved.last_mut()) {
            o.modules = list.iter().map(|m| Bytes::of(m.name())).collect();
            r.extend(list.iter().cloned());
        }
    }

    /// A message printed for the current operand.
    pub(super) fn operand_message(&mut self, level: Level, text: &[u8]) {
        let operand = self.doc.operands.last().map(|o| o.operand.0.clone());
        self.doc
            .errors
            .push(json::Message::new(operand.as_deref(), level, text));
    }

    /// A message printed before any operand.
    pub(super) fn message(&mut self, operand: Option<&[u8]>, level: Level, text: &[u8]) {
        self.doc
            .errors
            .push(json::Message::new(operand, level, text));
    }

    /// The actions of one probe of the current operand; `blacklisted`: the probe
    /// skipped its module for the blacklist.
    pub(super) fn probed(&mut self, steps: Vec<(Module, Action)>, blacklisted: bool) {
        let k = self.doc.operands.len().saturating_sub(1);
        let kind = if blacklisted {
            Probe::Blacklisted
        } else if steps
            .iter()
            .any(|(_, a)| matches!(a, Action::Insmod { .. } | Action::Install { .. }))
        {
            Probe::Load
        } else if steps
            .iter()
            .any(|(_, a)| matches!(a, Action::Builtin { .. }))
        {
            Probe::Builtin
        } else {
            Probe::Nothing
        };
        if let Some(p) = self.probes.get_mut(k) {
            p.push(kind);
        }
        self.steps.extend(steps.into_iter().map(|(m, a)| (k, m, a)));
    }

    /// Build the closure from the recorded actions: `modules` (each once, in
    /// order), `steps`, `weakdep_modules`, `firmware`. Queries made here report
    /// nothing (the probe reported what kmod reports).
    pub(super) fn finish(&mut self, ignore_commands: bool) {
        let quiet = &mut ();
        // an operand found is `ok` when one of its probes loads something
        for (o, probes) in self.doc.operands.iter_mut().zip(&self.probes) {
            if o.result != "ok" {
                continue;
            }
            let any = |k: Probe| probes.contains(&k);
            o.result = if any(Probe::Load) {
                "ok"
            } else if any(Probe::Builtin) {
                "builtin"
            } else if any(Probe::Blacklisted) {
                "blacklisted"
            } else {
                "nothing"
            };
        }
        // required: every operand's module and its modules.dep dependencies
        let mut required: HashSet<Vec<u8>> = HashSet::new();
        let mut top: HashSet<Vec<u8>> = HashSet::new();
        for list in &self.resolved {
            for m in list {
                top.insert(m.name().to_vec());
                required.insert(m.name().to_vec());
                for d in m.dependencies(quiet) {
                    required.insert(d.name().to_vec());
                }
            }
        }
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut modules: Vec<(Module, &Action)> = Vec::new();
        for (k, m, a) in &self.steps {
            let (action, path, options, command) = match a {
                Action::Insmod { path, options } => (
                    "insmod",
                    Some(Bytes::path(path)),
                    Some(Bytes::of(options)),
                    None,
                ),
                Action::Install { command, options } => (
                    "install",
                    None,
                    Some(Bytes::of(options)),
                    Some(Bytes::of(command)),
                ),
                Action::Builtin { .. } => ("builtin", None, None, None),
                Action::Nothing => ("none", None, None, None),
            };
            self.doc.steps.push(json::Step {
                operand: *k,
                module: Bytes::of(m.name()),
                action,
                path,
                options,
                command,
            });
            if !index.contains_key(m.name()) {
                index.insert(m.name().to_vec(), modules.len());
                modules.push((m.clone(), a));
            }
        }
        // firmware: every module file's `.modinfo`, read in parallel when there are
        // many
        let files: Vec<Option<std::path::PathBuf>> = modules
            .iter()
            .map(|(m, a)| match a {
                Action::Insmod { path, .. } => Some(path.clone()),
                _ => m.path(quiet),
            })
            .collect();
        // each file's firmware names, the rest of its information dropped at once
        let read = |p: &Option<std::path::PathBuf>| {
            p.as_ref().map(|p| {
                let info = ModuleInfo::read(p)?;
                Ok(info.get(b"firmware").map(<[u8]>::to_vec).collect())
            })
        };
        // a few files are read here: starting threads would cost more than it saves
        let infos: Vec<Option<Result<Vec<Vec<u8>>, libkmod_rs::Error>>> = if files.len() < 32 {
            files.iter().map(read).collect()
        } else {
            use rayon::prelude::*;
            files.par_iter().map(read).collect()
        };
        let mut firmware_seen: HashSet<Vec<u8>> = HashSet::new();
        let mut weak: Vec<json::WeakModule> = Vec::new();
        let mut weak_index: HashMap<Vec<u8>, usize> = HashMap::new();
        for (((m, a), file), info) in modules.iter().zip(&files).zip(infos) {
            let name = m.name();
            let (firmware, firmware_error) = match info {
                Some(Ok(firmware)) => (firmware, None),
                Some(Err(e)) => (Vec::new(), Some(Bytes(e.to_string().into_bytes()))),
                None => (Vec::new(), None),
            };
            for f in &firmware {
                if firmware_seen.insert(f.clone()) {
                    self.doc.firmware.push(Bytes::of(f));
                }
            }
            let (pre, post) = m.softdeps(quiet);
            let weakdeps = m.weakdeps(quiet);
            for w in &weakdeps {
                if index.contains_key(w.name()) {
                    continue;
                }
                if let Some(&i) = weak_index.get(w.name()) {
                    weak[i].wanted_by.push(Bytes::of(name));
                } else {
                    weak_index.insert(w.name().to_vec(), weak.len());
                    weak.push(json::WeakModule {
                        name: Bytes::of(w.name()),
                        path: w.path(quiet).as_deref().map(Bytes::path),
                        builtin: w.is_builtin(),
                        wanted_by: vec![Bytes::of(name)],
                    });
                }
            }
            let names = |v: &[Module]| v.iter().map(|x| Bytes::of(x.name())).collect();
            let (action, options, install_command) = match a {
                Action::Insmod { options, .. } => ("insmod", Some(options), None),
                Action::Install { command, options } => ("install", Some(options), Some(command)),
                Action::Builtin { .. } => ("builtin", None, None),
                Action::Nothing => ("none", None, None),
            };
            self.doc.modules.push(json::ClosureModule {
                name: Bytes::of(name),
                action,
                path: file.as_deref().map(Bytes::path),
                builtin: matches!(a, Action::Builtin { .. }) || m.is_builtin(),
                required: required.contains(name),
                blacklisted: m.is_blacklisted(),
                options: options.filter(|o| !o.is_empty()).map(|o| Bytes::of(o)),
                install_command: install_command.map(|c| Bytes::of(c)),
                remove_command: m.remove_command().map(Bytes),
                dependencies: names(&m.dependencies(quiet)),
                softdeps: json::Softdeps {
                    pre: names(&pre),
                    post: names(&post),
                    followed: !(ignore_commands && top.contains(name)),
                },
                weakdeps: names(&weakdeps),
                firmware: firmware.into_iter().map(Bytes).collect(),
                firmware_error,
            });
        }
        self.doc.weakdep_modules = weak;
    }
}

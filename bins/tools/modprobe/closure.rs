//! `modprobe --show-depends --json`: the load plan as data. The probe is the same
//! dry run that prints `--show-depends`'s lines ([`libkmod_rs::Module::probe`]);
//! its host records each action instead of printing it (`host::Host::show`), and
//! [`Recorder::finish`] turns the recorded actions into the closure: every module
//! once in load order, with what applies to it and the firmware it names.

use crate::json::{self, Bytes};
use libkmod_rs::{Action, Level, Module, ModuleInfo};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

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
    /// The firmware reads started while the probes run.
    prefetch: Prefetch,
}

/// What the configuration and the indexes say of one module of the closure.
struct Facts {
    pre: Vec<Module>,
    post: Vec<Module>,
    weakdeps: Vec<Module>,
    dependencies: Vec<Module>,
    builtin: bool,
    blacklisted: bool,
    remove_command: Option<Vec<u8>>,
}

impl Facts {
    /// Queries made here report nothing (the probe reported what kmod reports).
    fn of(m: &Module) -> Facts {
        let quiet = &mut ();
        let (pre, post) = m.softdeps(quiet);
        Facts {
            pre,
            post,
            weakdeps: m.weakdeps(quiet),
            dependencies: m.dependencies(quiet),
            builtin: m.is_builtin(),
            blacklisted: m.is_blacklisted(),
            remove_command: m.remove_command(),
        }
    }
}

/// A module file's firmware names, or why its `.modinfo` could not be read.
type Firmware = Result<Vec<Vec<u8>>, libkmod_rs::Error>;

/// Each file's firmware names, the rest of its information dropped at once.
fn firmware_of(path: &Path) -> Firmware {
    let info = ModuleInfo::read(path)?;
    Ok(info.get(b"firmware").map(<[u8]>::to_vec).collect())
}

/// Below this many files to read, they are read at the end on the calling thread
/// (starting a thread would cost more than it saves); from it on, a reader thread
/// reads them while the probes run, and the calling thread helps it at the end.
const PREFETCH_MIN: usize = 32;

/// `f` of each of `items`, in order: on this thread below [`PREFETCH_MIN`] items
/// (starting threads would cost more than it saves), on all cores from it on.
fn map_all<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    if items.len() < PREFETCH_MIN {
        items.iter().map(f).collect()
    } else {
        use rayon::prelude::*;
        items.par_iter().map(f).collect()
    }
}

/// The modules of the closure, each once where it first appears in a probe's
/// actions (the order [`Recorder::finish`] lists them in), and the `.modinfo` reads
/// of those the probes insert, started as soon as each appears, so that reading the
/// files overlaps the walk.
#[derive(Default)]
struct Prefetch {
    /// The modules seen so far.
    seen: HashSet<Vec<u8>>,
    /// Where each first appears: its index in [`Recorder::steps`]; a module's rank
    /// is its place here.
    first: Vec<usize>,
    /// Files found before the reader thread started: (module's rank, file).
    backlog: Vec<(usize, PathBuf)>,
    reader: Option<Reader>,
}

/// The reader thread and the queue it shares with the calling thread.
struct Reader {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    thread: std::thread::JoinHandle<()>,
}

#[derive(Default)]
struct Queue {
    todo: VecDeque<(usize, PathBuf)>,
    /// No more files will be queued.
    done: bool,
    /// (rank, what its file says).
    read: Vec<(usize, Firmware)>,
}

fn lock(m: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read the queued files until the queue is empty and closed.
fn drain(shared: &(Mutex<Queue>, Condvar)) {
    let (m, cv) = shared;
    let mut q = lock(m);
    loop {
        if let Some((rank, path)) = q.todo.pop_front() {
            drop(q);
            let fw = firmware_of(&path);
            q = lock(m);
            q.read.push((rank, fw));
        } else if q.done {
            return;
        } else {
            q = cv.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Prefetch {
    /// Module `m` appears in a probe's actions with action `a`, as step `at` of
    /// the run.
    fn step(&mut self, at: usize, m: &Module, a: &Action) {
        if self.seen.contains(m.name()) {
            return;
        }
        let rank = self.first.len();
        self.seen.insert(m.name().to_vec());
        self.first.push(at);
        // other actions' files are looked up at the end, as before the walk ended
        let Action::Insmod { path, .. } = a else {
            return;
        };
        if let Some(r) = &self.reader {
            let (q, cv) = &*r.shared;
            lock(q).todo.push_back((rank, path.clone()));
            cv.notify_one();
            return;
        }
        self.backlog.push((rank, path.clone()));
        if self.backlog.len() >= PREFETCH_MIN {
            let shared = Arc::new((
                Mutex::new(Queue {
                    todo: std::mem::take(&mut self.backlog).into(),
                    ..Queue::default()
                }),
                Condvar::new(),
            ));
            let theirs = Arc::clone(&shared);
            match std::thread::Builder::new().spawn(move || drain(&theirs)) {
                Ok(thread) => self.reader = Some(Reader { shared, thread }),
                // no thread: everything is read at the end
                Err(_) => {
                    self.backlog = std::mem::take(&mut lock(&shared.0).todo).into();
                }
            }
        }
    }

    /// The firmware of each of `files` (the modules in rank order; None: no file),
    /// from the reads made so far, the rest read now.
    fn finish(&mut self, files: &[Option<PathBuf>]) -> Vec<Option<Firmware>> {
        let mut read: Vec<(usize, Firmware)> = Vec::new();
        if let Some(r) = self.reader.take() {
            {
                let (q, cv) = &*r.shared;
                lock(q).done = true;
                cv.notify_all();
            }
            // this thread takes its share of what is left
            drain(&r.shared);
            let _ = r.thread.join();
            read = std::mem::take(&mut lock(&r.shared.0).read);
        }
        let mut out: Vec<Option<Option<Firmware>>> = files.iter().map(|_| None).collect();
        // a module read early inserts the file it was read from, the one in `files`
        for (rank, fw) in read {
            if let Some(slot) = out.get_mut(rank) {
                *slot = Some(Some(fw));
            }
        }
        let left: Vec<usize> = (0..files.len()).filter(|&i| out[i].is_none()).collect();
        let read_one = |&i: &usize| files[i].as_deref().map(firmware_of);
        let now: Vec<Option<Firmware>> = map_all(&left, read_one);
        for (i, fw) in left.into_iter().zip(now) {
            out[i] = Some(fw);
        }
        out.into_iter().map(Option::flatten).collect()
    }
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
        let at = self.steps.len();
        for (i, (m, a)) in steps.iter().enumerate() {
            self.prefetch.step(at + i, m, a);
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
        let step = |(k, m, a): &(usize, Module, Action)| {
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
            json::Step {
                operand: *k,
                module: Bytes::of(m.name()),
                action,
                path,
                options,
                command,
            }
        };
        self.doc.steps = map_all(&self.steps, step);
        // each module once, where it first appears
        let modules: Vec<(Module, &Action)> = self
            .prefetch
            .first
            .iter()
            .map(|&i| (self.steps[i].1.clone(), &self.steps[i].2))
            .collect();
        // firmware: every module file's `.modinfo` (most read while the probes ran)
        let files: Vec<Option<PathBuf>> = modules
            .iter()
            .map(|(m, a)| match a {
                Action::Insmod { path, .. } => Some(path.clone()),
                _ => m.path(quiet),
            })
            .collect();
        let infos = self.prefetch.finish(&files);
        // what the configuration and indexes say of each module, on all cores when
        // there are many
        let facts: Vec<Facts> = map_all(&modules, |(m, _)| Facts::of(m));
        let mut firmware_seen: HashSet<Vec<u8>> = HashSet::new();
        let mut weak: Vec<json::WeakModule> = Vec::new();
        let mut weak_index: HashMap<Vec<u8>, usize> = HashMap::new();
        let all = modules.iter().zip(&files).zip(infos).zip(facts);
        for ((((m, a), file), info), facts) in all {
            let Facts {
                pre,
                post,
                weakdeps,
                dependencies,
                builtin,
                blacklisted,
                remove_command,
            } = facts;
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
            for w in &weakdeps {
                if self.prefetch.seen.contains(w.name()) {
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
                builtin: matches!(a, Action::Builtin { .. }) || builtin,
                required: required.contains(name),
                blacklisted,
                options: options.filter(|o| !o.is_empty()).map(|o| Bytes::of(o)),
                install_command: install_command.map(|c| Bytes::of(c)),
                remove_command: remove_command.map(Bytes),
                dependencies: names(&dependencies),
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

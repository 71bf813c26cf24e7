//! depmod: [`Depmod`] and its options and report; the pipeline is in `build`.

pub(crate) mod build;
pub(crate) mod cache;
mod config;
mod hash;
mod incremental;
mod order;
mod outputs;

use crate::diag::{Level, Sink};
use crate::error::{Error, strerror};
use crate::{Diagnostic, Errno, Root};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What a depmod run reads and how it reports (the options of `depmod`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepmodOptions {
    /// The module directory to read (`<basedir><moduledir>/<release>`), absolute.
    pub dir: PathBuf,
    /// The kernel release (depmod.d's `override`/`external` lines may name it).
    pub release: Vec<u8>,
    /// `-C`: depmod.d files or directories instead of the system's (resolved through
    /// the [`Root`]).
    pub config: Vec<PathBuf>,
    /// The module files to use instead of scanning the directory (absolute paths;
    /// depmod.d is then not read).
    pub files: Vec<PathBuf>,
    /// `-E`: a `Module.symvers` giving the kernel's symbols and CRCs.
    pub symvers: Option<PathBuf>,
    /// `-F`: a `System.map` giving the kernel's symbols.
    pub system_map: Option<PathBuf>,
    /// `-e`: report needed symbols nobody provides (and, with `symvers`, CRCs that
    /// disagree).
    pub report_unknown: bool,
    /// `-P`: the architecture's symbol prefix.
    pub symbol_prefix: Option<u8>,
    /// `-w`: warn about duplicate index entries.
    pub warn_duplicates: bool,
    /// `-v`: say which module a module's symbols come from ([`Depmod::verbose_lines`]).
    pub verbose: bool,
    /// The directory of depmod's cache, `modules.kmod-rs-cache.bin` (the output
    /// directory, normally): the facts read from each module file are reused while
    /// the file is unchanged, and a run over a tree and configuration that did not
    /// change reads no module and renders nothing. The results are the same with or
    /// without it; it is read by [`Depmod::run`] and written by
    /// [`Depmod::write_files`] into this directory. `None`: no cache. Not used with
    /// [`files`](DepmodOptions::files).
    pub cache: Option<PathBuf>,
}

/// What a run found, as data (the same facts depmod's messages give).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepmodReport {
    /// How many modules the outputs list.
    pub modules: usize,
    /// Needed symbols no module and no kernel symbol provides, as (module file,
    /// symbol) — reported with [`DepmodOptions::report_unknown`] only.
    pub unresolved: Vec<(Vec<u8>, Vec<u8>)>,
    /// Needed symbols whose CRC disagrees with the provider's, as (module file,
    /// symbol) — with [`DepmodOptions::report_unknown`] and
    /// [`DepmodOptions::symvers`] only.
    pub crc_mismatches: Vec<(Vec<u8>, Vec<u8>)>,
    /// Dependency cycles, each as the module names along it (the first again at
    /// the end). A tree with cycles gets no outputs.
    pub cycles: Vec<Vec<Vec<u8>>>,
    /// Module names found in more than one file while scanning, as (name, file
    /// kept, file ignored), in discovery order: depmod.d's `override` and `search`
    /// lines decide (kmod logs these at DEBUG only).
    pub duplicates: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    /// How many aliases the modules declare (the lines of `modules.alias`).
    pub aliases: usize,
    /// How many symbols the modules export (the lines of `modules.symbols`).
    pub symbols: usize,
}

/// depmod: scan a module tree, resolve symbols into dependencies, and write the
/// `modules.*` files exactly as kmod 34.2's depmod does.
///
/// * `config`: depmod.d (`search`, `override`, `external`, `exclude`);
/// * `hash`: kmod's hash-table iteration order, which fixes the order of
///   `modules.symbols` and of modules not listed in `modules.order`;
/// * `order`: `modules.order`;
/// * `build`: discovery, parsing, symbol resolution, topological sort, cycles;
/// * `outputs`: the one table of output files and their writers, and atomic writes.
///
/// ```no_run
/// use libkmod_rs::{Depmod, DepmodOptions, Root};
///
/// let root = Root::host();
/// let dir = root.module_dir("6.1.0-57-amd64");
/// let opts = DepmodOptions {
///     dir: dir.clone(),
///     release: b"6.1.0-57-amd64".to_vec(),
///     ..DepmodOptions::default()
/// };
/// let mut sink = |d: libkmod_rs::Diagnostic| eprintln!("depmod: {}: {d}", d.level);
/// let depmod = Depmod::run(&root, &opts, &mut sink)?;
/// println!("{} modules, {} cycles", depmod.report().modules, depmod.report().cycles.len());
/// depmod.write_files(&dir, &mut sink)?;
/// # Ok::<(), libkmod_rs::Error>(())
/// ```
///
/// A module tree analysed by depmod: its modules, their dependencies, and what
/// depmod writes for them. `Send + Sync`.
#[derive(Debug)]
pub struct Depmod {
    inner: build::Depmod,
    /// The run's use of its cache.
    session: Option<incremental::Session>,
    /// When the cache's record stood for the run (which then stopped after its
    /// scan): the run finished, for outputs the record does not hold.
    finished: std::sync::OnceLock<build::Depmod>,
}

fn fatal(message: String) -> Error {
    Error::Fatal {
        message: message.into_bytes(),
    }
}

/// `<before><path><after>: <strerror>\n`: how depmod reports a failed operation
/// on a file.
fn failed(before: &[u8], path: &Path, after: &[u8], e: Errno) -> Vec<u8> {
    let e = e.to_string();
    let path = path.as_os_str().as_bytes();
    [before, path, after, b": ", e.as_bytes(), b"\n"].concat()
}

/// An output writer's failure as the library's error.
fn output_error(e: outputs::OutputError) -> Error {
    match e {
        outputs::OutputError::Fatal(message) => Error::Fatal { message },
        outputs::OutputError::Io(e) => fatal(format!("{e}\n")),
    }
}

/// The messages the recorded run's output writers gave, given again.
fn replay(memo: &cache::Memo, log: &mut Vec<Diagnostic>) {
    for rec in &memo.outputs {
        for (level, message) in &rec.log {
            log.push(config::msg(*level, message.clone()));
        }
    }
}

fn drain(log: &mut Vec<Diagnostic>, sink: &mut dyn Sink) {
    for d in log.drain(..) {
        sink.report(d);
    }
}

impl Depmod {
    /// Read the tree as `depmod` does: the kernel's symbols (`symvers` or
    /// `system_map`), depmod.d, every module (in parallel), then resolve symbols,
    /// sort, and find cycles. Messages go to `sink` in kmod's order; what stops
    /// depmod is an [`Error::Fatal`] with kmod's message.
    pub fn run(root: &Root, opts: &DepmodOptions, sink: &mut dyn Sink) -> Result<Depmod, Error> {
        let bo = build::Options {
            dirname: opts.dir.as_os_str().as_bytes().to_vec(),
            sym_prefix: opts.symbol_prefix,
            print_unknown: opts.report_unknown,
            check_symvers: opts.symvers.is_some(),
            warn_dups: opts.warn_duplicates,
            verbose: opts.verbose,
        };
        let mut d = build::Depmod::new(bo, config::DepmodConfig::default());
        let cache_dir = opts.cache.as_deref().filter(|_| opts.files.is_empty());
        d.keys = opts.files.is_empty();
        d.store = cache_dir.is_some();
        d.start = cache::now();
        let kernel_symbols = if let Some(f) = &opts.symvers {
            Some((f, d.load_symvers(f)))
        } else if let Some(f) = &opts.system_map {
            Some((f, d.load_system_map(f)))
        } else {
            if d.opts.print_unknown {
                sink.report(config::msg(Level::Warning, "-e needs -E or -F\n"));
                d.opts.print_unknown = false;
            }
            None
        };
        if let Some((f, Err(e))) = kernel_symbols {
            let message = failed(b"could not load ", f, b"", Errno::from_raw(e));
            return Err(Error::Fatal { message });
        }
        drain(&mut d.log, sink);
        if opts.files.is_empty() {
            let (cfg, mut cfg_log) = config::DepmodConfig::load(root, &opts.config, &opts.release);
            drain(&mut cfg_log, sink);
            d.cfg = cfg;
            if let Some(dir) = cache_dir {
                let mut log = Vec::new();
                d.cache =
                    cache::Cache::open(dir, d.parse_crcs(), &mut log).map(std::sync::Arc::new);
                drain(&mut log, sink);
            }
            if let Err(e) = d.scan() {
                drain(&mut d.log, sink);
                return Err(fatal(format!(
                    "could not search modules: {}\n",
                    strerror(e)
                )));
            }
        } else {
            for f in &opts.files {
                let bytes = f.as_os_str().as_bytes();
                if bytes.first() != Some(&b'/') {
                    let mut m = bytes.to_vec();
                    m.extend_from_slice(b": not absolute path.\n");
                    return Err(Error::Fatal { message: m });
                }
                if let Err(m) = d.add_file(bytes) {
                    drain(&mut d.log, sink);
                    return Err(fatal(m));
                }
            }
        }
        drain(&mut d.log, sink);
        let mut session = cache_dir.map(|dir| incremental::Session::new(dir, opts, &d));
        if session.is_some() {
            sink.report(cache::debug(format!(
                "cache: {} of {} module files unchanged\n",
                d.found.1, d.found.0
            )));
        }
        if let Some(s) = &mut session
            && s.take_record(&d)
            && let Some(m) = &s.memo
        {
            sink.report(cache::debug(
                "cache: same inputs as the last run, whose indexes are in place\n".into(),
            ));
            for (level, message) in &m.log {
                sink.report(config::msg(*level, message.clone()));
            }
            d.report = m.report.clone();
            if d.opts.verbose {
                d.show = m.show.clone().unwrap_or_default();
            }
            return Ok(Depmod {
                inner: d,
                session,
                finished: std::sync::OnceLock::new(),
            });
        }
        let mut note = |log: &mut Vec<Diagnostic>, sink: &mut dyn Sink| {
            if let Some(s) = &mut session {
                for m in log.iter() {
                    s.note(m);
                }
            }
            drain(log, sink);
        };
        d.build_array();
        note(&mut d.log, sink);
        // cycles are in the report (and were logged); the outputs refuse them
        let _ = d.load();
        note(&mut d.log, sink);
        Ok(Depmod {
            inner: d,
            session,
            finished: std::sync::OnceLock::new(),
        })
    }

    /// The run with everything computed: when the cache's record stood for it, it
    /// is finished here (its messages were given already).
    fn full(&self) -> &build::Depmod {
        if self.recorded().is_none() {
            return &self.inner;
        }
        self.finished.get_or_init(|| {
            let mut d = self.inner.fork();
            d.build_array();
            let _ = d.load();
            d
        })
    }

    /// The session, when the cache's record stands for this run.
    fn recorded(&self) -> Option<&incremental::Session> {
        self.session.as_ref().filter(|s| s.memo.is_some())
    }

    /// The facts of the run as data.
    #[must_use]
    pub fn report(&self) -> &DepmodReport {
        &self.inner.report
    }

    /// With [`DepmodOptions::verbose`]: a line `<module> needs "<symbol>": <provider>`
    /// for the first symbol taken from each provider, as `depmod -v` prints them.
    #[must_use]
    pub fn verbose_lines(&self) -> &[Vec<u8>] {
        &self.inner.show
    }

    fn refuse_cycles(&self) -> Result<(), Error> {
        if self.inner.report.cycles.is_empty() {
            Ok(())
        } else {
            // the cycles were reported already
            Err(Error::Fatal {
                message: Vec::new(),
            })
        }
    }

    /// `depmod -n`: the text outputs (`modules.dep`, `modules.alias`,
    /// `modules.softdep`, `modules.weakdep`, `modules.symbols`, `modules.devname`),
    /// concatenated, to `out`.
    pub fn write_text(&self, out: &mut dyn Write, sink: &mut dyn Sink) -> Result<(), Error> {
        self.refuse_cycles()?;
        let mut log = Vec::new();
        let r = outputs::write_stdout(self.full(), out, &mut log);
        drain(&mut log, sink);
        r.map_err(output_error)
    }

    /// Write every output file into `outdir` (created if missing), each to a
    /// temporary file renamed over the old one, so that a reader never sees a
    /// partial index; a file that already holds the right contents is left alone.
    /// The first failure stops the writing ([`Error::Fatal`]; its message is empty
    /// when the problem was reported to `sink` already). With a cache in `outdir`
    /// ([`DepmodOptions::cache`]), the cache is written last.
    pub fn write_files(&self, outdir: &Path, sink: &mut dyn Sink) -> Result<(), Error> {
        self.refuse_cycles()?;
        let mut log = Vec::new();
        let here = self.session.as_ref().filter(|s| s.dir == outdir);
        let mut records = Vec::new();
        let r = match here.and_then(|s| s.memo.as_ref()) {
            // the outputs are the recorded ones, checked when the run started
            Some(m) => {
                replay(m, &mut log);
                Ok(())
            }
            None => outputs::write_files(
                self.full(),
                outdir,
                &mut log,
                here.is_some().then_some(&mut records),
            ),
        };
        if r.is_ok() {
            let d = &self.inner;
            let dir = Path::new(std::ffi::OsStr::from_bytes(&d.opts.dirname));
            // `depmod -A` looks at every module file, excluded directories too:
            // the scan's newest time stands for them all only without excludes
            let newest = d.newest.filter(|_| !d.cfg.has_excludes());
            let touched = incremental::refresh_dep_time(outdir, dir, newest);
            if let Some(s) = here {
                let records = (!records.is_empty()).then_some(records);
                s.save(d, records, touched, &outputs::temp_suffix(), &mut log);
            }
        }
        drain(&mut log, sink);
        r.map_err(|message| Error::Fatal { message })
    }

    /// `depmod --check`: the names of the outputs in `outdir` that are missing or
    /// differ from what [`Depmod::write_files`] would write, in the order depmod
    /// writes them; empty when everything is up to date. Nothing is written (not
    /// even the cache). Fails as [`Depmod::write_files`] would.
    ///
    /// ```no_run
    /// use libkmod_rs::{Depmod, DepmodOptions, Root};
    ///
    /// let root = Root::host();
    /// let dir = root.module_dir("6.12.117+deb13-amd64");
    /// let opts = DepmodOptions {
    ///     dir: dir.clone(),
    ///     release: b"6.12.117+deb13-amd64".to_vec(),
    ///     // with the cache, an unchanged tree is checked in milliseconds
    ///     cache: Some(dir.clone()),
    ///     ..DepmodOptions::default()
    /// };
    /// let depmod = Depmod::run(&root, &opts, &mut ())?;
    /// for name in depmod.stale_files(&dir, &mut ())? {
    ///     println!("stale: {name}");
    /// }
    /// # Ok::<(), libkmod_rs::Error>(())
    /// ```
    pub fn stale_files(
        &self,
        outdir: &Path,
        sink: &mut dyn Sink,
    ) -> Result<Vec<&'static str>, Error> {
        self.refuse_cycles()?;
        let mut log = Vec::new();
        let r = match self.recorded().filter(|s| s.dir == outdir) {
            Some(s) => {
                if let Some(m) = &s.memo {
                    replay(m, &mut log);
                }
                Ok(Vec::new())
            }
            None => outputs::stale(self.full(), outdir, &mut log),
        };
        drain(&mut log, sink);
        r.map_err(output_error)
    }

    /// `depmod -A`: is `<dir>/modules.dep` newer than every module file under `dir`
    /// (`build` and `source` skipped)? An unreadable `modules.dep` counts as "not up
    /// to date" and is reported.
    pub fn is_up_to_date(dir: &Path, sink: &mut dyn Sink) -> bool {
        use std::os::unix::fs::MetadataExt;
        let dep = match std::fs::metadata(dir.join("modules.dep")) {
            Ok(m) => m.mtime(),
            Err(e) => {
                let message = failed(b"could not fstatat(", dir, b", modules.dep)", (&e).into());
                sink.report(config::msg(Level::Err, message));
                return false;
            }
        };
        !newer(dir, dep)
    }
}

/// Is any module file under `dir` newer than `mtime`? (`build`/`source` skipped.)
fn newer(dir: &Path, mtime: i64) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        if name == "build" || name == "source" {
            continue;
        }
        let p = e.path();
        let Ok(m) = std::fs::metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            if newer(&p, mtime) {
                return true;
            }
        } else if m.is_file()
            && crate::name::has_module_extension(name.as_bytes())
            && m.mtime() > mtime
        {
            return true;
        }
    }
    false
}

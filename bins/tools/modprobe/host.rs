//! The probe's view of modprobe: showing actions, inserting files (after the
//! checks before loading, beyond kmod), running install commands.

use super::run_shell;
use crate::diag::Log;
use crate::env::Env;
use crate::render;
use libkmod_rs::{
    Action, Checker, Diagnostic, Errno, Error, InsertFlags, Link, Module, ProbeFlags, ProbeHost,
    Sink,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a probe does through modprobe.
pub(super) struct Host<'a, 'e> {
    pub(super) env: &'a mut Env<'e>,
    pub(super) log: &'a Log,
    pub(super) env_options: Option<&'a [u8]>,
    /// The message of a module refused before loading.
    pub(super) refusal: Option<Vec<u8>>,
    /// The results of [`ProbeHost::check_chain`] by file: not checked again at
    /// insertion.
    pub(super) checked: HashMap<PathBuf, Result<(), Error>>,
    /// `--json`: the actions shown are recorded here instead of printed.
    pub(super) record: Option<&'a mut Vec<(Module, Action)>>,
}

impl Host<'_, '_> {
    fn refuse(&mut self, m: &Module, e: &Error) {
        if let Error::Refused { reason, .. } = e {
            let mut text = b"could not insert '".to_vec();
            text.extend_from_slice(m.name());
            text.extend_from_slice(b"': ");
            text.extend_from_slice(reason.as_bytes());
            text.push(b'\n');
            self.refusal = Some(text);
        }
    }
}

fn insert_flags(flags: ProbeFlags) -> InsertFlags {
    InsertFlags {
        force_modversion: flags.force_modversion,
        force_vermagic: flags.force_vermagic,
    }
}

impl Sink for Host<'_, '_> {
    /// libkmod's messages, through the tool's hook.
    fn report(&mut self, d: Diagnostic) {
        self.log.log(self.env.err, d.level, &d.message);
    }
}

impl ProbeHost for Host<'_, '_> {
    fn show(&mut self, m: &Module, action: &Action) {
        match &mut self.record {
            Some(steps) => steps.push((m.clone(), action.clone())),
            None => {
                let _ = render::action(self.env.out, action);
            }
        }
    }

    fn insert(
        &mut self,
        m: &Module,
        path: &Path,
        options: &[u8],
        flags: ProbeFlags,
    ) -> Result<(), Error> {
        let iflags = insert_flags(flags);
        let checked = match self.checked.remove(path) {
            Some(r) => r,
            None => Checker::new(&*self.env.kernel, &self.env.root).check(path, iflags, &[], true),
        };
        if let Err(e) = checked {
            self.refuse(m, &e);
            return Err(e);
        }
        let Env {
            kernel, root, err, ..
        } = &mut *self.env;
        libkmod_rs::insert(
            &mut **kernel,
            root,
            path,
            options,
            iflags,
            &mut self.log.sink(&mut **err),
        )
        .map(|_| ())
    }

    fn system(&mut self, m: &Module, command: &[u8]) -> Result<i32, Errno> {
        run_shell(m.name(), command, self.env_options)
    }

    /// Beyond kmod: every module of the chain is checked before the first is
    /// inserted, the earlier ones counting as loaded; a required module (the target,
    /// its dependencies) that fails ends the probe with nothing inserted. A softdep
    /// that fails is only skipped at its turn, as a failed insertion would be.
    fn check_chain(&mut self, chain: &[Link], flags: ProbeFlags) -> Result<(), Error> {
        let iflags = insert_flags(flags);
        let mut checker = Checker::new(&*self.env.kernel, &self.env.root);
        let mut before: Vec<PathBuf> = Vec::new();
        for link in chain {
            let r = checker.check(&link.path, iflags, &before, true);
            match &r {
                Ok(()) => before.push(link.path.clone()),
                Err(e) if link.required => {
                    self.refuse(&link.module, e);
                    return Err(Error::Errno(e.errno()));
                }
                Err(_) => {}
            }
            self.checked.insert(link.path.clone(), r);
        }
        Ok(())
    }
}

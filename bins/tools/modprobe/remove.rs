//! `modprobe -r`: removing modules with their dependencies, holders and softdeps,
//! as kmod's modprobe does it (`rmmod_do_module` and friends).

use super::{Fatal, Outcome, Tool, msg, run_shell};
use crate::env::Env;
use libkmod_rs::{Errno, InitState, Module};

/// Removal follows softdeps recursively; kmod recurses without bound through
/// softdep cycles (and crashes): stop at this depth.
const MAX_DEPTH: u32 = 256;
/// `ELOOP`: what a removal that went too deep gives.
const ELOOP: Errno = Errno::from_raw(40);

impl Tool<'_> {
    pub(super) fn rmmod_all(
        &mut self,
        env: &mut Env<'_>,
        args: &[Vec<u8>],
    ) -> Result<Outcome, Fatal> {
        let mut err = Ok(());
        for a in args {
            let r = self.rmmod(env, a)?;
            if r.is_err() {
                err = r;
            }
        }
        Ok(err)
    }

    fn rmmod(&mut self, env: &mut Env<'_>, alias: &[u8]) -> Result<Outcome, Fatal> {
        let list = match self.ctx.lookup(alias, &mut self.sink(env)) {
            Ok(l) => l,
            Err(e) => return Ok(Err(e.errno())),
        };
        let mut err = Ok(());
        if list.is_empty() {
            self.fatal(env, &msg(&[b"Module ", alias, b" not found.\n"]))?;
            err = Err(Errno::ENOENT);
        }
        for m in &list {
            err = self.rmmod_do_module(env, m, self.o.remove_holders, false, 0)?;
            if err.is_err() {
                break;
            }
        }
        Ok(err)
    }

    fn rmmod_do_modlist(
        &mut self,
        env: &mut Env<'_>,
        list: &[Module],
        stop_on_errors: bool,
        depth: u32,
    ) -> Result<Outcome, Fatal> {
        for m in list.iter().rev() {
            let r = self.rmmod_do_module(env, m, false, true, depth + 1)?;
            if r.is_err() && stop_on_errors {
                return Ok(r);
            }
        }
        Ok(Ok(()))
    }

    fn rmmod_do_module(
        &mut self,
        env: &mut Env<'_>,
        m: &Module,
        remove_holders: bool,
        ignore_builtin: bool,
        depth: u32,
    ) -> Result<Outcome, Fatal> {
        if depth > MAX_DEPTH {
            return Ok(Err(ELOOP));
        }
        let name = m.name();
        let (mut pre, mut post, mut cmd) = (Vec::new(), Vec::new(), None);
        if !self.o.ignore_commands {
            (pre, post) = m.softdeps(&mut self.sink(env));
            cmd = m.remove_command();
        }
        if cmd.is_none() && !self.o.ignore_loaded {
            match m.initstate(&mut self.sink(env)) {
                Err(_) => {
                    if self.o.first_time {
                        self.fatal(env, &msg(&[b"Module ", name, b" is not in kernel.\n"]))?;
                        return Ok(Err(Errno::ENOENT));
                    }
                    return Ok(Ok(()));
                }
                Ok(InitState::Builtin) => {
                    if ignore_builtin {
                        return Ok(Ok(()));
                    }
                    self.fatal(env, &msg(&[b"Module ", name, b" is builtin.\n"]))?;
                    return Ok(Err(Errno::ENOENT));
                }
                Ok(_) => {}
            }
        }
        // the softdeps' failures do not count (kmod ignores them)
        let _ = self.rmmod_do_modlist(env, &post, false, depth)?;
        if remove_holders {
            let holders = m.holders(&mut self.sink(env));
            let r = self.rmmod_do_modlist(env, &holders, true, depth)?;
            if r.is_err() {
                return Ok(r);
            }
        }
        if cmd.is_none() && !self.o.ignore_loaded && self.o.wait_msec == 0 {
            let usage = m.refcnt(&mut self.sink(env));
            if matches!(usage, Ok(n) if n > 0) {
                self.fatal(env, &msg(&[b"Module ", name, b" is in use.\n"]))?;
                return Ok(Err(Errno::EBUSY));
            }
        }
        let err = match &cmd {
            None => self.rmmod_do_remove_module(env, m)?,
            Some(c) => self.command_do(env, m, c)?,
        };
        if err.is_err() {
            return Ok(err);
        }
        if cmd.is_none() {
            for d in m.dependencies(&mut self.sink(env)) {
                if matches!(d.refcnt(&mut self.sink(env)), Ok(0)) {
                    let _ = self.rmmod_do_remove_module(env, &d)?;
                }
            }
        }
        let _ = self.rmmod_do_modlist(env, &pre, false, depth)?;
        Ok(err)
    }

    fn rmmod_do_remove_module(&mut self, env: &mut Env<'_>, m: &Module) -> Result<Outcome, Fatal> {
        let name = m.name();
        self.show(env, "rmmod", name);
        if self.o.dry_run {
            return Ok(Ok(()));
        }
        let wait = self.o.wait_msec;
        let mut t0: Option<std::time::Instant> = None;
        let mut interval: u64 = 0;
        let mut err;
        loop {
            let removed = if wait == 0 {
                m.remove(
                    &mut *env.kernel,
                    self.o.force,
                    &mut self.log.t.sink(env.err),
                )
            } else {
                // KMOD_REMOVE_NOLOG: the failure is reported below
                m.remove(&mut *env.kernel, self.o.force, &mut ())
            };
            err = removed.map_err(|e| e.errno());
            if err == Err(Errno::EEXIST) {
                if self.o.first_time {
                    self.fatal(env, &msg(&[b"Module ", name, b" is not in kernel.\n"]))?;
                } else {
                    err = Ok(());
                }
                break;
            }
            if err != Err(Errno::EAGAIN) || wait == 0 {
                break;
            }
            // exponential backoff: doubling sleeps, the last one clipped to the
            // deadline; when no time is left the loop ends with success (v34.2)
            let start = *t0.get_or_insert_with(|| {
                interval = 1;
                std::time::Instant::now()
            });
            let t = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
            interval = if interval == 0 { 1 } else { interval << 1 };
            while interval > 0 && t.saturating_add(interval) > wait {
                interval >>= 1;
            }
            if interval == 0 && wait > t {
                interval = wait - t;
            }
            let until = start + std::time::Duration::from_millis(t.saturating_add(interval));
            std::thread::sleep(until.saturating_duration_since(std::time::Instant::now()));
            err = Ok(());
            if interval == 0 {
                break;
            }
        }
        if let Err(e) = err
            && wait != 0
        {
            let text = format!("': {e}\n");
            self.error(env, &msg(&[b"could not remove '", name, text.as_bytes()]));
        }
        Ok(err)
    }

    /// The tool's `command_do` (remove commands): substitution with empty options,
    /// `remove <cmd>` shown, run unless dry-run.
    fn command_do(
        &mut self,
        env: &mut Env<'_>,
        m: &Module,
        command: &[u8],
    ) -> Result<Outcome, Fatal> {
        let cmd = libkmod_rs::substitute_cmdline_opts(command, b"");
        self.show(env, "remove", &cmd);
        if self.o.dry_run {
            return Ok(Ok(()));
        }
        match run_shell(m.name(), &cmd, self.o.env_options.as_deref()) {
            Ok(0) => Ok(Ok(())),
            r => {
                self.fatal(
                    env,
                    &msg(&[b"Error running remove command for ", m.name(), b"\n"]),
                )?;
                // kmod returns the command's exit code (or -1), negated
                Ok(Err(Errno::from_raw(r.unwrap_or(1))))
            }
        }
    }
}

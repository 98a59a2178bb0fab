//! Which file `pman log NAME` reads, and what it says when there is none.
//! The daemon answers with the paths in effect; a client without a daemon
//! looks in its config file. Both say it the same way.

use crate::config::{LogTarget, ProgramConfig};
use crate::text::Part::Str;

/// The processes `name` selects: the one so named, or every process of the
/// `[program:X]` section `X` (also `X:*`); `all` selects every one.
pub fn select<'a>(programs: impl Iterator<Item = &'a ProgramConfig>, name: &str) -> Vec<&'a ProgramConfig> {
    let all: Vec<&ProgramConfig> = programs.collect();
    if let Some(one) = all.iter().find(|p| p.name == name) {
        return vec![one];
    }
    let group = name.strip_suffix(":*").unwrap_or(name);
    all.into_iter().filter(|p| name == "all" || p.group() == group).collect()
}

/// The error for a name that selects several processes:
/// `pman: log: worker has 3 processes: worker_00 worker_01 worker_02`.
pub fn several(name: &str, processes: &[&ProgramConfig]) -> String {
    let mut digits = [0; 20];
    let count = crate::text::decimal_str(processes.len() as u64, &mut digits);
    let mut text = crate::text::concat("pman: log: {} has {} processes:", &[Str(name), Str(count)]);
    for p in processes {
        text.push(' ');
        text.push_str(&p.name);
    }
    text
}

/// The file `log` reads for `program` (`stderr`: its stderr log, which
/// with `redirect_stderr` is the stdout log), or why there is none (a
/// section with errors has no paths: it is never run).
pub fn path_of(program: &ProgramConfig, stderr: bool) -> Result<&[u8], String> {
    if program.is_unrun() {
        return Err(crate::text::concat(
            "pman: {}: not run: its config has errors (FATAL config)",
            &[Str(&program.name)],
        ));
    }
    let (which, target) = if stderr && !program.redirect_stderr {
        ("stderr", &program.stderr)
    } else {
        ("stdout", &program.stdout)
    };
    match target {
        LogTarget::File(path) => Ok(path),
        LogTarget::Syslog => Err(crate::text::concat(
            "pman: {}: {} goes to syslog (see logread)",
            &[Str(&program.name), Str(which)],
        )),
        LogTarget::None => {
            Err(crate::text::concat("pman: {}: {} is not logged (none)", &[Str(&program.name), Str(which)]))
        }
    }
}

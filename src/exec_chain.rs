//! `tend __exec-chain`: a service's `pre-exec` commands (systemd's
//! `ExecStartPre=`), then its `exec`, in the process tend started for the
//! service, so the main command keeps that pid, cgroup, user and
//! environment (what `type = "forking"`, `notify` and `$MAINPID` rely on),
//! with no shell needed (distroless images have none).
//!
//! Arguments (made by `os::launch::prepare`, never by hand):
//! `(--step|--step-ignore) N ARG...{N}`... `--program PATH -- ARGV...`.
//! A step that fails (`--step`: a non-zero exit or a signal) ends the
//! chain with its status and one line on stderr (the service's log);
//! `--step-ignore` steps may fail. Then `PATH` is executed with `ARGV`;
//! with neither `--program` nor `ARGV` (steps alone: a unit's
//! `ExecStopPost=` lines as its on-exit hook) the chain exits 0.
//!
//! `--expand` (first): each step's words get systemd's `$VAR` expansion
//! here, against the chain's own environment (the service's), so that a
//! `$VAR` that becomes no word or several cannot break the word counts;
//! `steps_argv` writes such chains with every `$` doubled for the
//! launcher's own expansion to undo. `--raise`: a step killed by a signal
//! kills the chain with it (ExecCondition= tells a signal from exit 255).

use std::os::unix::process::{CommandExt, ExitStatusExt};

struct Step {
    argv: Vec<String>,
    ignore_failure: bool,
}

struct Chain {
    expand: bool,
    raise: bool,
    steps: Vec<Step>,
    program: String,
    argv: Vec<String>,
}

fn parse(args: &[String]) -> Result<Chain, String> {
    let mut steps = Vec::new();
    let mut it = args.iter();
    let mut program = None;
    let (mut expand, mut raise) = (false, false);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--expand" => expand = true,
            "--raise" => raise = true,
            "--step" | "--step-ignore" => {
                let n: usize = (it.next())
                    .and_then(|n| n.parse().ok())
                    .ok_or("a step without its word count")?;
                let argv: Vec<String> = it.by_ref().take(n).cloned().collect();
                if argv.len() != n || n == 0 {
                    return Err("a step shorter than its word count".into());
                }
                steps.push(Step {
                    argv,
                    ignore_failure: a == "--step-ignore",
                });
            }
            "--program" => program = it.next().cloned(),
            "--" => {
                let argv: Vec<String> = it.cloned().collect();
                // Steps alone (a unit's ExecStopPost= lines, as a hook).
                if argv.is_empty() && program.is_none() {
                    return Ok(Chain {
                        expand,
                        raise,
                        steps,
                        program: String::new(),
                        argv,
                    });
                }
                let program = program.ok_or("no --program")?;
                if argv.is_empty() {
                    return Err("no command after --".into());
                }
                return Ok(Chain {
                    expand,
                    raise,
                    steps,
                    program,
                    argv,
                });
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    Err("no `--` before the command".into())
}

/// Runs the chain; returns only on failure (the exit status to use).
pub fn main(args: &[String]) -> i32 {
    let chain = match parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tend __exec-chain: {e}");
            return 2;
        }
    };
    for step in &chain.steps {
        let argv = if chain.expand {
            crate::environ::expand_env(&step.argv, &|k| std::env::var(k).ok())
        } else {
            step.argv.clone()
        };
        let Some((program, args)) = argv.split_first() else {
            // `$EMPTY` alone: nothing to run, as systemd (an empty command).
            continue;
        };
        let shown = argv.join(" ");
        let status = std::process::Command::new(program).args(args).status();
        let code = match status {
            Ok(s) if s.success() => continue,
            Ok(s) => match (s.code(), s.signal()) {
                (Some(c), _) => {
                    if !step.ignore_failure {
                        eprintln!("tend: pre-exec `{shown}` failed: exit status {c}");
                    }
                    c
                }
                (None, Some(sig)) => {
                    if !step.ignore_failure {
                        eprintln!("tend: pre-exec `{shown}` was killed by signal {sig}");
                        if chain.raise {
                            crate::os::die_of(sig);
                        }
                    }
                    128 + sig
                }
                _ => 1,
            },
            Err(e) => {
                if !step.ignore_failure {
                    eprintln!("tend: pre-exec `{shown}`: {e}");
                }
                if e.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                }
            }
        };
        if !step.ignore_failure {
            return code;
        }
    }
    if chain.argv.is_empty() {
        return 0;
    }
    let e = std::process::Command::new(&chain.program)
        .arg0(&chain.argv[0])
        .args(&chain.argv[1..])
        .exec();
    eprintln!("tend: exec {}: {e}", chain.program);
    if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

/// The argv of a chain of `cmds` alone (`tend __exec-chain --step ...
/// --`): how a service's list of commands (ExecStop=, ExecReload=,
/// ExecStopPost= lines; post-start, exec-condition) runs as one process.
/// With `expand` the words are written for the launcher's `$VAR`
/// expansion to give them back unchanged, and the chain expands them.
pub fn steps_argv(cmds: &[crate::model::PreCommand], expand: bool, raise: bool) -> Vec<String> {
    let mut v = vec!["/proc/self/exe".to_string(), "__exec-chain".to_string()];
    if expand {
        v.push("--expand".into());
    }
    if raise {
        v.push("--raise".into());
    }
    for c in cmds {
        v.push(
            if c.ignore_failure {
                "--step-ignore"
            } else {
                "--step"
            }
            .into(),
        );
        v.push(c.argv.len().to_string());
        if expand {
            v.extend(c.argv.iter().map(|w| w.replace('$', "$$")));
        } else {
            v.extend(c.argv.iter().cloned());
        }
    }
    v.push("--".into());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn steps_and_the_command_are_read_back() {
        let c = parse(&words(
            "--step 2 a b --step-ignore 1 c --program /bin/x -- x -y",
        ))
        .unwrap();
        assert_eq!(c.steps.len(), 2);
        assert_eq!(
            (c.steps[0].argv.clone(), c.steps[0].ignore_failure),
            (words("a b"), false)
        );
        assert_eq!(
            (c.steps[1].argv.clone(), c.steps[1].ignore_failure),
            (words("c"), true)
        );
        assert_eq!(
            (c.program.as_str(), c.argv.clone()),
            ("/bin/x", words("x -y"))
        );
    }

    #[test]
    fn a_written_chain_survives_the_launchers_expansion() {
        let cmds = vec![
            crate::model::PreCommand {
                argv: words("/bin/kill -HUP $MAINPID"),
                ignore_failure: false,
                privilege: crate::model::Privilege::Service,
            },
            crate::model::PreCommand {
                argv: words("/bin/echo ${A} $EMPTY $$"),
                ignore_failure: true,
                privilege: crate::model::Privilege::Service,
            },
        ];
        let argv = steps_argv(&cmds, true, false);
        // The launcher expands every word (no variable is set there).
        let after = crate::environ::expand_env(&argv, &|_| Some("x y".to_string()));
        let c = parse(&after[2..]).unwrap();
        assert!(c.expand && !c.raise);
        assert_eq!(c.steps[0].argv, words("/bin/kill -HUP $MAINPID"));
        assert_eq!(c.steps[1].argv, words("/bin/echo ${A} $EMPTY $$"));
        assert!(c.steps[1].ignore_failure);
    }

    #[test]
    fn steps_alone_are_a_chain() {
        let c = parse(&words("--step 1 a --")).unwrap();
        assert_eq!((c.steps.len(), c.argv.len()), (1, 0));
    }

    #[test]
    fn malformed_chains_are_refused() {
        for bad in [
            "--step 3 a b",
            "--step x a --program p -- x",
            "--step 0 --program p -- x",
            "--program p --",
            "--step 1 a --program p --",
            "-- x",
            "--step 1 a",
            "junk",
        ] {
            assert!(parse(&words(bad)).is_err(), "{bad}");
        }
    }
}

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

use std::os::unix::process::{CommandExt, ExitStatusExt};

struct Step {
    argv: Vec<String>,
    ignore_failure: bool,
}

struct Chain {
    steps: Vec<Step>,
    program: String,
    argv: Vec<String>,
}

fn parse(args: &[String]) -> Result<Chain, String> {
    let mut steps = Vec::new();
    let mut it = args.iter();
    let mut program = None;
    while let Some(a) = it.next() {
        match a.as_str() {
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
        let shown = step.argv.join(" ");
        let status = std::process::Command::new(&step.argv[0])
            .args(&step.argv[1..])
            .status();
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

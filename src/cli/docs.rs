//! `tend completions SHELL` and `tend man`: generated from the same clap
//! definitions as the parser (`args`), so they cannot drift from it.

use crate::args::Cli;
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

pub fn completions(shell: clap_complete::Shell) -> i32 {
    let mut cmd = Cli::command();
    // Into memory first: the generator panics on a write error (a closed
    // pipe), and tend never panics.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "tend", &mut script);
    emit(&script)
}

/// tend(1) on stdout; with `dir`, tend.1 and one tend-COMMAND.1 per
/// command there.
pub fn man(dir: Option<&Path>) -> i32 {
    let cmd = Cli::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        if let Err(e) = clap_mangen::Man::new(cmd).render(&mut page) {
            eprintln!("tend: man: {e}");
            return 1;
        }
        return emit(&page);
    };
    let made = std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir));
    match made {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tend: man: {}: {e}", dir.display());
            1
        }
    }
}

/// `bytes` on stdout; a reader that went away (`| head`) is no error.
fn emit(bytes: &[u8]) -> i32 {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("tend: {e}");
            1
        }
        _ => 0,
    }
}

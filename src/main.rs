use clap::Parser;
use tend::args::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Run { path, subreaper } => {
            tend::run::run(path.as_deref(), cli.socket.as_deref(), *subreaper)
        }
        Command::Check { path } => tend::run::check(path),
        Command::DetectType { .. } | Command::Notify { .. } => {
            eprintln!("tend: this command is not supported yet");
            1
        }
        other => tend::cli::run(other, &tend::cli::socket_path(cli.socket.as_deref())),
    };
    std::process::exit(code);
}

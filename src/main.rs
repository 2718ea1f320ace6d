use clap::Parser;

fn main() {
    let cli = tend::args::Cli::parse();
    eprintln!("{cli:?}");
}

use clap::Parser;

fn main() {
    let cli = strongid::cli::Cli::parse();
    if let Err(e) = strongid::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

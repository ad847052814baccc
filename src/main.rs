use clap::Parser;

fn main() {
    let cli = strongid::cli::Cli::parse();
    match strongid::cli::run(cli) {
        Ok(()) => {}
        Err(strongid::Error::ClosedStdout) => std::process::exit(strongid::Error::ClosedStdout.exit_code()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

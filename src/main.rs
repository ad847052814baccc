use clap::Parser;

fn main() {
    // Ctrl-C, SIGTERM, SIGHUP: a fit with --checkpoint saves its state and stops (130) by itself;
    // anything else (or a second signal) deletes the temporary files being written, then stops
    // (130). A file size limit (ulimit -f) makes writes fail with an error instead of killing the
    // process, so the normal error path removes its temporary file too.
    let _ = ctrlc::set_handler(|| {
        if strongid::train::checkpoint::on_signal() {
            return;
        }
        strongid::io::temps::remove_live();
        std::process::exit(130);
    });
    // SAFETY: setting a signal's disposition to "ignore" before any other thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
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

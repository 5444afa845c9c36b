//! The `consilium` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // On the heap: the whole command's future (settings, services) is larger than clippy's limit.
    Box::pin(consilium::cli::run(consilium::cli::Cli::parse())).await
}

//! The `consilium` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    consilium::cli::run(consilium::cli::Cli::parse()).await
}

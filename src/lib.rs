//! Consilium: the secure records-and-imaging transfer service behind a second medical opinion.
//!
//! The crate is a library with a thin binary (`main.rs`). Dependencies point inward:
//! `domain`, `intake` and `crypto` know nothing of HTTP, SQL or S3.

pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
#[doc(hidden)] // entry points for the fuzz targets in fuzz/, not an API
pub mod fuzzing;
pub mod http;
pub mod imaging;
pub mod intake;
pub mod services;
pub mod storage;
pub mod telemetry;

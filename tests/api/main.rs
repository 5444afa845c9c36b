//! API integration tests: the service on a real port, real databases and real object storage.

mod bombs;
mod fixtures;
mod helpers;

mod download;
mod form;
mod imaging;
mod intake_limits;
mod json_bodies;
mod leakage;
mod links;
mod openapi;
mod operations;
mod partners;
mod rejections;
mod repository;
mod round_trip;

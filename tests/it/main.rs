//! Integration tests: every one starts the real `handler` binary, and plays the Functions host,
//! the identity provider and Azure on 127.0.0.1. One test binary, so CI links once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod challenge_uri;
mod contract;
mod downstream;
mod faults;
mod functions;
mod host_protocols;
mod hostile;
mod key_rollover;
mod keys;
mod keyvault;
mod library;
mod limits;
mod log_injection;
mod mcp;
mod package;
mod proxying;
mod review_round3;
mod review_round4;
mod security_review;
mod signals;
mod smoke;
mod startup;
mod telemetry;
mod tenants;
mod third_party;
mod token_cache;

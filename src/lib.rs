//! Encore: a Discord music bot whose music survives restarts.
//!
//! The library holds everything; `main.rs` only parses the command line and calls [`app`].

pub mod app;
pub mod audio;
pub mod autosave;
pub mod cli;
pub mod discord;
pub mod domain;
pub mod health;
pub mod lease;
pub mod lifecycle;
pub mod metrics;
pub mod player;
pub mod services;
pub mod settings;
pub mod store;
pub mod sync;
pub mod telemetry;

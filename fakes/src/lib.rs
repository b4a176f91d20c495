//! Protocol-faithful fakes of the services Encore talks to, for tests and local runs.

pub mod discord;
mod http;
pub mod lavalink;
pub mod listeners;

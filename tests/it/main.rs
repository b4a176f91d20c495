//! The one integration-test binary. Modules by topic; what they share is in `harness`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod autosave;
mod backup;
mod cli;
mod crash;
mod crash_takeover;
mod discord;
mod docs;
mod engine;
mod failures;
mod listening;
mod listening_scenarios;
mod lyrics_search;
mod operate;
mod outage;
mod restore;
mod settings;
mod start_time;
mod startup;
mod store_contract;
mod takeover;
mod takeover_scenarios;
mod voice;

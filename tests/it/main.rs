//! The one integration-test binary. Modules by topic; shared helpers in `support`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod autosave;
mod backup;
mod cli;
mod crash;
mod discord;
mod docs;
mod engine;
mod operate;
mod resume;
mod settings;
mod store_contract;
mod support;

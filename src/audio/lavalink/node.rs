//! Nodes and placement: which node holds each guild's player, which node takes a new one, and
//! each node's health and load.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

use super::{LavalinkBackend, Node};
use crate::audio::AudioError;
use crate::domain::GuildId;
use crate::sync::LockExt;

/// What a node's last `stats` message said.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeLoad {
    pub players: u64,
    pub playing_players: u64,
    /// CPU load of the Lavalink process and of its host, 0-1.
    pub lavalink_load: f64,
    pub system_load: f64,
    pub memory_used: u64,
}

/// One node, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    pub name: String,
    /// Connected with a session.
    pub up: bool,
    pub load: Option<NodeLoad>,
}

impl LavalinkBackend {
    /// Takes over a live player on node `index` (found with [`live_players`]) as this guild's.
    ///
    /// [`live_players`]: LavalinkBackend::live_players
    pub fn adopt(&self, guild: GuildId, index: usize) {
        self.placement().insert(guild, index);
    }

    pub(super) fn placement(&self) -> MutexGuard<'_, HashMap<GuildId, usize>> {
        self.inner.placement.locked()
    }

    /// Names and health of the nodes, for `/status`.
    pub fn node_status(&self) -> Vec<(String, bool, u64)> {
        let placement = self.placement();
        self.inner
            .nodes
            .iter()
            .map(|n| {
                let ours = placement.values().filter(|i| **i == n.index).count() as u64;
                (n.name.clone(), n.state().connected, ours)
            })
            .collect()
    }

    /// Each node: up or not, and its last stats.
    pub fn node_reports(&self) -> Vec<NodeReport> {
        self.inner
            .nodes
            .iter()
            .map(|n| {
                let s = n.state();
                NodeReport {
                    name: n.name.clone(),
                    up: s.connected && s.session_id.is_some(),
                    load: s.load,
                }
            })
            .collect()
    }

    /// The node a guild's player is on, if any.
    pub fn node_of(&self, guild: GuildId) -> Option<usize> {
        self.placement().get(&guild).copied()
    }

    /// The guilds placed on node `index`.
    pub(super) fn guilds_on(&self, index: usize) -> Vec<GuildId> {
        self.placement()
            .iter()
            .filter(|(_, i)| **i == index)
            .map(|(g, _)| *g)
            .collect()
    }

    /// The connected node with the fewest players (ours, or as its stats say), other than
    /// `except`.
    pub(super) fn least_loaded(&self, except: Option<usize>) -> Option<Arc<Node>> {
        self.least_loaded_where(|n| Some(n.index) != except)
    }

    /// The connected node with the fewest players among those `keep` accepts.
    pub(super) fn least_loaded_where(&self, keep: impl Fn(&Node) -> bool) -> Option<Arc<Node>> {
        self.connected_by_load().into_iter().find(|n| keep(n))
    }

    /// The connected nodes, the fewest players (ours, or as its stats say) first, then in their
    /// order in `LAVALINK_NODES`.
    pub(super) fn connected_by_load(&self) -> Vec<Arc<Node>> {
        let placement = self.placement();
        let mut nodes: Vec<(u64, Arc<Node>)> = self
            .inner
            .nodes
            .iter()
            .filter(|n| {
                let s = n.state();
                s.connected && s.session_id.is_some()
            })
            .map(|n| {
                let ours = placement.values().filter(|i| **i == n.index).count() as u64;
                (ours.max(n.state().playing), n.clone())
            })
            .collect();
        nodes.sort_by_key(|(load, n)| (*load, n.index));
        nodes.into_iter().map(|(_, n)| n).collect()
    }

    pub(super) fn session_of(node: &Node) -> Result<String, AudioError> {
        let s = node.state();
        match (&s.session_id, s.connected) {
            (Some(id), true) => Ok(id.clone()),
            _ => Err(AudioError::Unavailable),
        }
    }
}

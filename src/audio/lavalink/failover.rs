//! Failover: moving the players of a node that stays down to the other nodes.

use super::{LavalinkBackend, Node};
use crate::audio::BackendEvent;
use crate::domain::GuildId;

impl LavalinkBackend {
    /// When `node` has been down for `takeover_after` and another node is up, its players are
    /// reported lost so they are rebuilt elsewhere.
    pub(super) fn take_over_if_down(&self, node: &Node) {
        let down_long = node
            .state()
            .down_since
            .is_some_and(|t| t.elapsed() >= self.inner.options.takeover_after);
        if !down_long {
            return;
        }
        let other_up = self
            .inner
            .nodes
            .iter()
            .any(|n| n.index != node.index && n.state().connected);
        if !other_up {
            return;
        }
        let guilds = self.release_node(node.index);
        if guilds.is_empty() {
            return;
        }
        node.state().moved_away.extend(guilds.iter().copied());
        tracing::warn!(node = %node.name, players = guilds.len(), "Lavalink node is down; moving its players to another node");
        let _ = self.inner.events.send(BackendEvent::PlayersLost { guilds });
    }

    /// Forgets which guilds were placed on node `index`, and returns them.
    pub(super) fn release_node(&self, index: usize) -> Vec<GuildId> {
        let guilds = self.guilds_on(index);
        let mut placement = self.placement();
        for g in &guilds {
            placement.remove(g);
        }
        guilds
    }
}

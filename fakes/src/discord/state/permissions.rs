//! Permissions: a member's base permissions and a channel's overwrites.

use super::{Guild, State, ADMINISTRATOR, ALL_PERMISSIONS};

impl State {
    pub(super) fn base_permissions(g: &Guild, user: u64) -> u64 {
        if user == g.spec.owner_id {
            return ALL_PERMISSIONS;
        }
        let perms = |rid: u64| {
            g.spec
                .roles
                .iter()
                .find(|r| r.id == rid)
                .and_then(|r| r.permissions.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let mut p = perms(g.spec.id);
        if let Some(m) = g.spec.members.iter().find(|m| m.user_id == user) {
            for r in &m.roles {
                p |= perms(*r);
            }
        }
        if p & ADMINISTRATOR != 0 {
            ALL_PERMISSIONS
        } else {
            p
        }
    }

    pub(super) fn channel_permissions(g: &Guild, channel: u64, user: u64) -> u64 {
        let mut p = Self::base_permissions(g, user);
        if p & ADMINISTRATOR != 0 {
            return ALL_PERMISSIONS;
        }
        let Some(c) = g.spec.channels.iter().find(|c| c.id == channel) else {
            return p;
        };
        let bits = |s: &str| s.parse::<u64>().unwrap_or(0);
        if let Some(o) = c
            .permission_overwrites
            .iter()
            .find(|o| o.kind == 0 && o.id == g.spec.id)
        {
            p &= !bits(&o.deny);
            p |= bits(&o.allow);
        }
        let roles: Vec<u64> = g
            .spec
            .members
            .iter()
            .find(|m| m.user_id == user)
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let (mut allow, mut deny) = (0, 0);
        for o in &c.permission_overwrites {
            if o.kind == 0 && roles.contains(&o.id) {
                allow |= bits(&o.allow);
                deny |= bits(&o.deny);
            }
        }
        p &= !deny;
        p |= allow;
        if let Some(o) = c
            .permission_overwrites
            .iter()
            .find(|o| o.kind == 1 && o.id == user)
        {
            p &= !bits(&o.deny);
            p |= bits(&o.allow);
        }
        p
    }

    pub(super) fn find_channel(&self, channel: u64) -> Option<(&Guild, usize)> {
        self.guilds.values().find_map(|g| {
            g.spec
                .channels
                .iter()
                .position(|c| c.id == channel)
                .map(|i| (g, i))
        })
    }
}

//! Vote-skip: a member who may not skip at once (neither DJ nor the track's requester) votes,
//! and the track is skipped once enough of the channel's listeners voted.

use std::collections::BTreeSet;

/// The share of listeners whose votes skip a track, in percent (1–100); 0 turns voting off
/// (anyone skips at once). Default of the server setting.
pub const DEFAULT_VOTE_SKIP_PERCENT: u8 = 50;

/// How many votes skip a track among `listeners` (members in the bot's voice channel, bots not
/// counted) at `percent`: the share rounded up, at least one.
pub fn votes_needed(listeners: usize, percent: u8) -> usize {
    let percent = usize::from(percent.min(100));
    (listeners * percent).div_ceil(100).max(1)
}

/// What a member's `/skip` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipVote {
    /// Skip now: the member may (DJ, requester, voting off, alone), or their vote was the last
    /// one needed (`votes` of `needed`; 0 of 0 when no vote was needed).
    Skip { votes: usize, needed: usize },
    /// Their vote counts; not enough yet.
    Counted { votes: usize, needed: usize },
    /// They had voted for this track already.
    AlreadyVoted { votes: usize, needed: usize },
}

/// The skip votes of one guild's current play.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipVotes {
    /// The play the votes are for ([`SkipVotes::vote`]'s `play`): a new track resets them.
    play: Option<String>,
    voters: BTreeSet<u64>,
}

impl SkipVotes {
    /// `member` asks to skip `play` (a key of the current play). `may_skip`: the member is DJ
    /// or the track's requester. `listeners`: the member ids in the bot's voice channel now;
    /// votes of members who left no longer count. `percent`: the server's share (0 = off).
    pub fn vote(
        &mut self,
        play: &str,
        member: u64,
        may_skip: bool,
        listeners: &[u64],
        percent: u8,
    ) -> SkipVote {
        if self.play.as_deref() != Some(play) {
            self.play = Some(play.to_string());
            self.voters.clear();
        }
        if may_skip || percent == 0 || listeners.len() <= 1 {
            self.voters.clear();
            return SkipVote::Skip {
                votes: 0,
                needed: 0,
            };
        }
        self.voters.retain(|v| listeners.contains(v));
        let needed = votes_needed(listeners.len(), percent);
        let fresh = listeners.contains(&member) && self.voters.insert(member);
        let votes = self.voters.len();
        if votes >= needed {
            self.voters.clear();
            SkipVote::Skip { votes, needed }
        } else if fresh {
            SkipVote::Counted { votes, needed }
        } else {
            SkipVote::AlreadyVoted { votes, needed }
        }
    }

    /// The votes for `play` that still count among `listeners`, and how many are needed.
    pub fn tally(&self, play: &str, listeners: &[u64], percent: u8) -> (usize, usize) {
        let votes = if self.play.as_deref() == Some(play) {
            self.voters.iter().filter(|v| listeners.contains(v)).count()
        } else {
            0
        };
        (votes, votes_needed(listeners.len(), percent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_for_one_two_three_and_five_listeners() {
        assert_eq!(votes_needed(1, 50), 1);
        assert_eq!(votes_needed(2, 50), 1);
        assert_eq!(votes_needed(3, 50), 2);
        assert_eq!(votes_needed(5, 50), 3);
        assert_eq!(votes_needed(5, 100), 5);
        assert_eq!(votes_needed(4, 75), 3);
        assert_eq!(votes_needed(5, 1), 1);
    }

    #[test]
    fn votes_count_up_to_the_share_then_skip() {
        let five = [1, 2, 3, 4, 5];
        let mut v = SkipVotes::default();
        assert_eq!(
            v.vote("a", 1, false, &five, 50),
            SkipVote::Counted {
                votes: 1,
                needed: 3
            }
        );
        assert_eq!(
            v.vote("a", 1, false, &five, 50),
            SkipVote::AlreadyVoted {
                votes: 1,
                needed: 3
            }
        );
        assert_eq!(
            v.vote("a", 2, false, &five, 50),
            SkipVote::Counted {
                votes: 2,
                needed: 3
            }
        );
        assert_eq!(
            v.vote("a", 3, false, &five, 50),
            SkipVote::Skip {
                votes: 3,
                needed: 3
            }
        );
        assert_eq!(v.tally("a", &five, 50), (0, 3), "a skip clears the votes");
    }

    #[test]
    fn a_lone_listener_a_dj_or_requester_and_voting_off_skip_at_once() {
        let mut v = SkipVotes::default();
        let now = SkipVote::Skip {
            votes: 0,
            needed: 0,
        };
        assert_eq!(v.vote("a", 1, false, &[1], 50), now);
        assert_eq!(v.vote("a", 1, true, &[1, 2, 3], 50), now);
        assert_eq!(v.vote("a", 1, false, &[1, 2, 3], 0), now);
    }

    #[test]
    fn two_listeners_need_one_vote() {
        let mut v = SkipVotes::default();
        assert_eq!(
            v.vote("a", 2, false, &[1, 2], 50),
            SkipVote::Skip {
                votes: 1,
                needed: 1
            }
        );
    }

    #[test]
    fn a_new_track_resets_the_votes() {
        let three = [1, 2, 3];
        let mut v = SkipVotes::default();
        v.vote("a", 1, false, &three, 50);
        assert_eq!(v.tally("a", &three, 50), (1, 2));
        assert_eq!(v.tally("b", &three, 50), (0, 2));
        assert_eq!(
            v.vote("b", 2, false, &three, 50),
            SkipVote::Counted {
                votes: 1,
                needed: 2
            }
        );
    }

    #[test]
    fn members_who_left_stop_counting() {
        let mut v = SkipVotes::default();
        v.vote("a", 1, false, &[1, 2, 3, 4, 5], 50);
        v.vote("a", 2, false, &[1, 2, 3, 4, 5], 50);
        // 1 and 2 leave: 3 listeners need 2 votes, and only 3's counts.
        assert_eq!(
            v.vote("a", 3, false, &[3, 4, 5], 50),
            SkipVote::Counted {
                votes: 1,
                needed: 2
            }
        );
        // A member not in the channel cannot vote.
        assert_eq!(
            v.vote("a", 9, false, &[3, 4, 5], 50),
            SkipVote::AlreadyVoted {
                votes: 1,
                needed: 2
            }
        );
    }
}

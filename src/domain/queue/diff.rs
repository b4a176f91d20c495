//! How one list (of tracks) became another, as a few replaced spans: what a store writes to bring
//! a saved queue up to date without rewriting it.
//!
//! [`diff`] is exact for every list and cheap for what the queue's operations do: a change at one
//! place (append, insert next, remove, clear) is one span; a move of one track, dropping tracks at
//! the front while adding at the back (a skip, a looping queue, the bounded history) and the
//! reverse (`previous`) are two; anything else (a shuffle) is one span from the first difference
//! to the last. It compares at most about five times the lists' lengths.

use std::collections::VecDeque;

/// One change: the `old_len` items at `old_start` of the old list were replaced by the `new_len`
/// items at `new_start` of the new list. Positions are 0-based indices into each list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
}

impl Hunk {
    /// One past the last old item replaced.
    pub fn old_end(&self) -> usize {
        self.old_start + self.old_len
    }

    /// One past the last new item written.
    pub fn new_end(&self) -> usize {
        self.new_start + self.new_len
    }
}

/// The hunks that turn `old` into `new`: in order, not overlapping, and outside them the two
/// lists hold the same items in the same order. Empty when the lists are equal.
pub fn diff<T: PartialEq>(old: &VecDeque<T>, new: &VecDeque<T>) -> Vec<Hunk> {
    let (lo, ln) = (old.len(), new.len());
    let prefix = (0..lo.min(ln))
        .find(|&i| old[i] != new[i])
        .unwrap_or(lo.min(ln));
    let room = lo.min(ln) - prefix;
    let suffix = (0..room)
        .find(|&i| old[lo - 1 - i] != new[ln - 1 - i])
        .unwrap_or(room);
    // The differing middles: old[p..p + a] became new[p..p + b].
    let p = prefix;
    let a = lo - prefix - suffix;
    let b = ln - prefix - suffix;
    if a == 0 && b == 0 {
        return vec![];
    }
    let hunk = |old_start, old_len, new_start, new_len| Hunk {
        old_start,
        old_len,
        new_start,
        new_len,
    };
    if a > 0 && b > 0 {
        // Dropped `k` at the front, added at the back: old[p + k..p + a] == new[p..p + a - k];
        // or added `k` at the front, dropped at the back: new[p + k..p + b] == old[p..p + b - k].
        // Whichever writes fewer items.
        let back = shifted_by(old, p, a, new, b).map(|k| (b - (a - k), k));
        let front = shifted_by(new, p, b, old, a).map(|k| (k, k));
        match (back, front) {
            (Some((w, k)), f) if f.is_none_or(|(wf, _)| w <= wf) => {
                let kept = a - k;
                return nonempty([hunk(p, k, p, 0), hunk(p + a, 0, p + kept, b - kept)]);
            }
            (_, Some((_, k))) => {
                let kept = b - k;
                return nonempty([hunk(p, 0, p, k), hunk(p + kept, a - kept, p + b, 0)]);
            }
            _ => {}
        }
    }
    vec![hunk(p, a, p, b)]
}

fn nonempty<const N: usize>(hunks: [Hunk; N]) -> Vec<Hunk> {
    hunks
        .into_iter()
        .filter(|h| h.old_len > 0 || h.new_len > 0)
        .collect()
}

/// The `k` (0 < k < a) for which `x[p + k..p + a]` is the start of `y[p..p + b]`, trying the
/// first place where `y[p]` occurs in `x`.
fn shifted_by<T: PartialEq>(
    x: &VecDeque<T>,
    p: usize,
    a: usize,
    y: &VecDeque<T>,
    b: usize,
) -> Option<usize> {
    let k = (1..a).find(|&k| x[p + k] == y[p])?;
    let kept = a - k;
    (kept <= b && (0..kept).all(|i| x[p + k + i] == y[p + i])).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Rebuilds the new list from the old one and the hunks, checking that what lies outside the
    /// hunks is the same in both lists.
    fn apply(old: &VecDeque<u32>, hunks: &[Hunk], new: &VecDeque<u32>) -> VecDeque<u32> {
        let mut out = VecDeque::new();
        let mut at = 0;
        for h in hunks {
            assert!(h.old_start >= at, "hunks in order: {hunks:?}");
            for x in old.range(at..h.old_start) {
                assert_eq!(*x, new[out.len()], "unchanged items line up: {hunks:?}");
                out.push_back(*x);
            }
            assert_eq!(h.new_start, out.len(), "new positions add up: {hunks:?}");
            out.extend(new.range(h.new_start..h.new_end()).copied());
            at = h.old_end();
        }
        out.extend(old.range(at..));
        out
    }

    fn list(items: &[u32]) -> VecDeque<u32> {
        items.iter().copied().collect()
    }

    /// The items written (what a store pays for).
    fn written(hunks: &[Hunk]) -> usize {
        hunks.iter().map(|h| h.new_len).sum()
    }

    fn check(old: &[u32], new: &[u32]) -> Vec<Hunk> {
        let (old, new) = (list(old), list(new));
        let hunks = diff(&old, &new);
        assert_eq!(apply(&old, &hunks, &new), new);
        hunks
    }

    #[test]
    fn equal_lists_need_nothing() {
        assert!(check(&[1, 2, 3], &[1, 2, 3]).is_empty());
        assert!(check(&[], &[]).is_empty());
    }

    #[test]
    fn an_append_writes_only_what_was_appended() {
        let old: Vec<u32> = (0..5000).collect();
        let mut new = old.clone();
        new.push(9999);
        let hunks = check(&old, &new);
        assert_eq!(
            hunks,
            vec![Hunk {
                old_start: 5000,
                old_len: 0,
                new_start: 5000,
                new_len: 1
            }]
        );
    }

    #[test]
    fn an_insert_or_a_remove_in_place_is_one_small_hunk() {
        let hunks = check(&[1, 2, 3, 4], &[7, 8, 1, 2, 3, 4]);
        assert_eq!((hunks.len(), written(&hunks)), (1, 2));
        let hunks = check(&[1, 2, 3, 4], &[1, 2, 4]);
        assert_eq!(
            hunks,
            vec![Hunk {
                old_start: 2,
                old_len: 1,
                new_start: 2,
                new_len: 0
            }]
        );
        assert_eq!(check(&[1, 2, 3], &[]).len(), 1);
    }

    #[test]
    fn a_move_writes_one_item_either_way() {
        let old: Vec<u32> = (0..1000).collect();
        let mut back = old.clone();
        let moved = back.remove(10);
        back.insert(900, moved);
        let hunks = check(&old, &back);
        assert_eq!((hunks.len(), written(&hunks)), (2, 1), "{hunks:?}");
        let mut front = old.clone();
        let moved = front.remove(900);
        front.insert(10, moved);
        let hunks = check(&old, &front);
        assert_eq!((hunks.len(), written(&hunks)), (2, 1), "{hunks:?}");
    }

    #[test]
    fn a_skip_of_a_looping_queue_and_a_full_history_write_one_item() {
        // The front track goes to the back.
        let hunks = check(&[1, 2, 3, 4], &[2, 3, 4, 9]);
        assert_eq!(written(&hunks), 1, "{hunks:?}");
        // A full history forgets its oldest and remembers the newest.
        let old: Vec<u32> = (0..50).collect();
        let new: Vec<u32> = (1..51).collect();
        assert_eq!(written(&check(&old, &new)), 1);
        // `previous` in a looping queue: the current track comes in front, the last one goes.
        let hunks = check(&[2, 3, 4, 1], &[0, 2, 3, 4]);
        assert_eq!(written(&hunks), 1, "{hunks:?}");
    }

    #[test]
    fn repeated_items_still_give_an_exact_result() {
        check(&[1, 1, 1, 2, 1], &[1, 2, 1, 1, 1]);
        check(&[5, 5, 5], &[5, 5, 5, 5]);
        check(&[1, 2, 1, 2], &[2, 1, 2, 1]);
    }

    proptest! {
        #[test]
        fn any_two_lists_rebuild_exactly(
            old in proptest::collection::vec(0u32..6, 0..40),
            new in proptest::collection::vec(0u32..6, 0..40),
        ) {
            check(&old, &new);
        }

        #[test]
        fn an_edit_of_a_long_list_rebuilds_exactly(
            len in 0usize..300,
            at in 0usize..300,
            cut in 0usize..5,
            added in proptest::collection::vec(1000u32..1010, 0..5),
        ) {
            let old: Vec<u32> = (0..len as u32).collect();
            let mut new = old.clone();
            let at = at.min(len);
            new.drain(at..(at + cut).min(len));
            for (i, x) in added.iter().enumerate() {
                new.insert(at + i, *x);
            }
            let hunks = check(&old, &new);
            prop_assert!(written(&hunks) <= added.len());
        }
    }
}

//! How a saved list of tracks (a queue's upcoming tracks, its history) is laid out: in chunks of
//! at most [`CHUNK_TRACKS`] tracks, each stored once and never changed, listed in order by the
//! player's record (SQLite: `queues.upcoming`/`history`; MongoDB: the player document). A change
//! writes new chunks for what changed and drops the chunks it replaced, so appending one track to
//! a 5,000-track queue writes one small chunk, not the queue.
//!
//! [`plan`] is the one rule both database backends follow: from the chunks saved and the change
//! ([`crate::domain::diff`]), which chunks stay and which ranges of the new list are written.

use std::collections::VecDeque;
use std::ops::Range;

use crate::domain::{diff, Hunk};

/// Most tracks in one chunk (a chunk of realistic tracks is about 30 KiB).
pub(crate) const CHUNK_TRACKS: usize = 64;
/// A chunk next to a written range is rewritten with it when it holds fewer tracks than this and
/// both fit one chunk, so single appends do not leave a trail of tiny chunks.
const SMALL_CHUNK: usize = CHUNK_TRACKS / 2;

/// One saved chunk: its id in the database and how many tracks it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk<Id> {
    pub id: Id,
    pub len: usize,
}

/// The saved chunks of a queue: of its upcoming tracks, and of its history.
pub(crate) type QueueChunks<Id> = (Vec<Chunk<Id>>, Vec<Chunk<Id>>);

/// One part of the new list, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<Id> {
    /// A saved chunk that stays as it is.
    Keep(Chunk<Id>),
    /// A new chunk holding these tracks of the new list (at most [`CHUNK_TRACKS`]).
    Write(Range<usize>),
}

/// The new layout of a list: its pieces in order, and the saved chunks no longer used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan<Id> {
    pub pieces: Vec<Piece<Id>>,
    pub dropped: Vec<Id>,
}

#[cfg(test)]
impl<Id> Plan<Id> {
    /// Tracks written (what the change costs).
    pub fn written(&self) -> usize {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Write(r) => r.len(),
                Piece::Keep(_) => 0,
            })
            .sum()
    }
}

/// The layout of `new` given the chunks `saved` for it: a change from `base` (the list the writer
/// last saved) when the saved chunks hold as many tracks as `base`, else the whole list afresh
/// (a first save, or a store that does not hold what the writer thinks).
pub(crate) fn plan_list<Id: Clone, T: PartialEq>(
    saved: &[Chunk<Id>],
    base: Option<&VecDeque<T>>,
    new: &VecDeque<T>,
) -> Plan<Id> {
    match base {
        Some(base) if saved.iter().map(|c| c.len).sum::<usize>() == base.len() => {
            plan(saved, &diff(base, new), new.len())
        }
        _ => fresh(new.len(), saved.iter().map(|c| c.id.clone()).collect()),
    }
}

/// The whole list of `len` tracks written afresh; the chunks `dropped` go.
pub(crate) fn fresh<Id>(len: usize, dropped: Vec<Id>) -> Plan<Id> {
    let mut pieces = Vec::new();
    split_into(&mut pieces, 0..len);
    Plan { pieces, dropped }
}

/// The layout of the new list (`new_len` tracks) given the chunks saved for the old one (`old`,
/// in order, covering it exactly) and the hunks that turn the old list into the new one. A chunk
/// no hunk touches stays; the rest of the new list is written in new chunks.
pub(crate) fn plan<Id: Clone>(old: &[Chunk<Id>], hunks: &[Hunk], new_len: usize) -> Plan<Id> {
    let mut dropped = Vec::new();
    // The chunks that stay, with where they start in the new list.
    let mut kept: Vec<(usize, Chunk<Id>)> = Vec::new();
    let mut start = 0usize;
    let mut h = 0usize;
    let mut shift: isize = 0;
    for c in old {
        let end = start + c.len;
        // Hunks wholly before this chunk (an insertion at its start included) shift it.
        while h < hunks.len() && hunks[h].old_end() <= start {
            shift += hunks[h].new_len as isize - hunks[h].old_len as isize;
            h += 1;
        }
        let touched = hunks[h..]
            .iter()
            .take_while(|x| x.old_start < end)
            .any(|x| x.old_len > 0 || x.old_start > start);
        match start.checked_add_signed(shift) {
            Some(at) if !touched && c.len > 0 => kept.push((at, c.clone())),
            _ => dropped.push(c.id.clone()),
        }
        start = end;
    }
    // The new list: kept chunks in place, written ranges between them.
    let mut pieces: Vec<Piece<Id>> = Vec::new();
    let mut at = 0usize;
    for (from, c) in kept {
        if from < at || from + c.len > new_len {
            // Not a diff of this list: write it all rather than guess.
            return fresh(new_len, old.iter().map(|c| c.id.clone()).collect());
        }
        if from > at {
            pieces.push(Piece::Write(at..from));
        }
        at = from + c.len;
        pieces.push(Piece::Keep(c));
    }
    if at < new_len {
        pieces.push(Piece::Write(at..new_len));
    }
    let pieces = absorb_small(pieces, &mut dropped);
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        match p {
            Piece::Write(r) => split_into(&mut out, r),
            keep => out.push(keep),
        }
    }
    Plan {
        pieces: out,
        dropped,
    }
}

/// Rewrites small kept chunks next to a written range together with it, and joins written
/// ranges that meet.
fn absorb_small<Id>(pieces: Vec<Piece<Id>>, dropped: &mut Vec<Id>) -> Vec<Piece<Id>> {
    let small =
        |c: &Chunk<Id>, r: &Range<usize>| c.len < SMALL_CHUNK && c.len + r.len() <= CHUNK_TRACKS;
    let mut out: Vec<Piece<Id>> = Vec::with_capacity(pieces.len());
    for p in pieces {
        let p = match p {
            Piece::Write(mut r) => {
                // What comes just before joins it: a small kept chunk, or a written range.
                loop {
                    match out.last() {
                        Some(Piece::Keep(c)) if small(c, &r) => r.start -= c.len,
                        Some(Piece::Write(w)) => r.start = w.start,
                        _ => break,
                    }
                    if let Some(Piece::Keep(c)) = out.pop() {
                        dropped.push(c.id);
                    }
                }
                Piece::Write(r)
            }
            Piece::Keep(c) => match out.last_mut() {
                Some(Piece::Write(r)) if small(&c, r) => {
                    r.end += c.len;
                    dropped.push(c.id);
                    continue;
                }
                _ => Piece::Keep(c),
            },
        };
        out.push(p);
    }
    out
}

/// Appends `range` as written pieces of at most [`CHUNK_TRACKS`], as even as possible.
fn split_into<Id>(out: &mut Vec<Piece<Id>>, range: Range<usize>) {
    let len = range.len();
    if len == 0 {
        return;
    }
    let n = len.div_ceil(CHUNK_TRACKS);
    let (base, extra) = (len / n, len % n);
    let mut at = range.start;
    for i in 0..n {
        let size = base + usize::from(i < extra);
        out.push(Piece::Write(at..at + size));
        at += size;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use proptest::prelude::*;

    /// A saved list: chunks of the given sizes holding `items` in order.
    struct Saved {
        chunks: Vec<(u32, Vec<u32>)>,
        next_id: u32,
    }

    impl Saved {
        fn new(items: &[u32], sizes: &[usize]) -> Saved {
            let mut chunks = vec![];
            let mut at = 0;
            for (i, s) in sizes.iter().enumerate() {
                let end = (at + s).min(items.len());
                chunks.push((i as u32, items[at..end].to_vec()));
                at = end;
            }
            if at < items.len() {
                chunks.push((sizes.len() as u32, items[at..].to_vec()));
            }
            chunks.retain(|(_, c)| !c.is_empty());
            Saved {
                next_id: chunks.len() as u32 + 100,
                chunks,
            }
        }

        fn layout(&self) -> Vec<Chunk<u32>> {
            self.chunks
                .iter()
                .map(|(id, c)| Chunk {
                    id: *id,
                    len: c.len(),
                })
                .collect()
        }

        fn items(&self) -> Vec<u32> {
            self.chunks.iter().flat_map(|(_, c)| c.clone()).collect()
        }

        /// Applies a plan as a store does; returns the tracks written.
        fn apply(&mut self, plan: &Plan<u32>, new: &[u32]) -> usize {
            let mut written = 0;
            let mut next = vec![];
            for p in &plan.pieces {
                match p {
                    Piece::Keep(c) => {
                        assert!(!plan.dropped.contains(&c.id), "kept and dropped: {plan:?}");
                        let old = self.chunks.iter().find(|(id, _)| *id == c.id).unwrap();
                        assert_eq!(old.1.len(), c.len);
                        next.push(old.clone());
                    }
                    Piece::Write(r) => {
                        assert!(r.len() <= CHUNK_TRACKS && !r.is_empty(), "{r:?}");
                        written += r.len();
                        next.push((self.next_id, new[r.clone()].to_vec()));
                        self.next_id += 1;
                    }
                }
            }
            // Every old chunk is kept or dropped, once.
            for (id, _) in &self.chunks {
                let kept = next.iter().filter(|(n, _)| n == id).count();
                let dropped = plan.dropped.iter().filter(|d| *d == id).count();
                assert_eq!(kept + dropped, 1, "chunk {id} in {plan:?}");
            }
            self.chunks = next;
            written
        }

        fn change(&mut self, new: &[u32]) -> usize {
            let old: VecDeque<u32> = self.items().into();
            let newq: VecDeque<u32> = new.iter().copied().collect();
            let hunks = diff(&old, &newq);
            let p = plan(&self.layout(), &hunks, new.len());
            let written = self.apply(&p, new);
            assert_eq!(self.items(), new);
            written
        }
    }

    #[test]
    fn appending_one_track_to_5000_writes_a_small_chunk() {
        let items: Vec<u32> = (0..5000).collect();
        let mut saved = Saved::new(&[], &[]);
        assert_eq!(saved.change(&items), 5000, "the first save writes it all");
        let chunks = saved.chunks.len();
        assert_eq!(chunks, 5000usize.div_ceil(CHUNK_TRACKS));
        let mut now = items;
        for i in 0..200 {
            now.push(10_000 + i);
            let written = saved.change(&now);
            assert!(written <= SMALL_CHUNK + 1, "append {i} wrote {written}");
        }
        assert!(
            saved.chunks.len() <= (now.len()).div_ceil(CHUNK_TRACKS) + 4,
            "appends do not fragment: {} chunks",
            saved.chunks.len()
        );
    }

    #[test]
    fn a_migrated_single_chunk_is_appended_to_and_split_when_edited_inside() {
        let items: Vec<u32> = (0..5000).collect();
        let mut saved = Saved::new(&items, &[5000]);
        let mut now = items.clone();
        now.push(7);
        assert_eq!(saved.change(&now), 1);
        now.remove(2500);
        assert_eq!(saved.change(&now), 4999, "the big chunk is rewritten once");
        now.remove(10);
        assert!(saved.change(&now) <= CHUNK_TRACKS);
    }

    #[test]
    fn removing_the_front_drops_or_rewrites_one_chunk() {
        let items: Vec<u32> = (0..1000).collect();
        let mut saved = Saved::new(&[], &[]);
        saved.change(&items);
        assert!(saved.change(&items[1..]) < CHUNK_TRACKS);
        assert_eq!(saved.change(&[]), 0, "a clear writes nothing");
        assert!(saved.chunks.is_empty());
    }

    #[test]
    fn lengths_that_do_not_add_up_write_everything() {
        let hunks = [Hunk {
            old_start: 0,
            old_len: 0,
            new_start: 0,
            new_len: 1,
        }];
        let old = [Chunk { id: 1, len: 5 }];
        let p = plan(&old, &hunks, 3);
        assert_eq!(p.written(), 3);
        assert_eq!(p.dropped, vec![1]);
    }

    proptest! {
        #[test]
        fn any_change_rebuilds_the_new_list(
            old in proptest::collection::vec(0u32..8, 0..200),
            sizes in proptest::collection::vec(1usize..80, 0..8),
            edits in proptest::collection::vec((0usize..200, 0usize..4, proptest::collection::vec(100u32..110, 0..4)), 1..4),
        ) {
            let mut saved = Saved::new(&old, &sizes);
            let mut now = old.clone();
            for (at, cut, added) in edits {
                let at = at.min(now.len());
                now.drain(at..(at + cut).min(now.len()));
                for (i, x) in added.iter().enumerate() {
                    now.insert(at + i, *x);
                }
                saved.change(&now);
            }
        }

        #[test]
        fn a_shuffle_or_any_list_rebuilds(
            old in proptest::collection::vec(0u32..5, 0..150),
            new in proptest::collection::vec(0u32..5, 0..150),
            sizes in proptest::collection::vec(1usize..70, 0..5),
        ) {
            let mut saved = Saved::new(&old, &sizes);
            saved.change(&new);
        }
    }
}

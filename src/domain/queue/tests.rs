//! Unit and property tests of the queue.

use super::*;
use proptest::prelude::*;
use rand::SeedableRng;

fn t(n: u32) -> Track {
    Track {
        encoded: format!("enc{n}"),
        title: format!("track {n}"),
        author: "someone".into(),
        uri: None,
        length_ms: Some(1000 + u64::from(n)),
        is_stream: false,
        is_seekable: true,
        requester: Some(42),
        start_ms: None,
        autoplay: false,
    }
}

fn titles<'a>(it: impl Iterator<Item = &'a Track>) -> Vec<String> {
    it.map(|t| t.title.clone()).collect()
}

fn q_with(n: u32) -> Queue {
    let mut q = Queue::new(100, 10);
    q.append((1..=n).map(t).collect()).unwrap();
    q
}

#[test]
fn append_and_insert_next_keep_order() {
    let mut q = q_with(2);
    q.insert_next(vec![t(8), t(9)]).unwrap();
    assert_eq!(
        titles(q.upcoming()),
        ["track 8", "track 9", "track 1", "track 2"]
    );
}

#[test]
fn cap_adds_what_fits_then_refuses() {
    let mut q = Queue::new(3, 5);
    assert_eq!(q.append(vec![t(1), t(2)]).unwrap(), 2);
    assert_eq!(q.append(vec![t(3), t(4), t(5)]).unwrap(), 1);
    assert_eq!(q.append(vec![t(6)]), Err(QueueError::Full { max: 3 }));
    assert_eq!(q.len(), 3);
}

#[test]
fn remove_and_move_are_one_based_and_bounded() {
    let mut q = q_with(4);
    assert_eq!(q.remove(2).unwrap().title, "track 2");
    q.move_track(3, 1).unwrap();
    assert_eq!(titles(q.upcoming()), ["track 4", "track 1", "track 3"]);
    assert_eq!(
        q.remove(0),
        Err(QueueError::NoSuchPosition {
            position: 0,
            len: 3
        })
    );
    assert_eq!(
        q.move_track(1, 4),
        Err(QueueError::NoSuchPosition {
            position: 4,
            len: 3
        })
    );
}

#[test]
fn loop_off_plays_once_then_stops() {
    let mut q = q_with(2);
    assert_eq!(q.start().unwrap().title, "track 1");
    assert_eq!(
        q.on_track_end(LoopMode::Off, EndReason::Finished)
            .unwrap()
            .title,
        "track 2"
    );
    assert!(q.on_track_end(LoopMode::Off, EndReason::Finished).is_none());
    assert_eq!(titles(q.history()), ["track 1", "track 2"]);
}

#[test]
fn loop_track_repeats_but_skip_moves_on() {
    let mut q = q_with(2);
    q.start();
    assert_eq!(
        q.on_track_end(LoopMode::Track, EndReason::Finished)
            .unwrap()
            .title,
        "track 1"
    );
    assert_eq!(
        q.on_track_end(LoopMode::Track, EndReason::Finished)
            .unwrap()
            .title,
        "track 1"
    );
    assert_eq!(q.skip(LoopMode::Track).unwrap().title, "track 2");
}

#[test]
fn loop_queue_cycles_forever() {
    let mut q = q_with(3);
    q.start();
    let mut seen = vec![];
    for _ in 0..7 {
        seen.push(
            q.on_track_end(LoopMode::Queue, EndReason::Finished)
                .unwrap()
                .title
                .clone(),
        );
    }
    assert_eq!(
        seen,
        ["track 2", "track 3", "track 1", "track 2", "track 3", "track 1", "track 2"]
    );
}

#[test]
fn failed_track_is_skipped_even_on_repeat_and_leaves_the_loop() {
    let mut q = q_with(2);
    q.start();
    assert_eq!(
        q.on_track_end(LoopMode::Track, EndReason::Failed)
            .unwrap()
            .title,
        "track 2"
    );
    let mut q = q_with(2);
    q.start();
    assert_eq!(
        q.on_track_end(LoopMode::Queue, EndReason::Failed)
            .unwrap()
            .title,
        "track 2"
    );
    assert_eq!(titles(q.upcoming()), Vec::<String>::new());
}

#[test]
fn replaced_does_not_move() {
    let mut q = q_with(2);
    q.start();
    assert_eq!(
        q.on_track_end(LoopMode::Off, EndReason::Replaced)
            .unwrap()
            .title,
        "track 1"
    );
    assert_eq!(q.len(), 1);
}

#[test]
fn skip_to_and_previous() {
    let mut q = q_with(5);
    q.start();
    assert_eq!(q.skip_to(3, LoopMode::Off).unwrap().title, "track 4");
    assert_eq!(titles(q.history()), ["track 1", "track 2", "track 3"]);
    assert_eq!(q.previous(LoopMode::Off).unwrap().title, "track 3");
    assert_eq!(titles(q.upcoming()), ["track 4", "track 5"]);
    assert!(matches!(
        q.skip_to(9, LoopMode::Off),
        Err(QueueError::NoSuchPosition { .. })
    ));
    assert_eq!(
        Queue::new(5, 5).previous(LoopMode::Off),
        Err(QueueError::NoPrevious)
    );
}

#[test]
fn previous_in_loop_queue_does_not_duplicate() {
    let mut q = q_with(3);
    q.start();
    q.on_track_end(LoopMode::Queue, EndReason::Finished);
    assert_eq!(q.previous(LoopMode::Queue).unwrap().title, "track 1");
    assert_eq!(titles(q.upcoming()), ["track 2", "track 3"]);
}

#[test]
fn history_is_bounded() {
    let mut q = Queue::new(100, 3);
    q.append((1..=10).map(t).collect()).unwrap();
    q.start();
    for _ in 0..9 {
        q.skip(LoopMode::Off);
    }
    assert_eq!(titles(q.history()), ["track 7", "track 8", "track 9"]);
}

#[test]
fn stop_clears_current_and_upcoming() {
    let mut q = q_with(3);
    q.start();
    q.stop();
    assert!(q.current().is_none());
    assert!(q.is_empty());
}

#[test]
fn halt_sets_the_current_track_aside_and_keeps_the_rest() {
    let mut q = q_with(3);
    q.start();
    assert_eq!(q.halt(), 2);
    assert!(q.current().is_none());
    assert!(!q.is_done());
    assert_eq!(titles(q.history()), ["track 1"]);
    // A skip goes on with the kept tracks.
    assert_eq!(
        q.skip(LoopMode::Off).map(|t| t.title.clone()),
        Some("track 2".into())
    );
    assert_eq!(titles(q.history()), ["track 1"]);
    q.stop();
    assert!(q.is_done());
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    InsertNext(u8),
    Remove(usize),
    Move(usize, usize),
    Shuffle(u64),
    Clear,
    Skip(u8),
    SkipTo(usize, u8),
    Previous,
    End(u8, u8),
    Start,
}

fn mode(n: u8) -> LoopMode {
    [LoopMode::Off, LoopMode::Track, LoopMode::Queue][usize::from(n % 3)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6).prop_map(Op::Append),
        (0u8..4).prop_map(Op::InsertNext),
        (0usize..12).prop_map(Op::Remove),
        (0usize..12, 0usize..12).prop_map(|(a, b)| Op::Move(a, b)),
        any::<u64>().prop_map(Op::Shuffle),
        Just(Op::Clear),
        any::<u8>().prop_map(Op::Skip),
        (0usize..12, any::<u8>()).prop_map(|(a, m)| Op::SkipTo(a, m)),
        Just(Op::Previous),
        (any::<u8>(), 0u8..3).prop_map(|(m, r)| Op::End(m, r)),
        Just(Op::Start),
    ]
}

fn multiset(q: &Queue) -> Vec<String> {
    let mut v = titles(q.upcoming());
    if let Some(c) = q.current() {
        v.push(c.title.clone());
    }
    v.sort();
    v
}

proptest! {
    #[test]
    fn invariants_hold(ops in proptest::collection::vec(op(), 0..80), cap in 1usize..12, hist in 0usize..6) {
        let mut q = Queue::new(cap, hist);
        let mut next = 0u32;
        for op in ops {
            let before = q.clone();
            match op {
                Op::Append(n) | Op::InsertNext(n) => {
                    let batch: Vec<Track> = (0..n).map(|_| { next += 1; t(next) }).collect();
                    let room = q.room();
                    let r = if matches!(op, Op::Append(_)) { q.append(batch) } else { q.insert_next(batch) };
                    match r {
                        Ok(added) => {
                            prop_assert_eq!(added, usize::from(n).min(room));
                            prop_assert_eq!(q.len(), before.len() + added);
                        }
                        Err(QueueError::Full { .. }) => prop_assert_eq!(room, 0),
                        Err(e) => prop_assert!(false, "unexpected {e:?}"),
                    }
                }
                Op::Remove(p) => {
                    let ok = p >= 1 && p <= before.len();
                    prop_assert_eq!(q.remove(p).is_ok(), ok);
                    prop_assert_eq!(q.len(), before.len() - usize::from(ok));
                }
                Op::Move(a, b) => {
                    let _ = q.move_track(a, b);
                    prop_assert_eq!(multiset(&q), multiset(&before));
                }
                Op::Shuffle(seed) => {
                    q.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
                    prop_assert_eq!(multiset(&q), multiset(&before));
                    prop_assert_eq!(q.current(), before.current());
                }
                Op::Clear => { q.clear(); prop_assert!(q.is_empty()); }
                Op::Skip(m) => {
                    let expected = if mode(m) == LoopMode::Queue {
                        before.upcoming().next().or(before.current()).cloned()
                    } else {
                        before.upcoming().next().cloned()
                    };
                    prop_assert_eq!(q.skip(mode(m)).cloned(), expected);
                }
                Op::SkipTo(p, m) => {
                    let expected = before.upcoming().nth(p.wrapping_sub(1)).cloned();
                    match q.skip_to(p, mode(m)) {
                        Ok(t) => prop_assert_eq!(Some(t.clone()), expected),
                        Err(_) => { prop_assert!(expected.is_none()); prop_assert_eq!(&q, &before); }
                    }
                }
                Op::Previous => {
                    match q.previous(LoopMode::Off) {
                        Ok(_) => {
                            // Skipping forward again restores what was current.
                            let mut back = q.clone();
                            back.skip(LoopMode::Off);
                            if before.current().is_some() {
                                prop_assert_eq!(back.current(), before.current());
                            }
                        }
                        Err(_) => prop_assert_eq!(before.history().len(), 0),
                    }
                }
                Op::End(m, r) => {
                    let reason = [EndReason::Finished, EndReason::Failed, EndReason::Replaced][usize::from(r)];
                    let m = mode(m);
                    let now = q.on_track_end(m, reason).cloned();
                    match (reason, m) {
                        (EndReason::Replaced, _) => prop_assert_eq!(&q, &before),
                        (EndReason::Finished, LoopMode::Track) if before.current().is_some() =>
                            prop_assert_eq!(now.as_ref(), before.current()),
                        (EndReason::Finished, LoopMode::Queue) =>
                            prop_assert_eq!(now.as_ref(), before.upcoming().next().or(before.current())),
                        _ => prop_assert_eq!(now.as_ref(), before.upcoming().next()),
                    }
                }
                Op::Start => {
                    let expected = before.current().or(before.upcoming().next()).cloned();
                    prop_assert_eq!(q.start().cloned(), expected);
                }
            }
            prop_assert!(q.len() <= cap);
            prop_assert!(q.history().len() <= hist);
            // Nothing appears out of nowhere: every track is one that was added.
            for tr in q.upcoming().chain(q.current()).chain(q.history()) {
                let n: u32 = tr.title.trim_start_matches("track ").parse().unwrap();
                prop_assert!(n >= 1 && n <= next);
            }
        }
    }

    #[test]
    fn loop_queue_never_loses_tracks(n in 1u32..20, ends in 0usize..60) {
        let mut q = Queue::new(100, 5);
        q.append((1..=n).map(t).collect()).unwrap();
        q.start();
        let before = multiset(&q);
        for _ in 0..ends {
            q.on_track_end(LoopMode::Queue, EndReason::Finished);
        }
        prop_assert_eq!(multiset(&q), before);
    }
}

#[test]
fn a_start_is_taken_once_when_its_track_becomes_current() {
    let mut q = Queue::new(10, 10);
    let mut later = t(2);
    later.length_ms = Some(200_000);
    later.start_ms = Some(103_000);
    q.append(vec![t(1), later]).unwrap();
    q.start();
    assert_eq!(q.take_start(), None, "the first track has no start");
    let shared = q.shared();
    q.skip(LoopMode::Track);
    assert_eq!(q.take_start(), Some(103_000));
    assert_eq!(q.current().unwrap().start_ms, None, "taken");
    assert_eq!(q.take_start(), None, "a repeat plays from the beginning");
    assert_eq!(
        shared.upcoming[0].start_ms,
        Some(103_000),
        "a saved version keeps its own copy"
    );
    let mut past = t(3);
    past.start_ms = past.length_ms;
    q.insert_next(vec![past]).unwrap();
    q.skip(LoopMode::Off);
    assert_eq!(q.take_start(), None, "a start past the end is dropped");
    assert_eq!(q.current().unwrap().start_ms, None);
}

#[test]
fn from_shared_shares_what_fits_the_caps_and_trims_the_rest() {
    let parts = Arc::new(QueueSnapshot {
        current: Some(t(0)),
        upcoming: (1..=3).map(t).collect(),
        history: (4..=5).map(t).collect(),
    });
    let q = Queue::from_shared(parts.clone(), 10, 5);
    assert!(Arc::ptr_eq(&q.shared(), &parts), "no copy");
    let capped = Queue::from_shared(parts.clone(), 2, 1);
    assert_eq!(titles(capped.upcoming()), ["track 1", "track 2"]);
    assert_eq!(titles(capped.history()), ["track 5"]);
    assert_eq!(capped.current(), Some(&t(0)));
}

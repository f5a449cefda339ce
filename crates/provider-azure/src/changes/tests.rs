use super::*;

fn state(pages: Option<usize>, asked: usize) -> SourceState {
    SourceState {
        listing: None,
        pages,
        singles: HashMap::new(),
        mounted: HashMap::new(),
        asked: (0..asked).map(|i| (format!("n{i}"), Instant::now())).collect(),
        list_refused: None,
        last_used: Instant::now(),
    }
}

#[test]
fn lists_until_the_vault_size_is_known_then_takes_the_cheaper_way() {
    assert!(state(None, 1).should_list(), "the vault's size is unknown");
    assert!(!state(Some(40), 3).should_list(), "3 GETs beat 40 pages");
    assert!(state(Some(2), 3).should_list(), "2 pages beat 3 GETs");
    assert!(
        state(Some(3), 3).should_list(),
        "a tie lists: one answer for every object"
    );
}

#[test]
fn a_fingerprint_only_for_an_enabled_object_whose_second_is_over() {
    let settle = Duration::from_secs(2);
    // Updated at second 100: a write in the same second (up to 100.999) plus two seconds of skew.
    assert_eq!(fingerprint_of(settle, 100, true, 103_000), "u:100");
    assert_eq!(fingerprint_of(settle, 100, true, 102_999), "", "not settled yet");
    assert_eq!(fingerprint_of(settle, 100, false, 200_000), "", "disabled");
    assert_eq!(
        fingerprint_of(Duration::ZERO, 100, true, 100_000),
        "u:100",
        "settling off"
    );
    assert_eq!(
        fingerprint_of(Duration::ZERO, 0, true, 100_000),
        "",
        "no updated time: nothing to follow changes by"
    );
    assert_ne!(
        fingerprint_of(settle, 100, true, 200_000),
        fingerprint_of(settle, 101, true, 200_000)
    );
}

#[test]
fn only_metadata_read_after_not_before_answers() {
    let mut s = state(Some(1), 1);
    let meta = |fingerprint: &str| Meta {
        fingerprint: fingerprint.into(),
        ..Meta::default()
    };
    s.listing = Some((1_000, HashMap::from([("a".to_string(), meta("u:1"))])));
    assert_eq!(s.lookup("a", 999).map(|s| s.meta.fingerprint), Some("u:1".into()));
    assert!(s.lookup("a", 1_000).is_none(), "not strictly after: read again");
    assert_eq!(
        s.lookup("gone", 0).map(|s| s.meta.fingerprint),
        Some(String::new()),
        "not in a fresh listing: no fingerprint (absent)"
    );
    s.singles.insert(
        "b".into(),
        Seen {
            meta: meta("v:x"),
            read_at: 5_000,
        },
    );
    assert_eq!(
        s.lookup("b", 4_000).map(|s| s.meta.fingerprint),
        Some("v:x".into())
    );
}

#[test]
fn an_object_read_alone_after_a_listing_answers_with_that_read() {
    let mut state = state(Some(1), 1);
    let listed = Meta {
        fingerprint: "u:1".into(),
        ..Meta::default()
    };
    state.listing = Some((1_000, HashMap::from([("n0".to_string(), listed)])));
    state.singles.insert(
        "n0".into(),
        Seen {
            meta: Meta {
                fingerprint: "u:2".into(),
                ..Meta::default()
            },
            read_at: 2_000,
        },
    );
    let seen = state.lookup("n0", 500).map(|s| (s.meta.fingerprint, s.read_at));
    assert_eq!(
        seen,
        Some(("u:2".to_string(), 2_000)),
        "the newer read, not the listing"
    );
    let seen = state.lookup("n0", 1_500).map(|s| s.meta.fingerprint);
    assert_eq!(seen.as_deref(), Some("u:2"), "only the single read is after 1500");
    assert!(state.lookup("n0", 2_000).is_none(), "nothing read after 2000");
    if let Some(single) = state.singles.get_mut("n0") {
        single.read_at = 900;
    }
    let seen = state.lookup("n0", 500).map(|s| s.meta.fingerprint);
    assert_eq!(
        seen.as_deref(),
        Some("u:1"),
        "the listing is newer than an old single read"
    );
}

#[test]
fn what_a_mount_read_answers_only_a_request_naming_the_object_as_changed() {
    let mut state = state(Some(1), 1);
    let old = Meta {
        fingerprint: "u:1".into(),
        ..Meta::default()
    };
    state.listing = Some((1_000, HashMap::from([("n0".to_string(), old)])));
    state.mounted.insert(
        "n0".into(),
        Seen {
            meta: Meta {
                fingerprint: "u:2".into(),
                ..Meta::default()
            },
            read_at: 2_000,
        },
    );
    assert!(
        state.lookup("n0", 1_000).is_none(),
        "a regular check needs a read of its own"
    );
    let changed = state
        .lookup_changed("n0", 1_500)
        .map(|s| (s.meta.fingerprint, s.read_at));
    assert_eq!(changed, Some(("u:2".to_string(), 2_000)));
    let older = state.lookup_changed("n0", 500).map(|s| s.meta.fingerprint);
    assert_eq!(older.as_deref(), Some("u:2"), "the newest read");
}

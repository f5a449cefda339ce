use super::*;
use crate::clock::to_time;

fn sync(uid: &str) -> SecretSync {
    let mut s = SecretSync::new("s", sse_api::SecretSyncSpec::default());
    s.metadata.namespace = Some("ns".into());
    s.metadata.uid = Some(uid.into());
    s
}

#[test]
fn schedule_spreads_syncs_over_the_interval() {
    let timing = Timing {
        poll_interval: Duration::from_secs(3600),
        ..Timing::default()
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut buckets = [0u32; 60];
    for i in 0..6000 {
        let d = phase_delay(&sync(&format!("uid-{i}")), &timing, now);
        assert!(d > Duration::ZERO && d <= Duration::from_secs(3600));
        buckets[(d.as_secs() / 60).min(59) as usize] += 1;
    }
    // 6000 syncs over 60 minutes: every minute gets some, none gets a crowd.
    assert!(buckets.iter().all(|b| *b > 50 && *b < 170), "{buckets:?}");
    // Deterministic per SecretSync without jitter.
    assert_eq!(
        phase_delay(&sync("a"), &timing, now),
        phase_delay(&sync("a"), &timing, now)
    );
}

#[test]
fn jitter_adds_at_most_its_bound() {
    let timing = Timing {
        poll_interval: Duration::from_secs(60),
        jitter: Duration::from_secs(30),
        ..Timing::default()
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let base = phase_delay(
        &sync("a"),
        &Timing {
            jitter: Duration::ZERO,
            ..timing.clone()
        },
        now,
    );
    for _ in 0..100 {
        let d = phase_delay(&sync("a"), &timing, now);
        assert!(d >= base && d <= base + Duration::from_secs(30));
    }
}

#[test]
fn backoff_grows_and_is_capped() {
    let timing = Timing::default();
    for key in ["ns/a", "ns/b", "other/c"] {
        assert!(backoff(key, 1, &timing) <= Duration::from_millis(7500));
        assert!(backoff(key, 3, &timing) >= Duration::from_secs(10));
        assert!(backoff(key, 30, &timing) <= Duration::from_secs(300));
        assert_eq!(
            backoff(key, 2, &timing),
            backoff(key, 2, &timing),
            "shown = applied"
        );
    }
    let spread: HashSet<Duration> = (0..50)
        .map(|i| backoff(&format!("ns/s{i}"), 4, &timing))
        .collect();
    assert!(
        spread.len() > 40,
        "SecretSyncs failing together spread out: {spread:?}"
    );
}

#[test]
fn lateness_is_reported_beyond_a_tenth_of_the_interval_and_30_seconds() {
    let schedule = Schedule::new(Timing::default()); // 1 h interval: a tenth is 6 min
    let s = sync("a");
    let due = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let at = |secs| due + Duration::from_secs(secs);
    assert_eq!(schedule.reportable_lateness(&s, due, at(300)), None);
    assert_eq!(
        schedule.reportable_lateness(&s, due, at(400)),
        Some(Duration::from_secs(400))
    );
    assert_eq!(
        schedule.reportable_lateness(&s, at(10), due),
        None,
        "early is not late"
    );
    let mut short = sync("b");
    short.metadata.annotations = Some(
        [(
            sse_api::consts::REFRESH_INTERVAL_ANNOTATION.to_string(),
            "60s".to_string(),
        )]
        .into(),
    );
    assert_eq!(
        schedule.reportable_lateness(&short, due, at(30)),
        None,
        "30 s at least"
    );
    assert!(schedule.reportable_lateness(&short, due, at(31)).is_some());
}

#[test]
fn a_providers_observation_time_is_trusted_within_one_interval() {
    let schedule = Schedule::new(Timing::default()); // 1 h
    let s = sync("a");
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let minute_ago = now - Duration::from_secs(60);
    assert_eq!(schedule.trusted_observation(&s, minute_ago, now), minute_ago);
    assert_eq!(
        schedule.trusted_observation(&s, UNIX_EPOCH, now),
        now - Duration::from_secs(3600),
        "unset: one interval ago"
    );
    assert_eq!(
        schedule.trusted_observation(&s, now + Duration::from_secs(86_400), now),
        now,
        "in the future: now"
    );
}

#[test]
fn time_round_trip() {
    let t = UNIX_EPOCH + Duration::from_secs(1_800_000_123);
    assert_eq!(from_time(&to_time(t)), Some(t));
}

#[test]
fn failures_count_until_reset_and_defer_without_counting() {
    let schedule = Schedule::new(Timing::default());
    let s = sync("a");
    let now = SystemTime::now();
    schedule.checked(
        &s,
        None,
        now,
        Duration::from_secs(60),
        Reason::ProviderError,
        false,
    );
    schedule.failed(&s, now);
    schedule.failed(&s, now);
    assert_eq!(schedule.failures(&s), 2);
    assert!(schedule.defer(&s, now) >= Duration::from_secs(5));
    assert_eq!(schedule.failures(&s), 2, "deferring is not a failure");
    schedule.checked(
        &s,
        None,
        now,
        Duration::from_secs(60),
        Reason::CreateSucceeded,
        true,
    );
    assert_eq!(schedule.failures(&s), 0);
}

#[test]
fn secret_syncs_are_counted_by_the_reason_of_their_last_check() {
    let metrics = crate::metrics::Metrics::default();
    let schedule = Schedule::with_reasons(Timing::default(), metrics.reasons());
    let (a, b) = (sync("uid-a"), sync("uid-b"));
    let mut b = b;
    b.metadata.name = Some("b".into());
    let now = SystemTime::now();
    let check =
        |s: &SecretSync, reason| schedule.checked(s, None, now, Duration::from_secs(60), reason, true);
    check(&a, Reason::ProviderError);
    check(&b, Reason::ProviderError);
    let gauge = |reason: &str| {
        let text = metrics.encode();
        let line = format!("secretsync_secretsyncs{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line).map(str::to_string))
            .unwrap_or_else(|| panic!("{line} missing in\n{text}"))
    };
    assert_eq!(gauge("ProviderError"), "2");
    check(&a, Reason::UpdateNoValueChangeSucceeded);
    check(&a, Reason::UpdateNoValueChangeSucceeded);
    assert_eq!(gauge("ProviderError"), "1");
    assert_eq!(gauge("UpdateNoValueChangeSucceeded"), "1");
    schedule.retain(|k| k != "ns/b");
    assert_eq!(
        gauge("ProviderError"),
        "0",
        "a deleted SecretSync is no longer counted"
    );
    assert_eq!(gauge("UpdateNoValueChangeSucceeded"), "1");
}

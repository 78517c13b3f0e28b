use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn the_first_count_has_nothing_to_compare_with() {
    let t0 = Instant::now();
    for rule in [EpochRule::NatPmp, EpochRule::Pcp] {
        let mut epoch = Epoch::new(rule);
        assert_eq!(epoch.check(1000, t0), EpochCheck::First);
        assert_eq!(epoch.last(), Some(1000));
        epoch.reset();
        assert_eq!(epoch.check(5, t0), EpochCheck::First);
    }
}

#[test]
fn a_count_that_keeps_pace_with_our_clock_is_continuous() {
    let t0 = Instant::now();
    for rule in [EpochRule::NatPmp, EpochRule::Pcp] {
        let mut epoch = Epoch::new(rule);
        epoch.check(1000, t0);
        assert_eq!(
            epoch.check(1060, t0 + secs(60)),
            EpochCheck::Continuous,
            "{rule:?}"
        );
        // A second of rounding either way.
        assert_eq!(
            epoch.check(1119, t0 + secs(120)),
            EpochCheck::Continuous,
            "{rule:?}"
        );
        assert_eq!(
            epoch.check(1119, t0 + secs(120)),
            EpochCheck::Continuous,
            "{rule:?}"
        );
    }
}

#[test]
fn a_count_that_went_back_means_the_gateway_restarted() {
    let t0 = Instant::now();
    for rule in [EpochRule::NatPmp, EpochRule::Pcp] {
        let mut epoch = Epoch::new(rule);
        epoch.check(1000, t0);
        assert_eq!(epoch.check(3, t0 + secs(30)), EpochCheck::Reset, "{rule:?}");
        // The new count is the reference from now on.
        assert_eq!(
            epoch.check(33, t0 + secs(60)),
            EpochCheck::Continuous,
            "{rule:?}"
        );
    }
}

#[test]
fn a_count_that_grew_too_little_means_the_gateway_restarted_in_between() {
    // We were away 600 s; the gateway counts 100 s: it restarted 100 s ago.
    let t0 = Instant::now();
    for rule in [EpochRule::NatPmp, EpochRule::Pcp] {
        let mut epoch = Epoch::new(rule);
        epoch.check(1000, t0);
        assert_eq!(
            epoch.check(1100, t0 + secs(600)),
            EpochCheck::Reset,
            "{rule:?}"
        );
    }
}

#[test]
fn the_rules_differ_on_a_count_that_grew_too_much() {
    // PCP also refuses a gateway clock running far ahead; NAT-PMP checks the lower bound only.
    let t0 = Instant::now();
    let mut pcp = Epoch::new(EpochRule::Pcp);
    pcp.check(1000, t0);
    assert_eq!(pcp.check(2000, t0 + secs(60)), EpochCheck::Reset);
    let mut natpmp = Epoch::new(EpochRule::NatPmp);
    natpmp.check(1000, t0);
    assert_eq!(natpmp.check(2000, t0 + secs(60)), EpochCheck::Continuous);
}

#[test]
fn the_nat_pmp_tolerance_is_seven_eighths_less_two_seconds() {
    let t0 = Instant::now();
    let mut epoch = Epoch::new(EpochRule::NatPmp);
    epoch.check(0, t0);
    // 80 s passed: at least 80 * 7/8 - 2 = 68.
    assert_eq!(epoch.check(68, t0 + secs(80)), EpochCheck::Continuous);
    let mut epoch = Epoch::new(EpochRule::NatPmp);
    epoch.check(0, t0);
    assert_eq!(epoch.check(67, t0 + secs(80)), EpochCheck::Reset);
}

#[test]
fn time_going_backwards_counts_as_none_passed() {
    let t0 = Instant::now() + secs(100);
    let mut epoch = Epoch::new(EpochRule::Pcp);
    epoch.check(1000, t0);
    assert_eq!(epoch.check(1000, t0 - secs(50)), EpochCheck::Continuous);
}

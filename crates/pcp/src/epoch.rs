//! The epoch rules: a gateway that restarted (or lost its mappings) starts counting its
//! epoch again, and every response carries the count. A client compares each count with its
//! own clock to learn that its mappings are gone and must be made again.

use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// Which RFC's rule to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochRule {
    /// RFC 6886 §3.6: the count must have grown by at least 7/8 of our elapsed time, less 2 s.
    NatPmp,
    /// RFC 6887 §8.5: the count must not go back more than 1 s, and the two clocks must agree
    /// within 2 s plus 1/16 of the elapsed time either way.
    Pcp,
}

/// What a new epoch count says about the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochCheck {
    /// The first count seen: nothing to compare with.
    First,
    /// Consistent with the last: the gateway kept its state.
    Continuous,
    /// Inconsistent: the gateway restarted or lost its state; our mappings must be made
    /// again.
    Reset,
}

/// The last epoch count seen from one gateway, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch {
    rule: EpochRule,
    last: Option<(Instant, u32)>,
}

impl Epoch {
    /// Nothing seen yet; counts are checked by `rule`.
    pub fn new(rule: EpochRule) -> Epoch {
        Epoch { rule, last: None }
    }

    /// The rule in force.
    pub fn rule(&self) -> EpochRule {
        self.rule
    }

    /// The last count seen, if any.
    pub fn last(&self) -> Option<u32> {
        self.last.map(|(_, count)| count)
    }

    /// Forget what was seen (another gateway now).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Check `count`, received at `now`, against the last one, and remember it.
    /// A `now` earlier than the last (responses handled out of order) counts as no time
    /// passed.
    pub fn check(&mut self, count: u32, now: Instant) -> EpochCheck {
        let verdict = match self.last {
            None => EpochCheck::First,
            Some((then, last)) => {
                let elapsed = now.saturating_duration_since(then);
                if consistent(self.rule, last, count, elapsed) {
                    EpochCheck::Continuous
                } else {
                    EpochCheck::Reset
                }
            }
        };
        self.last = Some((now, count));
        verdict
    }
}

fn consistent(rule: EpochRule, last: u32, count: u32, elapsed: Duration) -> bool {
    let client = elapsed.as_secs();
    match rule {
        EpochRule::NatPmp => {
            // count >= last + 7/8 elapsed - 2, in eighths of seconds to stay in integers.
            let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            let expected = (u64::from(last) * 8).saturating_add(millis.saturating_mul(7) / 1000);
            u64::from(count) * 8 + 16 >= expected
        }
        EpochRule::Pcp => {
            if u64::from(count) + 1 < u64::from(last) {
                return false;
            }
            let server = u64::from(count.saturating_sub(last));
            !(client + 2 < server.saturating_sub(server / 16)
                || server + 2 < client.saturating_sub(client / 16))
        }
    }
}

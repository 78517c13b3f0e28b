//! The reachability check as a machine ([`ReachRun`]): the STUN transactions of
//! [`crate::reach`] from the mapped port, under one deadline.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::machine::{Completed, Input, Io, Machine, Output, Pending, polled_after_done};
use crate::reach::{BindingRequest, Reachability};

/// Answers that are not the one awaited (garbage, another transaction's), at most, before a
/// transaction gives up: what a server sends never makes more work than this.
const MAX_ODD: u8 = 8;

/// What the check found.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReachReport {
    /// The verdict.
    pub reachability: Reachability,
    /// Where the server saw us, when it answered.
    pub seen: Option<SocketAddr>,
    /// The server's other address (RFC 5780), when it has one: an answer from there was
    /// asked for, and `Reachable { inbound: true }` says it came.
    pub other_address: Option<SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// The plain Binding request, until this instant.
    Plain(Instant),
    /// The request asking for an answer from the other address, until this instant.
    Change(Instant),
    Done,
}

/// Whether the mapping whose external side is `external` makes us reachable: a Binding
/// request from `bind` (our address and the mapped internal port) to `server`, then, when
/// the server names another address of its own, a request asking it to answer from there.
/// Its value: a [`ReachReport`] (no answer in time is [`Reachability::Unknown`], not an
/// error); an error only when the port cannot be used (held by another program) or the
/// server refuses.
#[derive(Debug)]
pub struct ReachRun {
    bind: SocketAddr,
    server: SocketAddr,
    external: SocketAddr,
    plain: BindingRequest,
    change: BindingRequest,
    deadline: Instant,
    stage: Stage,
    odd: u8,
    seen: Option<SocketAddr>,
    other_address: Option<SocketAddr>,
    inbound: bool,
    failed: Option<Error>,
    io: Pending,
    done: bool,
}

impl ReachRun {
    /// A check from `now`, over by `deadline` (the plain request gets three fifths of the
    /// time, the one answered from elsewhere the rest). `transactions`: two random IDs.
    pub fn new(
        bind: SocketAddr,
        server: SocketAddr,
        external: SocketAddr,
        transactions: [[u8; 12]; 2],
        now: Instant,
        deadline: Instant,
    ) -> ReachRun {
        let budget = deadline.saturating_duration_since(now);
        let plain_until = now
            .checked_add(budget.mul_f64(0.6))
            .unwrap_or(deadline)
            .min(deadline);
        ReachRun {
            bind,
            server,
            external,
            plain: BindingRequest::new(transactions[0]),
            change: BindingRequest::new(transactions[1]).change_address(true),
            deadline,
            stage: Stage::Plain(plain_until),
            odd: 0,
            seen: None,
            other_address: None,
            inbound: false,
            failed: None,
            io: Pending::default(),
            done: false,
        }
    }

    fn report(&self) -> ReachReport {
        ReachReport {
            reachability: Reachability::judge(
                self.external,
                self.seen,
                self.other_address.map(|_| self.inbound),
            ),
            seen: self.seen,
            other_address: self.other_address,
        }
    }

    /// The transaction of the stage: where to send, what, and until when.
    fn transaction(&self) -> Option<(SocketAddr, &BindingRequest, bool, Instant)> {
        match self.stage {
            Stage::Plain(until) => Some((self.server, &self.plain, false, until)),
            Stage::Change(until) => Some((self.server, &self.change, true, until)),
            Stage::Done => None,
        }
    }

    /// The stage after the plain request was answered (or not).
    fn after_plain(&mut self) {
        self.odd = 0;
        self.stage = match (self.seen, self.other_address) {
            (Some(_), Some(_)) => Stage::Change(self.deadline),
            _ => Stage::Done,
        };
    }
}

impl Machine for ReachRun {
    type Value = ReachReport;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<ReachReport, Infallible> {
        if self.done {
            return polled_after_done();
        }
        let Some((server, request, from_any, until)) = self.transaction() else {
            self.done = true;
            return match self.failed.take() {
                Some(error) => Output::Done(Err(error)),
                None => Output::Done(Ok(self.report())),
            };
        };
        if self.io.is_waiting() {
            if now < until {
                return Output::Wait(until);
            }
            // The driver overran the deadline: the transaction is over, unanswered.
            self.io.forget();
            match self.stage {
                Stage::Plain(_) => self.after_plain(),
                _ => self.stage = Stage::Done,
            }
            return self.poll(now);
        }
        if now >= until {
            match self.stage {
                Stage::Plain(_) => self.after_plain(),
                _ => self.stage = Stage::Done,
            }
            return self.poll(now);
        }
        let io = Io::Stun {
            bind: self.bind,
            server,
            request: request.encode(),
            from_any,
            deadline: until,
        };
        Output::Start(self.io.start(), io)
    }

    fn handle(&mut self, input: Input, _now: Instant) {
        let Input::Completed(token, Completed::Stunned(outcome)) = input else {
            return;
        };
        if !self.io.take(token) {
            return;
        }
        let (from, bytes) = match outcome {
            Ok(answer) => answer,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                match self.stage {
                    Stage::Plain(_) => self.after_plain(),
                    _ => self.stage = Stage::Done,
                }
                return;
            }
            Err(e) => {
                self.failed = Some(Error::StunSocket(e));
                self.stage = Stage::Done;
                return;
            }
        };
        match self.stage {
            Stage::Plain(_) => match self.plain.answered(&bytes) {
                Ok(answer) => {
                    self.seen = Some(answer.mapped);
                    // Only another address of the server that answered is asked for.
                    self.other_address = answer
                        .other_address
                        .filter(|other| *other != self.server && from.ip() == self.server.ip());
                    self.after_plain();
                }
                Err(e @ Error::StunRefused { .. }) => {
                    self.failed = Some(e);
                    self.stage = Stage::Done;
                }
                Err(_) => self.odd = self.odd.saturating_add(1),
            },
            Stage::Change(_) => match self.change.answered(&bytes) {
                // An answer from elsewhere than where the request went came in.
                Ok(_) if from != self.server => {
                    self.inbound = true;
                    self.stage = Stage::Done;
                }
                // Some servers answer a change request from the same address: proves nothing.
                Ok(_) | Err(Error::StunRefused { .. }) => self.stage = Stage::Done,
                Err(_) => self.odd = self.odd.saturating_add(1),
            },
            Stage::Done => {}
        }
        if self.odd >= MAX_ODD {
            match self.stage {
                Stage::Plain(_) => self.after_plain(),
                _ => self.stage = Stage::Done,
            }
        }
    }
}

/// How long a check takes at most by default: the plain request's 3 s, then 2 s more for the
/// answer from the server's other address.
pub const DEFAULT_REACH_TIME: Duration = Duration::from_secs(5);

//! The keeper's IPv6 pinholes beside its mappings ([`Keep::pinholes`]): opened, renewed at
//! every check, opened again when lost, closed at stop. No I/O.

use super::*;

impl Keeper {
    pub(super) fn pinhole_closed_at_stop(
        &mut self,
        slot: Slot,
        unique_id: u16,
        result: &Result<(), Error>,
    ) {
        let gone = match result {
            Ok(()) => true,
            Err(e) => is_pinhole_absent(e),
        };
        if gone {
            if let Some(stop) = &mut self.stop {
                stop.left = stop.left.saturating_sub(1);
            }
        }
        let spec = self.ports.get_mut(slot).map(|port| {
            if port
                .pinhole
                .as_ref()
                .is_some_and(|p| p.held.unique_id == unique_id)
            {
                port.pinhole = None;
            }
            port.spec
        });
        match (spec, result) {
            (Some(port), Ok(())) => self.emit(Event::PinholeClosed { port, unique_id }),
            (port, Err(error)) if !gone => self.emit(Event::Failed {
                port,
                error: pinhole_error(error),
                retry_in: Duration::ZERO,
            }),
            _ => {}
        }
    }

    pub(super) fn pinhole_opened(
        &mut self,
        task: Option<Task>,
        result: Result<u16, Error>,
        now: Instant,
    ) {
        let Some(Task::OpenPinhole {
            slot,
            client,
            lease,
            ..
        }) = task
        else {
            return;
        };
        let check = self.interval();
        let retry = |failures: u32| self.backoff(failures);
        let Some(port) = self.ports.get(slot) else {
            return;
        };
        let retry_in = retry(port.pinhole_failures);
        match result {
            Ok(unique_id) => {
                let held = HeldPinhole {
                    port: port.spec,
                    unique_id,
                    client,
                    lease,
                };
                if let Some(port) = self.ports.get_mut(slot) {
                    port.pinhole = Some(PinholeState {
                        held: held.clone(),
                        renew_at: later(now, check.min(lease / 2)),
                        announce_at: later(now, lease / 2),
                    });
                    port.pinhole_failures = 0;
                    port.pinhole_due = None;
                }
                self.emit(Event::PinholeOpened(held));
            }
            Err(e) if e.is_unreachable() => self.unreachable(Some(slot), e, now),
            Err(error) => {
                let spec = port.spec;
                if let Some(port) = self.ports.get_mut(slot) {
                    port.pinhole_failures = port.pinhole_failures.saturating_add(1);
                    port.pinhole_due = Some(later(now, retry_in));
                }
                self.emit(Event::Failed {
                    port: Some(spec),
                    error,
                    retry_in,
                });
            }
        }
    }

    pub(super) fn pinhole_renewed(&mut self, slot: Slot, result: Result<(), Error>, now: Instant) {
        let check = self.interval();
        let Some(port) = self.ports.get_mut(slot) else {
            return;
        };
        let Some(state) = port.pinhole.as_mut() else {
            return;
        };
        let lease = state.held.lease;
        match result {
            Ok(()) => {
                state.renew_at = later(now, check.min(lease / 2));
                if state.announce_at <= now {
                    state.announce_at = later(now, lease / 2);
                    let held = state.held.clone();
                    self.emit(Event::PinholeRenewed(held));
                }
            }
            Err(e) if e.is_unreachable() => self.unreachable(Some(slot), e, now),
            // Refused: the gateway no longer has it (a restart; miniupnpd says 704, or 402
            // for an ID it does not know): open it again now.
            Err(_) => {
                let (spec, unique_id) = (port.spec, state.held.unique_id);
                port.pinhole = None;
                port.pinhole_due = None;
                self.emit(Event::PinholeLost {
                    port: spec,
                    unique_id,
                    reason: LostReason::Gone,
                });
            }
        }
    }

    /// An old pinhole (to our previous address) closed, or not.
    pub(super) fn stale_pinhole_closed(
        &mut self,
        slot: Slot,
        result: Result<(), Error>,
        now: Instant,
    ) {
        let Some(port) = self.ports.get_mut(slot) else {
            return;
        };
        let (spec, stale) = (port.spec, port.stale_pinhole.take());
        match result {
            Ok(()) => {
                if let Some(unique_id) = stale {
                    self.emit(Event::PinholeClosed {
                        port: spec,
                        unique_id,
                    });
                }
            }
            Err(e) if e.is_unreachable() => {
                port.stale_pinhole = stale;
                self.unreachable(Some(slot), e, now);
            }
            // Not there, or not ours to close: nothing left of ours.
            Err(_) => {}
        }
    }

    /// What to do next about `slot`'s pinhole, if anything now; else when (into `wake`).
    pub(super) fn pinhole_task(&self, slot: Slot, now: Instant) -> Option<Task> {
        if !self.keep.pinholes {
            return None;
        }
        let port = self.ports.get(slot)?;
        if let Some(unique_id) = port.stale_pinhole {
            return Some(Task::ClosePinhole { slot, unique_id });
        }
        let client = self.gateway.as_ref()?.pinhole_addr?;
        match &port.pinhole {
            Some(state) if state.renew_at <= now => Some(Task::RenewPinhole {
                slot,
                unique_id: state.held.unique_id,
                lease: state.held.lease,
            }),
            Some(_) => None,
            None => match port.pinhole_due {
                Some(due) if due > now => None,
                _ => Some(Task::OpenPinhole {
                    slot,
                    protocol: port.spec.protocol,
                    internal_port: port.spec.internal_port,
                    client,
                    lease: self.keep.pinhole_lease(),
                }),
            },
        }
    }

    /// The gateway's pinhole address is now `new`: pinholes to another address are closed
    /// and opened again.
    pub(super) fn pinhole_address_is(&mut self, new: Option<Ipv6Addr>) {
        let mut lost = Vec::new();
        for port in &mut self.ports {
            if let Some(state) = &port.pinhole {
                if Some(state.held.client) != new {
                    let (unique_id, old) = (state.held.unique_id, state.held.client);
                    port.stale_pinhole = Some(unique_id);
                    port.pinhole = None;
                    port.pinhole_due = None;
                    lost.push((port.spec, unique_id, old));
                }
            }
        }
        for (spec, unique_id, old) in lost {
            let reason = match new {
                Some(new) => LostReason::LocalAddressChanged {
                    old: IpAddr::V6(old),
                    new: IpAddr::V6(new),
                },
                None => LostReason::Gone,
            };
            self.emit(Event::PinholeLost {
                port: spec,
                unique_id,
                reason,
            });
        }
    }
}

/// The gateway says there is no such pinhole.
pub(super) fn is_pinhole_absent(error: &Error) -> bool {
    matches!(
        error,
        Error::FirewallRefused {
            error: upnp_soap::firewall::FirewallError::NoSuchEntry,
            ..
        }
    )
}

/// An error to report again (errors are not `Clone`: the fault's text is kept in words).
pub(super) fn pinhole_error(error: &Error) -> Error {
    match error {
        Error::FirewallRefused { error, fault } => Error::FirewallRefused {
            error: *error,
            fault: fault.clone(),
        },
        _ => Error::InvalidResponse("the pinhole could not be closed"),
    }
}

//! Stopping: remove only what the keeper made, each checked to still point at us, within
//! [`Keep::stop_within`]. No I/O.

use super::*;

impl Keeper {
    /// Stop: from now on, only remove what was mapped, within [`Keep::stop_within`].
    /// Mappings are removed only where they still point at us.
    pub(crate) fn stop(&mut self, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        let mut queue = VecDeque::new();
        for (slot, port) in self.ports.iter().enumerate() {
            let mut ours: Vec<(u16, IpAddr)> = Vec::new();
            if let Some(held) = &port.held {
                ours.push((held.external_port, held.internal_client));
            }
            ours.extend(port.maybe.iter().copied());
            ours.extend(port.stale);
            if let Some((external, client)) = self.running_map(slot) {
                ours.push((external, client));
            }
            let mut seen = Vec::new();
            for (external, client) in ours {
                if !seen.contains(&(external, client)) {
                    seen.push((external, client));
                    queue.push_back(StopItem::Unmap(slot, external, client));
                }
            }
            let pinholes = port.pinhole.as_ref().map(|p| p.held.unique_id);
            for unique_id in pinholes.into_iter().chain(port.stale_pinhole) {
                queue.push_back(StopItem::Close(slot, unique_id));
            }
        }
        self.stop = Some(Stop {
            deadline: later(now, self.keep.stop_within),
            left: queue.len(),
            queue,
            done: false,
        });
    }

    /// A map task in flight for `slot`: it may succeed after we stop.
    pub(super) fn running_map(&self, slot: Slot) -> Option<(u16, IpAddr)> {
        match &self.running {
            Some(Task::Map(task)) if task.slot == slot => {
                Some((task.external_port, task.internal_client))
            }
            _ => None,
        }
    }

    pub(super) fn poll_stop(&mut self, now: Instant) -> Step {
        let Some(stop) = &mut self.stop else {
            return Step::Done;
        };
        if stop.done {
            return Step::Done;
        }
        let expired = now >= stop.deadline;
        let next = if expired {
            None
        } else {
            stop.queue.pop_front()
        };
        match next {
            Some(StopItem::Unmap(slot, external_port, internal_client)) => {
                match self.ports.get(slot) {
                    Some(port) => {
                        let (protocol, internal_port) =
                            (port.spec.protocol, port.spec.internal_port);
                        self.run_at(
                            now,
                            Task::Unmap {
                                slot,
                                protocol,
                                external_port,
                                internal_client,
                                internal_port,
                            },
                        )
                    }
                    None => self.poll_stop(now),
                }
            }
            Some(StopItem::Close(slot, unique_id)) => {
                self.run_at(now, Task::ClosePinhole { slot, unique_id })
            }
            None => {
                stop.done = true;
                let left = stop.left;
                self.emit(Event::Stopped { left });
                Step::Done
            }
        }
    }

    pub(super) fn handle_stopping(&mut self, task: Option<Task>, outcome: Outcome) {
        if let (Some(Task::ClosePinhole { slot, unique_id }), Outcome::PinholeClosed(_, result)) =
            (&task, &outcome)
        {
            self.pinhole_closed_at_stop(*slot, *unique_id, result);
            return;
        }
        // A pinhole opened as the stop began is ours to close too.
        if let (Some(Task::OpenPinhole { slot, .. }), Outcome::PinholeOpened(_, Ok(unique_id))) =
            (&task, &outcome)
        {
            if let Some(stop) = &mut self.stop {
                stop.queue.push_back(StopItem::Close(*slot, *unique_id));
                stop.left = stop.left.saturating_add(1);
            }
            return;
        }
        let (
            Some(Task::Unmap {
                slot,
                external_port,
                ..
            }),
            Outcome::Unmapped(_, result),
        ) = (task, outcome)
        else {
            return;
        };
        let spec = self.ports.get(slot).map(|p| p.spec);
        let gone = match &result {
            Ok(()) => true,
            // Not there any more, or not ours: nothing of ours is left behind.
            Err(e) => e.is_absent() || matches!(e, Error::MappingTaken { .. }),
        };
        if gone {
            if let Some(stop) = &mut self.stop {
                stop.left = stop.left.saturating_sub(1);
            }
        }
        if let Some(port) = self.ports.get_mut(slot) {
            if port
                .held
                .as_ref()
                .is_some_and(|h| h.external_port == external_port)
            {
                port.held = None;
            }
        }
        match (spec, result) {
            (Some(port), Ok(())) => self.emit(Event::Removed {
                port,
                external_port,
            }),
            // Stopping is bounded: a removal that fails is not retried; the lease ends it.
            (port, Err(error)) if !gone => self.emit(Event::Failed {
                port,
                error,
                retry_in: Duration::ZERO,
            }),
            _ => {}
        }
    }
}

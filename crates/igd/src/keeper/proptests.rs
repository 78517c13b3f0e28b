//! Whatever the gateway answers, in whatever order and time: the keeper never removes a
//! mapping it did not ask for (nor closes or renews a pinhole it did not open), keeps its event queue bounded, and stops by its deadline.

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use upnp_soap::{ErrorCode, SoapFault};

use super::*;

/// One answer the gateway (or the network) may give to whatever task is running.
#[derive(Clone, Debug)]
enum Answer {
    Granted(u16, u64),
    Fault(u32),
    Timeout,
    Taken(u8),
    Seen(u8, u16),
    Absent,
    Address(u8),
    Found(u8, bool),
    NoGateway,
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        (1u16..=u16::MAX, 0u64..10_000).prop_map(|(p, l)| Answer::Granted(p, l)),
        prop::sample::select(vec![402u32, 501, 606, 714, 718, 724, 725, 729])
            .prop_map(Answer::Fault),
        Just(Answer::Timeout),
        any::<u8>().prop_map(Answer::Taken),
        (any::<u8>(), any::<u16>()).prop_map(|(c, p)| Answer::Seen(c, p)),
        Just(Answer::Absent),
        any::<u8>().prop_map(Answer::Address),
        (any::<u8>(), any::<bool>()).prop_map(|(a, v2)| Answer::Found(a, v2)),
        Just(Answer::NoGateway),
    ]
}

fn host(n: u8) -> IpAddr {
    IpAddr::from([192, 168, 77, n])
}

fn error(answer: &Answer) -> Error {
    match answer {
        Answer::Fault(code) => Error::Soap(upnp_soap::Error::Fault(SoapFault::new(
            ErrorCode::from(*code),
            "",
        ))),
        Answer::Taken(n) => Error::MappingTaken {
            internal_client: host(*n).to_string(),
            internal_port: 1,
        },
        Answer::Timeout => Error::Soap(upnp_soap::Error::Timeout {
            after: Duration::from_secs(1),
            stage: upnp_soap::Stage::ReadingHead,
        }),
        _ => Error::NoDevices,
    }
}

/// The outcome of `task` as `answer` makes it.
fn outcome(task: &Task, answer: &Answer) -> Outcome {
    match task {
        Task::FindGateway => Outcome::Gateway(match answer {
            Answer::Found(n, v2) => Ok(Gateway::new(Some(IpAddr::from([11, 0, 0, 7])), host(*n))
                .any_port(*v2)
                .pinholes(
                    v2.then(|| Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, u16::from(*n))),
                )),
            other => Err(error(other)),
        }),
        Task::LocalAddress => Outcome::LocalAddress(match answer {
            Answer::Address(n) => Some(host(*n)),
            Answer::Timeout => None,
            _ => Some(host(10)),
        }),
        Task::ExternalIp => Outcome::ExternalIp(match answer {
            Answer::Address(n) => Ok(IpAddr::from([11, 0, 0, *n])),
            other => Err(error(other)),
        }),
        Task::Map(map) => Outcome::Mapped(
            map.slot,
            match answer {
                Answer::Granted(port, lease) => Ok(Grant {
                    external_port: *port,
                    lease: Duration::from_secs(*lease),
                    confirmed: true,
                }),
                other => Err(error(other)),
            },
        ),
        Task::Look { slot, .. } => Outcome::Looked(
            *slot,
            match answer {
                Answer::Seen(n, port) => Ok(Some(Seen {
                    internal_client: Some(host(*n)),
                    internal_port: *port,
                    lease: Duration::ZERO,
                })),
                Answer::Absent => Ok(None),
                other => Err(error(other)),
            },
        ),
        Task::Unmap { slot, .. } => Outcome::Unmapped(
            *slot,
            match answer {
                Answer::Absent | Answer::Granted(..) => Ok(()),
                other => Err(error(other)),
            },
        ),
        Task::OpenPinhole { slot, .. } => Outcome::PinholeOpened(
            *slot,
            match answer {
                Answer::Granted(id, _) | Answer::Seen(_, id) => Ok(*id),
                other => Err(error(other)),
            },
        ),
        Task::RenewPinhole { slot, .. } => Outcome::PinholeRenewed(
            *slot,
            match answer {
                Answer::Granted(..) | Answer::Seen(..) => Ok(()),
                other => Err(error(other)),
            },
        ),
        Task::ClosePinhole { slot, .. } => Outcome::PinholeClosed(
            *slot,
            match answer {
                Answer::Absent | Answer::Granted(..) => Ok(()),
                other => Err(error(other)),
            },
        ),
    }
}

proptest! {
    #[test]
    fn the_keeper_only_removes_what_it_mapped_and_stops_in_time(
        answers in prop::collection::vec((answer(), 0u64..5_000), 1..200),
        stop_after in 0usize..200,
    ) {
        let t0 = Instant::now();
        let keep = Keep::new().udp(7777).tcp(7000).lease(Duration::from_secs(60))
            .check(Duration::from_secs(5)).pinholes(true);
        let mut keeper = Keeper::new(keep);
        let mut now = t0;
        // (slot, external port, client) of every map asked and every mapping granted.
        let mut asked: Vec<(Slot, u16, IpAddr)> = Vec::new();
        // (slot, ID) of every pinhole opened.
        let mut opened: Vec<(Slot, u16)> = Vec::new();
        for (i, (answer, millis)) in answers.iter().enumerate() {
            if i == stop_after {
                keeper.stop(now);
            }
            match keeper.poll(now) {
                Step::Run(task) => {
                    match &task {
                        Task::Map(map) => asked.push((map.slot, map.external_port, map.internal_client)),
                        Task::Unmap { slot, external_port, internal_client, .. } => {
                            prop_assert!(
                                asked.contains(&(*slot, *external_port, *internal_client)),
                                "removing {external_port} for {internal_client}, never mapped"
                            );
                        }
                        Task::ClosePinhole { slot, unique_id } | Task::RenewPinhole { slot, unique_id, .. } => {
                            prop_assert!(
                                opened.contains(&(*slot, *unique_id)),
                                "touching pinhole {unique_id}, never opened"
                            );
                        }
                        _ => {}
                    }
                    let out = outcome(&task, answer);
                    if let Outcome::PinholeOpened(slot, Ok(id)) = &out {
                        opened.push((*slot, *id));
                    }
                    // What a grant gives is ours too (the gateway may choose the port).
                    if let (Task::Map(map), Outcome::Mapped(_, Ok(grant))) = (&task, &out) {
                        asked.push((map.slot, grant.external_port, map.internal_client));
                    }
                    keeper.handle(out, now);
                }
                Step::Wait(until) => {
                    prop_assert!(until >= now);
                    now = until;
                }
                Step::Done => {
                    prop_assert!(keeper.stop_deadline().is_some());
                    break;
                }
            }
            now += Duration::from_millis(*millis);
            prop_assert!(keeper.events.len() <= MAX_EVENTS);
        }
        // Stopped now at the latest: over once its deadline has passed, whatever is left.
        keeper.stop(now);
        let deadline = keeper.stop_deadline().unwrap();
        let mut steps = 0;
        loop {
            match keeper.poll(deadline) {
                Step::Done => break,
                Step::Run(task) => {
                    let out = outcome(&task, &Answer::Timeout);
                    keeper.handle(out, deadline);
                }
                Step::Wait(_) => {}
            }
            steps += 1;
            prop_assert!(steps < 10, "not done past the stop's deadline");
        }
    }
}

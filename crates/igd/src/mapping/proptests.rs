use proptest::prelude::*;
use upnp_soap::{ActionResponse, ErrorCode, SoapFault};

use super::*;

fn mapping_request() -> impl Strategy<Value = MappingRequest> {
    (
        prop_oneof![any::<i64>(), -2i64..70000],
        prop_oneof![any::<i64>(), -2i64..70000],
        "[ -~]{0,8}",
        prop_oneof![
            Just("UDP".to_owned()),
            Just("TCP".to_owned()),
            "[a-zA-Z]{0,4}"
        ],
        prop_oneof![any::<i64>(), -2i64..100_000],
    )
        .prop_map(
            |(port, port_internal, desc, proto, duration)| MappingRequest {
                port,
                port_internal,
                desc,
                proto,
                duration,
            },
        )
}

/// What a gateway may answer any step with.
#[derive(Clone, Debug)]
enum Answer {
    Entry(u16, String, String),
    Empty,
    Fault(u32),
    Timeout,
}

impl Answer {
    fn outcome(self) -> Result<ActionResponse, upnp_soap::Error> {
        let response = |arguments| {
            Ok(ActionResponse {
                service_type: None,
                action: "X".into(),
                arguments,
            })
        };
        match self {
            Answer::Entry(port, client, lease) => response(vec![
                ("NewInternalPort".into(), port.to_string()),
                ("NewInternalClient".into(), client),
                ("NewEnabled".into(), "1".into()),
                ("NewLeaseDuration".into(), lease),
            ]),
            Answer::Empty => response(Vec::new()),
            Answer::Fault(code) => Err(upnp_soap::Error::Fault(SoapFault::new(
                ErrorCode::from(code),
                "",
            ))),
            Answer::Timeout => Err(timeout()),
        }
    }
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        (any::<u16>(), "[0-9.]{0,15}", "[0-9]{0,7}")
            .prop_map(|(port, client, lease)| Answer::Entry(port, client, lease)),
        Just(Answer::Empty),
        (400u32..800).prop_map(Answer::Fault),
        Just(Answer::Timeout),
    ]
}

proptest! {
    #[test]
    fn validation_follows_godots_rules(request in mapping_request()) {
        let valid_port = (1..=65535).contains(&request.port);
        let valid_internal = (0..=65535).contains(&request.port_internal);
        let valid_proto = request.proto == "UDP" || request.proto == "TCP";
        let valid_duration = (0..=i64::from(u32::MAX)).contains(&request.duration);
        prop_assert_eq!(request.validate().is_ok(), request.mapping().is_ok());
        match request.mapping() {
            Ok(m) => {
                prop_assert!(valid_port && valid_internal && valid_proto && valid_duration);
                prop_assert_eq!(i64::from(m.external_port), request.port);
                let internal = if request.port_internal == 0 { request.port } else { request.port_internal };
                prop_assert_eq!(i64::from(m.internal_port), internal);
                prop_assert!(!m.description.is_empty());
            }
            Err(Error::InvalidPort(_)) => prop_assert!(!valid_port || !valid_internal),
            Err(Error::InvalidProtocol(_)) => prop_assert!(valid_port && valid_internal && !valid_proto),
            Err(Error::InvalidDuration(_)) => prop_assert!(valid_port && valid_internal && valid_proto && !valid_duration),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    /// Whatever the gateway answers, the sequence ends within five calls, only ever adds for
    /// our own address, and never adds after finding another client's mapping.
    #[test]
    fn the_add_sequence_always_ends_and_never_clobbers(
        lease in 0u32..5000,
        outcomes in prop::collection::vec(answer(), 6),
    ) {
        let mapping = Mapping {
            external_port: 7777,
            internal_port: 7777,
            protocol: Protocol::Udp,
            description: "d".into(),
            lease_duration: lease,
        };
        let ours: IpAddr = "192.168.77.10".parse().unwrap();
        let mut sequence = AddSequence::new(&mapping, ours, "urn:schemas-upnp-org:service:WANIPConnection:1");
        let mut next = sequence.start();
        let mut calls = 0;
        let mut outcomes = outcomes.into_iter();
        let mut taken_by_other = false;
        let mut first = true;
        while let Next::Call(request) = next {
            calls += 1;
            prop_assert!(calls <= 5);
            if request.action == "AddPortMapping" {
                prop_assert!(!taken_by_other);
                prop_assert!(request.arguments.iter().any(|(n, v)| n == "NewInternalClient" && v == "192.168.77.10"));
            }
            let outcome = outcomes.next().unwrap().outcome();
            if first {
                if let Ok(r) = &outcome {
                    let client = r.get("NewInternalClient").unwrap_or_default();
                    taken_by_other = r.get("NewInternalPort").is_some() && client.parse::<IpAddr>().is_ok_and(|c| c != ours);
                }
                first = false;
            }
            next = sequence.handle(outcome);
        }
    }
}

/// An exchange that timed out waiting for the answer.
fn timeout() -> upnp_soap::Error {
    upnp_soap::Error::Timeout {
        after: std::time::Duration::from_secs(10),
        stage: upnp_soap::Stage::ReadingHead,
    }
}

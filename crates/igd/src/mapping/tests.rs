use upnp_soap::{ActionResponse, ErrorCode, SoapFault};

use super::*;
use crate::error::UpnpResult;

const WANIP2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

fn our_addr() -> IpAddr {
    "192.168.77.10".parse().unwrap()
}

fn fault(code: ErrorCode) -> Result<ActionResponse, upnp_soap::Error> {
    Err(upnp_soap::Error::Fault(SoapFault::new(code, "")))
}

fn ok(action: &str, arguments: &[(&str, &str)]) -> Result<ActionResponse, upnp_soap::Error> {
    Ok(ActionResponse {
        service_type: Some(WANIP2.to_owned()),
        action: action.to_owned(),
        arguments: arguments
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    })
}

fn entry(client: &str, lease: &str, desc: &str) -> Result<ActionResponse, upnp_soap::Error> {
    ok(
        "GetSpecificPortMappingEntry",
        &[
            ("NewInternalPort", "7777"),
            ("NewInternalClient", client),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", desc),
            ("NewLeaseDuration", lease),
        ],
    )
}

fn call(next: Next<Granted>) -> ActionRequest {
    match next {
        Next::Call(request) => request,
        Next::Done(result) => panic!("expected a call, got {result:?}"),
    }
}

fn done(next: Next<Granted>) -> Result<Granted, Error> {
    match next {
        Next::Done(result) => result,
        Next::Call(request) => panic!("expected the end, got a call of {}", request.action),
    }
}

fn argument<'a>(request: &'a ActionRequest, name: &str) -> &'a str {
    request
        .arguments
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap()
}

#[test]
fn validation_is_godots() {
    let valid = MappingRequest::new(7777).mapping().unwrap();
    assert_eq!(
        valid,
        Mapping {
            external_port: 7777,
            internal_port: 7777,
            protocol: Protocol::Udp,
            description: DEFAULT_DESCRIPTION.to_owned(),
            lease_duration: 0,
        }
    );
    let tcp = MappingRequest::new(65535)
        .port_internal(8080)
        .proto("TCP")
        .desc("game")
        .duration(3600)
        .mapping()
        .unwrap();
    assert_eq!((tcp.internal_port, tcp.protocol), (8080, Protocol::Tcp));
    assert_eq!(
        (tcp.description.as_str(), tcp.lease_duration),
        ("game", 3600)
    );

    for (request, result) in [
        (MappingRequest::new(0), UpnpResult::InvalidPort),
        (MappingRequest::new(-1), UpnpResult::InvalidPort),
        (MappingRequest::new(65536), UpnpResult::InvalidPort),
        (
            MappingRequest::new(1).port_internal(-1),
            UpnpResult::InvalidPort,
        ),
        (
            MappingRequest::new(1).port_internal(65536),
            UpnpResult::InvalidPort,
        ),
        (
            MappingRequest::new(1).proto("udp"),
            UpnpResult::InvalidProtocol,
        ),
        (
            MappingRequest::new(1).proto("Tcp"),
            UpnpResult::InvalidProtocol,
        ),
        (
            MappingRequest::new(1).proto(""),
            UpnpResult::InvalidProtocol,
        ),
        (
            MappingRequest::new(1).proto("SCTP"),
            UpnpResult::InvalidProtocol,
        ),
        (
            MappingRequest::new(1).duration(-1),
            UpnpResult::InvalidDuration,
        ),
        (
            MappingRequest::new(1).duration(1 << 40),
            UpnpResult::InvalidDuration,
        ),
    ] {
        assert_eq!(
            request.validate().unwrap_err().result(),
            result,
            "{request:?}"
        );
    }
    assert_eq!(
        DeleteSequence::new(0, "UDP", WANIP2).unwrap_err().result(),
        UpnpResult::InvalidPort
    );
    assert_eq!(
        DeleteSequence::new(1, "tcp", WANIP2).unwrap_err().result(),
        UpnpResult::InvalidProtocol
    );
}

fn done_unit(next: Next<()>) -> Result<(), Error> {
    match next {
        Next::Done(result) => result,
        Next::Call(request) => panic!("expected the end, got a call of {}", request.action),
    }
}

fn call_unit(next: Next<()>) -> ActionRequest {
    match next {
        Next::Call(request) => request,
        Next::Done(result) => panic!("expected a call, got {result:?}"),
    }
}

#[test]
fn delete_looks_first_and_never_removes_another_clients_mapping() {
    let sequence = || {
        DeleteSequence::new(7777, "TCP", WANIP2)
            .unwrap()
            .client(our_addr())
    };
    // Ours: deleted.
    let mut ours = sequence();
    assert_eq!(
        call_unit(ours.start()).action,
        "GetSpecificPortMappingEntry"
    );
    let delete = call_unit(ours.handle(entry("192.168.77.10", "0", "x")));
    assert_eq!(delete.action, "DeletePortMapping");
    assert_eq!(argument(&delete, "NewProtocol"), "TCP");
    assert_eq!(argument(&delete, "NewExternalPort"), "7777");
    done_unit(ours.handle(ok("DeletePortMapping", &[]))).unwrap();
    // Absent: said so, nothing sent (miniupnpd would answer the delete with success).
    let mut absent = sequence();
    absent.start();
    let err = done_unit(absent.handle(fault(ErrorCode::NoSuchEntryInArray))).unwrap_err();
    assert_eq!(err.result(), UpnpResult::NoSuchEntryInArray);
    // Another client's: left alone.
    let mut theirs = sequence();
    theirs.start();
    let err = done_unit(theirs.handle(entry("192.168.77.99", "0", "x"))).unwrap_err();
    assert_eq!(err.result(), UpnpResult::ConflictWithOtherMapping);
    // A gateway that cannot look up (401): delete anyway, and report its answer.
    let mut blind = sequence();
    blind.start();
    call_unit(blind.handle(fault(ErrorCode::InvalidAction)));
    let err = done_unit(blind.handle(fault(ErrorCode::ActionNotAuthorized))).unwrap_err();
    assert_eq!(err.result(), UpnpResult::NotAuthorized);
}

#[test]
fn a_free_port_is_checked_added_and_read_back() {
    let mapping = MappingRequest::new(7777).mapping().unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    let check = call(sequence.start());
    assert_eq!(check.action, "GetSpecificPortMappingEntry");
    assert_eq!(check.service_type, WANIP2);
    let add = call(sequence.handle(fault(ErrorCode::NoSuchEntryInArray)));
    assert_eq!(add.action, "AddPortMapping");
    assert_eq!(argument(&add, "NewInternalClient"), "192.168.77.10");
    assert_eq!(argument(&add, "NewRemoteHost"), "");
    assert_eq!(
        argument(&add, "NewPortMappingDescription"),
        DEFAULT_DESCRIPTION
    );
    assert_eq!(argument(&add, "NewLeaseDuration"), "0");
    let read = call(sequence.handle(ok("AddPortMapping", &[])));
    assert_eq!(read.action, "GetSpecificPortMappingEntry");
    // miniupnpd grants a week for a permanent request.
    let granted =
        done(sequence.handle(entry("192.168.77.10", "604800", DEFAULT_DESCRIPTION))).unwrap();
    assert!(granted.read_back);
    assert_eq!(granted.mapping.lease_duration, 604_800);
    assert!(!granted.lease_dropped && !granted.description_dropped);
}

#[test]
fn another_clients_mapping_is_never_clobbered() {
    let mapping = MappingRequest::new(7777).mapping().unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    let err = done(sequence.handle(entry("192.168.77.99", "0", "theirs"))).unwrap_err();
    assert_eq!(err.result(), UpnpResult::ConflictWithOtherMapping);
    assert!(
        matches!(err, Error::MappingTaken { ref internal_client, .. } if internal_client == "192.168.77.99")
    );

    // Our own mapping is updated, as Godot does.
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    let add = call(sequence.handle(entry("192.168.77.10", "0", "old")));
    assert_eq!(add.action, "AddPortMapping");
}

#[test]
fn a_refused_lease_then_description_are_each_dropped_once() {
    let mapping = MappingRequest::new(7777)
        .desc("game")
        .duration(3600)
        .mapping()
        .unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    let first = call(sequence.handle(fault(ErrorCode::NoSuchEntryInArray)));
    assert_eq!(argument(&first, "NewLeaseDuration"), "3600");
    let second = call(sequence.handle(fault(ErrorCode::OnlyPermanentLeasesSupported)));
    assert_eq!(argument(&second, "NewLeaseDuration"), "0");
    assert_eq!(argument(&second, "NewPortMappingDescription"), "game");
    let third = call(sequence.handle(fault(ErrorCode::InvalidArgs)));
    assert_eq!(argument(&third, "NewLeaseDuration"), "0");
    assert_eq!(argument(&third, "NewPortMappingDescription"), "");
    let err = done(sequence.handle(fault(ErrorCode::InvalidArgs))).unwrap_err();
    assert_eq!(err.result(), UpnpResult::InvalidArgs);
    assert_eq!(
        err.fault().and_then(SoapFault::code),
        Some(ErrorCode::InvalidArgs)
    );
}

#[test]
fn a_402_on_a_lease_drops_the_lease_and_reports_it() {
    let mapping = MappingRequest::new(7777).duration(3600).mapping().unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    call(sequence.handle(fault(ErrorCode::NoSuchEntryInArray)));
    let retry = call(sequence.handle(fault(ErrorCode::InvalidArgs)));
    assert_eq!(argument(&retry, "NewLeaseDuration"), "0");
    call(sequence.handle(ok("AddPortMapping", &[])));
    // The read-back fails: what we sent is reported.
    let granted = done(sequence.handle(fault(ErrorCode::InvalidAction))).unwrap();
    assert!(granted.lease_dropped);
    assert!(!granted.read_back);
    assert_eq!(granted.mapping.lease_duration, 0);
}

#[test]
fn other_refusals_end_the_sequence_with_their_result() {
    for (code, result) in [
        (
            ErrorCode::ConflictInMappingEntry,
            UpnpResult::ConflictWithOtherMapping,
        ),
        (ErrorCode::ActionNotAuthorized, UpnpResult::NotAuthorized),
        (
            ErrorCode::SamePortValuesRequired,
            UpnpResult::SamePortValuesRequired,
        ),
        (ErrorCode::Other(899), UpnpResult::UnknownError),
    ] {
        let mapping = MappingRequest::new(7777).duration(60).mapping().unwrap();
        let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
        call(sequence.start());
        call(sequence.handle(fault(ErrorCode::NoSuchEntryInArray)));
        assert_eq!(
            done(sequence.handle(fault(code))).unwrap_err().result(),
            result
        );
    }
    // A gateway that cannot be reached during the check: nothing is added.
    let mapping = MappingRequest::new(7777).mapping().unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    let err = done(sequence.handle(Err(timeout()))).unwrap_err();
    assert_eq!(err.result(), UpnpResult::HttpError);
}

#[test]
fn every_fault_code_maps_as_the_spec_means_it() {
    use crate::error::result_of_code;
    for (code, result) in [
        (402, UpnpResult::InvalidArgs),
        (501, UpnpResult::ActionFailed),
        (603, UpnpResult::MemAllocError),
        (606, UpnpResult::NotAuthorized),
        (713, UpnpResult::NoSuchEntryInArray),
        (714, UpnpResult::NoSuchEntryInArray),
        (715, UpnpResult::SrcIpWildcardNotPermitted),
        (716, UpnpResult::ExtPortWildcardNotPermitted),
        (718, UpnpResult::ConflictWithOtherMapping),
        (724, UpnpResult::SamePortValuesRequired),
        (725, UpnpResult::OnlyPermanentLeaseSupported),
        (726, UpnpResult::RemoteHostMustBeWildcard),
        (727, UpnpResult::ExtPortMustBeWildcard),
        (728, UpnpResult::NoPortMapsAvailable),
        (729, UpnpResult::ConflictWithOtherMechanism),
        (730, UpnpResult::PortMappingNotFound),
        (732, UpnpResult::IntPortWildcardNotPermitted),
        (733, UpnpResult::InconsistentParameters),
        (999, UpnpResult::UnknownError),
    ] {
        assert_eq!(result_of_code(ErrorCode::from(code)), result, "{code}");
    }
}

#[test]
fn godots_numbers_and_names() {
    assert_eq!(UpnpResult::ALL.len(), 29);
    for (n, result) in UpnpResult::ALL.iter().enumerate() {
        assert_eq!(result.as_i32(), n as i32);
        assert_eq!(UpnpResult::from_i32(n as i32), Some(*result));
        assert!(result.godot_name().starts_with("UPNP_RESULT_"));
    }
    assert_eq!(UpnpResult::from_i32(29), None);
    assert_eq!(UpnpResult::Success.godot_name(), "UPNP_RESULT_SUCCESS");
    assert_eq!(UpnpResult::NoDevices.as_i32(), 27);
    assert_eq!(UpnpResult::UnknownError.as_i32(), 28);
    use crate::error::IgdStatus;
    assert_eq!(IgdStatus::ALL.len(), 10);
    for (n, status) in IgdStatus::ALL.iter().enumerate() {
        assert_eq!(status.as_i32(), n as i32);
    }
    assert_eq!(
        IgdStatus::Disconnected.to_string(),
        "IGD_STATUS_DISCONNECTED"
    );
    assert_eq!(IgdStatus::InvalidControl.as_i32(), 7);
}

fn list_call(next: Next<Vec<PortMapping>>) -> ActionRequest {
    match next {
        Next::Call(request) => request,
        Next::Done(result) => panic!("expected a call, got {result:?}"),
    }
}

fn list_done(next: Next<Vec<PortMapping>>) -> Result<Vec<PortMapping>, Error> {
    match next {
        Next::Done(result) => result,
        Next::Call(request) => panic!("expected the end, got a call of {}", request.action),
    }
}

fn listing(ports: &[u16]) -> Result<ActionResponse, upnp_soap::Error> {
    let mappings: Vec<PortMapping> = ports
        .iter()
        .map(|&p| PortMapping::new(Protocol::Tcp, p, "192.168.77.10", p))
        .collect();
    let document = upnp_soap::port_list::encode(&mappings).unwrap();
    ok(
        "GetListOfPortMappings",
        &[("NewPortListing", document.as_str())],
    )
}

fn generic(port: &str) -> Result<ActionResponse, upnp_soap::Error> {
    ok(
        "GetGenericPortMappingEntry",
        &[
            ("NewRemoteHost", ""),
            ("NewExternalPort", port),
            ("NewProtocol", "UDP"),
            ("NewInternalPort", port),
            ("NewInternalClient", "192.168.77.10"),
            ("NewEnabled", "1"),
        ],
    )
}

#[test]
fn a_v2_gateway_is_listed_by_range_tcp_then_udp() {
    let mut list = ListSequence::new(WANIP2);
    let tcp = list_call(list.start());
    assert_eq!(tcp.action, "GetListOfPortMappings");
    assert_eq!(argument(&tcp, "NewProtocol"), "TCP");
    let udp = list_call(list.handle(listing(&[80, 443])));
    assert_eq!(argument(&udp, "NewProtocol"), "UDP");
    // 730 is "none in the range".
    let all = list_done(list.handle(fault(ErrorCode::PortMappingNotFound))).unwrap();
    assert_eq!(
        all.iter().map(|m| m.external_port).collect::<Vec<_>>(),
        [80, 443]
    );
}

#[test]
fn a_v1_gateway_or_a_refused_range_walks_the_generic_table() {
    let mut list = ListSequence::new("urn:schemas-upnp-org:service:WANPPPConnection:1");
    let first = list_call(list.start());
    assert_eq!(first.action, "GetGenericPortMappingEntry");
    assert_eq!(argument(&first, "NewPortMappingIndex"), "0");
    let second = list_call(list.handle(generic("7000")));
    assert_eq!(argument(&second, "NewPortMappingIndex"), "1");
    let all = list_done(list.handle(fault(ErrorCode::SpecifiedArrayIndexInvalid))).unwrap();
    assert_eq!(all.len(), 1);

    // A v2 gateway that refuses the range after one protocol: start over on the table.
    let mut list = ListSequence::new(WANIP2);
    list.start();
    list_call(list.handle(listing(&[80])));
    let walk = list_call(list.handle(fault(ErrorCode::ActionNotAuthorized)));
    assert_eq!(walk.action, "GetGenericPortMappingEntry");
    assert_eq!(argument(&walk, "NewPortMappingIndex"), "0");
    let all = list_done(list.handle(fault(ErrorCode::SpecifiedArrayIndexInvalid))).unwrap();
    assert!(
        all.is_empty(),
        "the range's partial answer is dropped: {all:?}"
    );

    // A gateway that cannot be reached: the error.
    let mut list = ListSequence::new(WANIP2);
    list.start();
    let err = list_done(list.handle(Err(timeout()))).unwrap_err();
    assert_eq!(err.result(), UpnpResult::HttpError);
}

/// An exchange that timed out waiting for the answer.
fn timeout() -> upnp_soap::Error {
    upnp_soap::Error::Timeout {
        after: std::time::Duration::from_secs(10),
        stage: upnp_soap::Stage::ReadingHead,
    }
}

#[test]
fn a_read_back_that_shows_another_client_is_an_error() {
    let mapping = MappingRequest::new(7777).mapping().unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    call(sequence.handle(fault(ErrorCode::NoSuchEntryInArray)));
    call(sequence.handle(ok("AddPortMapping", &[])));
    // The router said yes, but the port forwards to another client: the look showed none
    // there, so the router recorded ours wrong. It is removed, and that is the error.
    let delete = call(sequence.handle(entry("192.168.77.99", "0", "theirs")));
    assert_eq!(delete.action, "DeletePortMapping");
    assert_eq!(argument(&delete, "NewExternalPort"), "7777");
    let err = done(sequence.handle(ok("DeletePortMapping", &[]))).unwrap_err();
    assert!(
        matches!(err, Error::MappingRewritten { ref internal_client, .. } if internal_client == "192.168.77.99"),
        "{err:?}"
    );
    assert_eq!(err.result(), UpnpResult::InconsistentParameters);
}

/// A GetSpecificPortMappingEntry answer: `client`:`port`, `lease` seconds.
fn entry_to(client: &str, port: &str, lease: &str) -> Result<ActionResponse, upnp_soap::Error> {
    ok(
        "GetSpecificPortMappingEntry",
        &[
            ("NewInternalPort", port),
            ("NewInternalClient", client),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", "igd-rs"),
            ("NewLeaseDuration", lease),
        ],
    )
}

#[test]
fn a_mapping_recorded_to_another_internal_port_is_removed_and_named() {
    // Orange FunBox6: the internal port is set to the external one, whatever was asked.
    let mapping = MappingRequest::new(7777)
        .port_internal(8000)
        .mapping()
        .unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    let add = call(sequence.handle(fault(ErrorCode::NoSuchEntryInArray)));
    assert_eq!(argument(&add, "NewInternalPort"), "8000");
    call(sequence.handle(ok("AddPortMapping", &[])));
    let delete = call(sequence.handle(entry_to("192.168.77.10", "7777", "0")));
    assert_eq!(delete.action, "DeletePortMapping");
    // The removal fails: the error is the same.
    let err = done(sequence.handle(fault(ErrorCode::ActionFailed))).unwrap_err();
    match &err {
        Error::MappingRewritten {
            asked_port,
            internal_port,
            ..
        } => assert_eq!((*asked_port, *internal_port), (8000, 7777)),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.result(), UpnpResult::InconsistentParameters);
    assert_eq!(err.kind(), crate::ErrorKind::Refused);
    assert!(
        err.to_string()
            .contains("192.168.77.10:7777 instead of 192.168.77.10:8000")
    );
}

#[test]
fn a_refused_permanent_lease_is_tried_as_a_week_a_day_an_hour() {
    // ARRIS NVG578LX: 402 for a permanent lease, finite ones accepted.
    let mapping = MappingRequest::new(7777).mapping().unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    let first = call(sequence.handle(fault(ErrorCode::NoSuchEntryInArray)));
    assert_eq!(argument(&first, "NewLeaseDuration"), "0");
    let week = call(sequence.handle(fault(ErrorCode::InvalidArgs)));
    assert_eq!(argument(&week, "NewLeaseDuration"), "604800");
    let day = call(sequence.handle(fault(ErrorCode::ArgumentValueOutOfRange)));
    assert_eq!(argument(&day, "NewLeaseDuration"), "86400");
    call(sequence.handle(ok("AddPortMapping", &[])));
    let granted = done(sequence.handle(entry_to("192.168.77.10", "7777", "86390"))).unwrap();
    assert!(granted.lease_limited && !granted.lease_dropped);
    assert_eq!(granted.mapping.lease_duration, 86390);

    // Every lease refused with 402: not the lease then. Permanent again, no description.
    let mapping = MappingRequest::new(7777).desc("game").mapping().unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    call(sequence.handle(fault(ErrorCode::NoSuchEntryInArray)));
    for lease in ["604800", "86400", "3600"] {
        let retry = call(sequence.handle(fault(ErrorCode::InvalidArgs)));
        assert_eq!(argument(&retry, "NewLeaseDuration"), lease);
        assert_eq!(argument(&retry, "NewPortMappingDescription"), "game");
    }
    let last = call(sequence.handle(fault(ErrorCode::InvalidArgs)));
    assert_eq!(argument(&last, "NewLeaseDuration"), "0");
    assert_eq!(argument(&last, "NewPortMappingDescription"), "");
    // And then it ends: at most five adds.
    let err = done(sequence.handle(fault(ErrorCode::InvalidArgs))).unwrap_err();
    assert_eq!(err.result(), UpnpResult::InvalidArgs);

    // 725 to a permanent request (a router that means "no permanent one"): a week.
    let mapping = MappingRequest::new(7777).mapping().unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    call(sequence.handle(fault(ErrorCode::NoSuchEntryInArray)));
    let week = call(sequence.handle(fault(ErrorCode::OnlyPermanentLeasesSupported)));
    assert_eq!(argument(&week, "NewLeaseDuration"), "604800");
}

#[test]
fn a_718_for_our_own_mapping_is_a_renewal_declined_not_a_conflict() {
    // Open.NAT#14: re-adding an existing mapping answers 718.
    let mapping = MappingRequest::new(7777).mapping().unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    call(sequence.handle(entry_to("192.168.77.10", "7777", "0")));
    let read = call(sequence.handle(fault(ErrorCode::ConflictInMappingEntry)));
    assert_eq!(read.action, "GetSpecificPortMappingEntry");
    let granted = done(sequence.handle(entry_to("192.168.77.10", "7777", "0"))).unwrap();
    assert_eq!(granted.mapping.internal_port, 7777);
    // Ours on another internal port (Godot replaces it): a 718 stays a conflict.
    let mapping = MappingRequest::new(7777)
        .port_internal(8000)
        .mapping()
        .unwrap();
    let mut sequence = AddSequence::new(&mapping, our_addr(), WANIP2);
    call(sequence.start());
    call(sequence.handle(entry_to("192.168.77.10", "7777", "0")));
    let err = done(sequence.handle(fault(ErrorCode::ConflictInMappingEntry))).unwrap_err();
    assert!(err.is_conflict());
}

#[test]
fn a_walk_that_repeats_itself_stops() {
    // A gateway that ignores the index and answers the same entry every time.
    let mut list = ListSequence::new("urn:schemas-upnp-org:service:WANIPConnection:1");
    list.start();
    list_call(list.handle(generic("7000")));
    let all = list_done(list.handle(generic("7000"))).unwrap();
    assert_eq!(all.len(), 1);
}

#[test]
fn a_walk_that_never_ends_stops_at_the_cap() {
    let mut list =
        ListSequence::new("urn:schemas-upnp-org:service:WANIPConnection:1").max_entries(100);
    let mut next = list.start();
    let mut calls = 0u32;
    let all = loop {
        match next {
            Next::Call(_) => {
                calls += 1;
                next = list.handle(generic(&(1000 + calls).to_string()));
            }
            Next::Done(result) => break result.unwrap(),
        }
    };
    assert_eq!(all.len(), 100);
    assert_eq!(calls, 100);

    // Ranges give many at once: they are cut to the cap too.
    let mut list = ListSequence::new(WANIP2).max_entries(3);
    list.start();
    let all = list_done(list.handle(listing(&[1, 2, 3, 4, 5]))).unwrap();
    assert_eq!(all.len(), 3);
}

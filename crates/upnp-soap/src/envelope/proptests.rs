use proptest::prelude::*;

use super::*;
use crate::fault::{ErrorCode, SoapFault, UpnpError};

/// An XML name as UPnP uses them.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,20}"
}

fn service_type() -> impl Strategy<Value = String> {
    ("[A-Za-z][A-Za-z0-9]{0,15}", 1u8..4)
        .prop_map(|(name, v)| format!("urn:schemas-upnp-org:service:{name}:{v}"))
}

/// A value as a device could hold it: any character XML can carry (markup characters,
/// quotes and non-ASCII included), without the padding that parsing trims.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[<>&\"' a-z]{0,20}",
        any::<String>(),
        "[\t\r\na-zé✓😀]{0,20}",
    ]
    .prop_map(|s| s.chars().filter(|&c| is_xml_char(c)).collect::<String>())
    .prop_map(|s| s.trim().to_owned())
}

fn arguments() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value()), 0..10)
}

fn action_request() -> impl Strategy<Value = ActionRequest> {
    (service_type(), name(), arguments()).prop_map(|(service_type, action, arguments)| {
        ActionRequest {
            service_type,
            action,
            arguments,
        }
    })
}

fn action_response() -> impl Strategy<Value = ActionResponse> {
    (prop::option::of(service_type()), name(), arguments()).prop_map(
        |(service_type, action, arguments)| ActionResponse {
            service_type,
            action,
            arguments,
        },
    )
}

fn soap_fault() -> impl Strategy<Value = SoapFault> {
    (
        value(),
        value(),
        prop::option::of((prop::option::of(any::<u32>()), prop::option::of(value()))),
    )
        .prop_map(|(fault_code, fault_string, error)| SoapFault {
            fault_code,
            fault_string,
            upnp_error: error.map(|(code, description)| UpnpError {
                code: code.map(ErrorCode::from),
                description: description.filter(|d| !d.is_empty()),
            }),
        })
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        action_response().prop_map(Reply::Response),
        soap_fault().prop_map(Reply::Fault),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(request in action_request()) {
        let body = request.encode().unwrap();
        prop_assert_eq!(ActionRequest::parse(body.as_bytes()).unwrap(), request.clone());
        let soap_action = request.soap_action().unwrap();
        prop_assert_eq!(soap_action, format!("\"{}#{}\"", request.service_type, request.action));
    }

    #[test]
    fn replies_round_trip(reply in reply()) {
        let body = reply.encode().unwrap();
        prop_assert_eq!(Reply::parse(body.as_bytes()).unwrap(), reply);
    }

    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Reply::parse(&bytes);
        let _ = ActionRequest::parse(&bytes);
    }

    #[test]
    fn mangled_replies_parse_or_fail_cleanly(
        reply in reply(),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut body = reply.encode().unwrap().into_bytes();
        let at = cut.index(body.len());
        body[at] = byte;
        let _ = Reply::parse(&body);
        let _ = Reply::parse(&body[..at]);
    }
}

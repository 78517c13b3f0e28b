use std::net::SocketAddr;
use std::time::Duration;

use super::*;

fn gateway() -> SocketAddr {
    SocketAddr::from(([192, 168, 77, 1], 5351))
}

#[test]
fn every_error_has_one_kind_that_agrees_with_godots_result() {
    let refused = Error::Soap(upnp_soap::Error::Fault(upnp_soap::SoapFault::new(
        ErrorCode::ConflictInMappingEntry,
        "",
    )));
    let timeout = Error::Soap(upnp_soap::Error::Timeout {
        after: Duration::from_secs(1),
        stage: upnp_soap::Stage::ReadingHead,
    });
    let cases = [
        (
            Error::InvalidPort(0),
            ErrorKind::Input,
            UpnpResult::InvalidPort,
        ),
        (
            Error::NoDevices,
            ErrorKind::NoGateway,
            UpnpResult::NoDevices,
        ),
        (
            Error::Pmp(pcp_natpmp::Error::PortUnreachable(gateway())),
            ErrorKind::NoGateway,
            UpnpResult::SocketError,
        ),
        (
            refused,
            ErrorKind::Refused,
            UpnpResult::ConflictWithOtherMapping,
        ),
        (timeout, ErrorKind::Unreachable, UpnpResult::HttpError),
        (
            Error::Pmp(pcp_natpmp::Error::TimedOut(gateway())),
            ErrorKind::Unreachable,
            UpnpResult::SocketError,
        ),
        (
            Error::InvalidResponse("x"),
            ErrorKind::BadAnswer,
            UpnpResult::InvalidResponse,
        ),
        (
            Error::Misuse("x"),
            ErrorKind::Misuse,
            UpnpResult::UnknownError,
        ),
    ];
    for (error, kind, result) in cases {
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(error.result(), result, "{error}");
        assert_eq!(error.is_unreachable(), kind == ErrorKind::Unreachable);
    }
}

#[test]
fn conflicts_and_absence_are_told_apart() {
    let fault = |code| Error::Soap(upnp_soap::Error::Fault(upnp_soap::SoapFault::new(code, "")));
    assert!(fault(ErrorCode::ConflictInMappingEntry).is_conflict());
    assert!(fault(ErrorCode::SamePortValuesRequired).is_conflict());
    assert!(!fault(ErrorCode::NoSuchEntryInArray).is_conflict());
    assert!(fault(ErrorCode::NoSuchEntryInArray).is_absent());
    assert!(
        Error::PcpRefused {
            result: pcp_natpmp::PcpResult::CannotProvideExternal,
            lifetime: 30
        }
        .is_conflict()
    );
    assert!(
        Error::OtherPortGranted {
            asked: 1,
            granted: 2
        }
        .is_conflict()
    );
}

#[test]
fn a_501_that_says_the_table_is_full_is_reported_as_728() {
    use upnp_soap::{ErrorCode, SoapFault};
    let fault = |code: u32, text: &str| {
        Error::Soap(upnp_soap::Error::Fault(SoapFault::new(
            ErrorCode::from(code),
            text,
        )))
    };
    assert_eq!(
        fault(501, "Port mapping table is full").result(),
        UpnpResult::NoPortMapsAvailable
    );
    assert_eq!(
        fault(501, "Action Failed").result(),
        UpnpResult::ActionFailed
    );
    assert_eq!(
        fault(728, "NoPortMapsAvailable").result(),
        UpnpResult::NoPortMapsAvailable
    );
    // The fault itself is kept: its code and text.
    let full = fault(501, "Port mapping table is full");
    assert_eq!(
        full.fault().and_then(SoapFault::code),
        Some(ErrorCode::ActionFailed)
    );
}

//! SOAP faults and the UPnP error codes they carry.
//!
//! A device refuses an action with HTTP 500 and a SOAP `Fault` whose `detail` holds a
//! `UPnPError`: a numeric `errorCode` and an `errorDescription`. [`SoapFault`] keeps all of
//! it; [`ErrorCode`] names every code of the UPnP Device Architecture and of the
//! WANIPConnection / WANPPPConnection v1 and v2 services, and keeps any other number as
//! [`ErrorCode::Other`].

use std::fmt;

use upnp_desc::text::{MAX_SHOWN, shown};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, )*) => {
        /// A UPnP error code, as the `errorCode` of a fault carries it.
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// Any other code, kept as sent.
            Other(u32),
        }

        impl ErrorCode {
            /// The code's number.
            pub fn code(self) -> u32 {
                match self {
                    $( ErrorCode::$variant => $code, )*
                    ErrorCode::Other(code) => code,
                }
            }

            /// The name the specifications give the code (`"ConflictInMappingEntry"`), or
            /// `None` for [`ErrorCode::Other`].
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( ErrorCode::$variant => Some(stringify!($variant)), )*
                    ErrorCode::Other(_) => None,
                }
            }
        }

        impl From<u32> for ErrorCode {
            fn from(code: u32) -> ErrorCode {
                match code {
                    $( $code => ErrorCode::$variant, )*
                    other => ErrorCode::Other(other),
                }
            }
        }
    };
}

error_codes! {
    /// 401: no action by that name at this service.
    InvalidAction = 401,
    /// 402: not enough arguments, arguments in the wrong order, or of the wrong type.
    InvalidArgs = 402,
    /// 403: out of sync (UPnP Device Architecture 1.0; deprecated since).
    OutOfSync = 403,
    /// 501: the action failed for a reason the device does not say.
    ActionFailed = 501,
    /// 600: an argument value is invalid.
    ArgumentValueInvalid = 600,
    /// 601: an argument value is out of range.
    ArgumentValueOutOfRange = 601,
    /// 602: the optional action is not implemented.
    OptionalActionNotImplemented = 602,
    /// 603: the device ran out of memory.
    OutOfMemory = 603,
    /// 604: the device needs a human to intervene.
    HumanInterventionRequired = 604,
    /// 605: a string argument is too long.
    StringArgumentTooLong = 605,
    /// 606: the action requires an authorization the caller lacks.
    ActionNotAuthorized = 606,
    /// 607: the signature failed to verify (Device Protection).
    SignatureFailure = 607,
    /// 608: the signature is missing (Device Protection).
    SignatureMissing = 608,
    /// 609: the action must be encrypted.
    NotEncrypted = 609,
    /// 610: the sequence number is invalid.
    InvalidSequence = 610,
    /// 611: the control URL is invalid.
    InvalidControlUrl = 611,
    /// 612: no such session.
    NoSuchSession = 612,
    /// 703: the connection must be inactive for this action.
    InactiveConnectionStateRequired = 703,
    /// 704: setting up the connection failed.
    ConnectionSetupFailed = 704,
    /// 705: the connection is being set up.
    ConnectionSetupInProgress = 705,
    /// 706: the connection is not configured.
    ConnectionNotConfigured = 706,
    /// 707: the connection is being torn down.
    DisconnectInProgress = 707,
    /// 708: the layer-2 address is invalid.
    InvalidLayer2Address = 708,
    /// 709: Internet access is disabled.
    InternetAccessDisabled = 709,
    /// 710: the connection type is invalid.
    InvalidConnectionType = 710,
    /// 711: the connection is already terminated.
    ConnectionAlreadyTerminated = 711,
    /// 713: GetGenericPortMappingEntry's index is past the last entry.
    SpecifiedArrayIndexInvalid = 713,
    /// 714: no mapping matches the given key (GetSpecificPortMappingEntry, DeletePortMapping).
    NoSuchEntryInArray = 714,
    /// 715: the remote host cannot be a wildcard.
    WildCardNotPermittedInSrcIp = 715,
    /// 716: the external port cannot be a wildcard.
    WildCardNotPermittedInExtPort = 716,
    /// 718: the mapping conflicts with one for another client.
    ConflictInMappingEntry = 718,
    /// 719: not permitted while the modem configures itself.
    ActionDisallowedWhenAutoConfigEnabled = 719,
    /// 724: internal and external ports must be the same.
    SamePortValuesRequired = 724,
    /// 725: only permanent leases (duration 0) are supported.
    OnlyPermanentLeasesSupported = 725,
    /// 726: the remote host must be the wildcard (empty).
    RemoteHostOnlySupportsWildcard = 726,
    /// 727: the external port must be the wildcard (0).
    ExternalPortOnlySupportsWildcard = 727,
    /// 728: no port maps available (IGDv2).
    NoPortMapsAvailable = 728,
    /// 729: conflicts with another mechanism (IGDv2).
    ConflictWithOtherMechanisms = 729,
    /// 730: no mapping in the range (DeletePortMappingRange, GetListOfPortMappings; IGDv2).
    PortMappingNotFound = 730,
    /// 731: the value is read-only (IGDv2).
    ReadOnly = 731,
    /// 732: the internal port cannot be a wildcard (IGDv2).
    WildCardNotPermittedInIntPort = 732,
    /// 733: the parameters are inconsistent, e.g. a range's end before its start (IGDv2).
    InconsistentParameters = 733,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} {name}", self.code()),
            None => write!(f, "{}", self.code()),
        }
    }
}

/// The `UPnPError` detail of a fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpnpError {
    /// `errorCode`; `None` when the device sent none, or something that is not a number
    /// (the description is kept all the same).
    pub code: Option<ErrorCode>,
    /// `errorDescription`, the device's own text.
    pub description: Option<String>,
}

/// A SOAP fault: the device refused the action.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SoapFault {
    /// `faultcode`, e.g. `s:Client` (empty when absent).
    pub fault_code: String,
    /// `faultstring`, normally `UPnPError` (empty when absent).
    pub fault_string: String,
    /// The `UPnPError` detail, when present.
    pub upnp_error: Option<UpnpError>,
}

impl fmt::Display for SoapFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every string here is the device's: shown escaped and bounded.
        let Some(error) = &self.upnp_error else {
            return write!(
                f,
                "SOAP fault {} {}",
                shown(&self.fault_code, MAX_SHOWN),
                shown(&self.fault_string, MAX_SHOWN)
            );
        };
        match error.code {
            Some(code) => write!(f, "UPnP error {code}")?,
            None => f.write_str("UPnP error (no readable code)")?,
        }
        match &error.description {
            Some(description) => write!(f, ": {}", shown(description, MAX_SHOWN)),
            None => Ok(()),
        }
    }
}

impl SoapFault {
    /// A fault as a UPnP device sends it: `s:Client`, `UPnPError`, and this code.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> SoapFault {
        let description = description.into();
        SoapFault {
            fault_code: "s:Client".to_owned(),
            fault_string: "UPnPError".to_owned(),
            upnp_error: Some(UpnpError {
                code: Some(code),
                description: (!description.is_empty()).then_some(description),
            }),
        }
    }

    /// The UPnP error code, when the fault carries one.
    pub fn code(&self) -> Option<ErrorCode> {
        self.upnp_error.as_ref().and_then(|e| e.code)
    }
}

use super::*;
use crate::fault::ErrorCode;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const WANIP2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

#[test]
fn request_is_compact_soap_as_routers_expect() {
    let request = ActionRequest::new(WANIP2, "GetSpecificPortMappingEntry")
        .argument("NewRemoteHost", "")
        .argument("NewExternalPort", "7777")
        .argument("NewProtocol", "UDP");
    assert_eq!(
        request.soap_action().unwrap(),
        "\"urn:schemas-upnp-org:service:WANIPConnection:2#GetSpecificPortMappingEntry\""
    );
    assert_eq!(
        request.encode().unwrap(),
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:GetSpecificPortMappingEntry xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:2\">\
         <NewRemoteHost></NewRemoteHost><NewExternalPort>7777</NewExternalPort>\
         <NewProtocol>UDP</NewProtocol></u:GetSpecificPortMappingEntry></s:Body></s:Envelope>\r\n"
    );
}

#[test]
fn request_values_are_escaped_and_read_back() {
    let request = ActionRequest::new(WANIP2, "AddPortMapping")
        .argument("NewPortMappingDescription", "a <b> & \"c\" 'd' é\r\n✓");
    let body = request.encode().unwrap();
    assert!(body.contains("a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; é&#13;\n✓"));
    assert_eq!(ActionRequest::parse(body.as_bytes()).unwrap(), request);
}

#[test]
fn unencodable_requests_are_refused() {
    let bad_value = ActionRequest::new(WANIP2, "A").argument("N", "nul \u{0} inside");
    assert!(matches!(bad_value.encode(), Err(Error::Unencodable { name }) if name == "N"));
    for (request, what) in [
        (ActionRequest::new("", "A"), "service type"),
        (ActionRequest::new("urn:x\"y", "A"), "service type"),
        (ActionRequest::new("urn:x#y", "A"), "service type"),
        (ActionRequest::new(WANIP2, "Add Port"), "action name"),
        (ActionRequest::new(WANIP2, "1st"), "action name"),
        (
            ActionRequest::new(WANIP2, "A").argument("<x>", "1"),
            "argument name",
        ),
        (
            ActionRequest::new(WANIP2, "A").argument("", "1"),
            "argument name",
        ),
    ] {
        let Err(Error::InvalidName { what: found, .. }) = request.encode() else {
            panic!("{request:?} encoded");
        };
        assert_eq!(found, what);
    }
    let mut many = ActionRequest::new(WANIP2, "A");
    many.arguments = vec![("N".into(), "v".into()); MAX_ARGUMENTS + 1];
    assert!(matches!(many.encode(), Err(Error::TooManyArguments { .. })));
}

#[test]
fn miniupnpd_responses_parse() {
    let response = ActionResponse::parse(
        &fixture("miniupnpd-2.3.1-v2-GetExternalIPAddress.xml"),
        "GetExternalIPAddress",
    )
    .unwrap();
    assert_eq!(response.service_type.as_deref(), Some(WANIP2));
    assert_eq!(response.action, "GetExternalIPAddress");
    assert_eq!(response.get("NewExternalIPAddress"), Some("11.0.0.7"));

    let entry = ActionResponse::parse(
        &fixture("miniupnpd-2.3.1-v2-GetGenericPortMappingEntry.xml"),
        "GetGenericPortMappingEntry",
    )
    .unwrap();
    let names: Vec<&str> = entry.arguments.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "NewRemoteHost",
            "NewExternalPort",
            "NewProtocol",
            "NewInternalPort",
            "NewInternalClient",
            "NewEnabled",
            "NewPortMappingDescription",
            "NewLeaseDuration"
        ]
    );
    assert_eq!(entry.get("NewRemoteHost"), Some(""));
    assert_eq!(
        entry.get("NewPortMappingDescription"),
        Some("igd-rs & lease")
    );

    // Self-closing and empty response elements have no arguments.
    for (name, action) in [
        ("miniupnpd-2.3.1-v2-AddPortMapping.xml", "AddPortMapping"),
        (
            "miniupnpd-2.3.1-v2-DeletePortMapping.xml",
            "DeletePortMapping",
        ),
    ] {
        assert!(
            ActionResponse::parse(&fixture(name), action)
                .unwrap()
                .arguments
                .is_empty()
        );
    }
}

#[test]
fn miniupnpd_faults_parse_to_their_codes() {
    for (name, code, description) in [
        (
            "miniupnpd-2.3.1-v2-fault-401-InvalidAction.xml",
            ErrorCode::InvalidAction,
            "Invalid Action",
        ),
        (
            "miniupnpd-2.3.1-v2-fault-402-AddPortMapping-missing-args.xml",
            ErrorCode::InvalidArgs,
            "Invalid Args",
        ),
        (
            "miniupnpd-2.3.1-v2-fault-606-AddPortMapping-outside-allow.xml",
            ErrorCode::ActionNotAuthorized,
            "Action not authorized",
        ),
        (
            "miniupnpd-2.3.1-v2-fault-713-GetGenericPortMappingEntry-past-end.xml",
            ErrorCode::SpecifiedArrayIndexInvalid,
            "SpecifiedArrayIndexInvalid",
        ),
        (
            "miniupnpd-2.3.1-v2-fault-714-GetSpecificPortMappingEntry.xml",
            ErrorCode::NoSuchEntryInArray,
            "NoSuchEntryInArray",
        ),
        (
            "miniupnpd-2.3.1-v2-fault-718-AddPortMapping-other-client.xml",
            ErrorCode::ConflictInMappingEntry,
            "ConflictInMappingEntry",
        ),
        (
            "miniupnpd-2.3.1-v2-fault-730-DeletePortMappingRange.xml",
            ErrorCode::PortMappingNotFound,
            "PortMappingNotFound",
        ),
        (
            "miniupnpd-2.3.1-v2-fault-733-DeletePortMappingRange-inverted.xml",
            ErrorCode::InconsistentParameters,
            "InconsistentParameter",
        ),
        (
            "miniupnpd-2.3.1-v1-fault-402-AddAnyPortMapping-no-args.xml",
            ErrorCode::InvalidArgs,
            "Invalid Args",
        ),
    ] {
        let fault = SoapFault::parse(&fixture(name)).unwrap();
        assert_eq!(fault.code(), Some(code), "{name}");
        assert_eq!(fault.fault_code, "s:Client");
        assert_eq!(fault.fault_string, "UPnPError");
        let error = fault.upnp_error.as_ref().unwrap();
        assert_eq!(error.description.as_deref(), Some(description), "{name}");
        // Asking for a response gives the fault as an error.
        match ActionResponse::parse(&fixture(name), "AddPortMapping") {
            Err(Error::Fault(f)) => assert_eq!(f, fault),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn other_routers_shapes_parse() {
    // A default namespace and no prefixes, a declaration with encoding, padding, comments.
    let default_ns = br#"<?xml version="1.0" encoding="utf-8"?>
<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">
  <Body>
    <!-- comment -->
    <GetExternalIPAddressResponse xmlns="urn:schemas-upnp-org:service:WANPPPConnection:1">
      <NewExternalIPAddress>
        203.0.113.9
      </NewExternalIPAddress>
    </GetExternalIPAddressResponse>
  </Body>
</Envelope>"#;
    let response = ActionResponse::parse(default_ns, "GetExternalIPAddress").unwrap();
    assert_eq!(response.get("NewExternalIPAddress"), Some("203.0.113.9"));
    assert_eq!(
        response.service_type.as_deref(),
        Some("urn:schemas-upnp-org:service:WANPPPConnection:1")
    );

    // Other prefixes (SOAP-ENV, m), a Header, an extra element after the response, argument
    // elements with a prefix of their own, no XML declaration.
    let prefixed = br#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><SOAP-ENV:Header/><SOAP-ENV:Body><m:GetStatusInfoResponse xmlns:m="urn:schemas-upnp-org:service:WANIPConnection:1"><m:NewConnectionStatus>Connected</m:NewConnectionStatus><NewLastConnectionError>ERROR_NONE</NewLastConnectionError><NewUptime> 42 </NewUptime></m:GetStatusInfoResponse><Unknown/></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
    let response = ActionResponse::parse(prefixed, "GetStatusInfo").unwrap();
    assert_eq!(response.get("NewConnectionStatus"), Some("Connected"));
    assert_eq!(response.get("NewUptime"), Some("42"));

    // A fault with HTTP-style 'SOAP-ENV:Client' and a UPnPError with whitespace.
    let fault = br#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>UPnPError</faultstring><detail><u:UPnPError xmlns:u="urn:schemas-upnp-org:control-1-0"><u:errorCode> 725 </u:errorCode><u:errorDescription>OnlyPermanentLeasesSupported</u:errorDescription></u:UPnPError></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
    let fault = SoapFault::parse(fault).unwrap();
    assert_eq!(fault.code(), Some(ErrorCode::OnlyPermanentLeasesSupported));
    assert_eq!(
        fault.to_string(),
        "UPnP error 725 OnlyPermanentLeasesSupported: OnlyPermanentLeasesSupported"
    );
}

#[test]
fn unknown_and_odd_fault_codes_are_kept() {
    let odd = |code: &str| {
        SoapFault::parse(
            format!(
                "<s:Envelope xmlns:s=\"{ENVELOPE_NS}\"><s:Body><s:Fault><faultcode>s:Server</faultcode>\
                 <faultstring>Oops</faultstring><detail><UPnPError><errorCode>{code}</errorCode>\
                 <errorDescription>vendor text</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"
            )
            .as_bytes(),
        )
        .unwrap()
    };
    let vendor = odd("899");
    assert_eq!(vendor.code(), Some(ErrorCode::Other(899)));
    assert_eq!(vendor.code().unwrap().code(), 899);
    assert_eq!(
        vendor.upnp_error.unwrap().description.as_deref(),
        Some("vendor text")
    );
    // A code that is not a number: no code, but the router's description is kept.
    let garbage = odd("seven");
    assert_eq!(garbage.code(), None);
    assert_eq!(garbage.fault_string, "Oops");
    assert_eq!(
        garbage.upnp_error.as_ref().unwrap().description.as_deref(),
        Some("vendor text")
    );
    assert_eq!(
        garbage.to_string(),
        "UPnP error (no readable code): vendor text"
    );
    let again = SoapFault::parse(garbage.encode().unwrap().as_bytes()).unwrap();
    assert_eq!(again, garbage);
}

#[test]
fn a_fault_whose_text_is_not_utf8_keeps_its_code_and_text() {
    // TP-Link Archer C8: a Latin-1 errorDescription, no encoding declared.
    let body = [
        format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"{ENVELOPE_NS}\"><s:Body><s:Fault>\
             <faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
             <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>718</errorCode>\
             <errorDescription>Conflit d"
        )
        .into_bytes(),
        b"\xe9j\xe0 utilis\xe9".to_vec(),
        b"</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>".to_vec(),
    ]
    .concat();
    let fault = match Reply::parse(&body).unwrap() {
        Reply::Fault(fault) => fault,
        other => panic!("{other:?}"),
    };
    assert_eq!(fault.code(), Some(ErrorCode::ConflictInMappingEntry));
    let text = fault.upnp_error.unwrap().description.unwrap();
    assert!(
        text.starts_with("Conflit d\u{fffd}j\u{fffd} utilis"),
        "{text}"
    );
}

#[test]
fn every_named_code_round_trips_through_its_number() {
    for n in 0..2000u32 {
        let code = ErrorCode::from(n);
        assert_eq!(code.code(), n);
        if let Some(name) = code.name() {
            assert!(!name.is_empty());
            assert_eq!(code.to_string(), format!("{n} {name}"));
        }
    }
    for (n, named) in [
        (401, ErrorCode::InvalidAction),
        (402, ErrorCode::InvalidArgs),
        (403, ErrorCode::OutOfSync),
        (501, ErrorCode::ActionFailed),
        (600, ErrorCode::ArgumentValueInvalid),
        (606, ErrorCode::ActionNotAuthorized),
        (713, ErrorCode::SpecifiedArrayIndexInvalid),
        (714, ErrorCode::NoSuchEntryInArray),
        (715, ErrorCode::WildCardNotPermittedInSrcIp),
        (716, ErrorCode::WildCardNotPermittedInExtPort),
        (718, ErrorCode::ConflictInMappingEntry),
        (724, ErrorCode::SamePortValuesRequired),
        (725, ErrorCode::OnlyPermanentLeasesSupported),
        (726, ErrorCode::RemoteHostOnlySupportsWildcard),
        (727, ErrorCode::ExternalPortOnlySupportsWildcard),
        (728, ErrorCode::NoPortMapsAvailable),
        (729, ErrorCode::ConflictWithOtherMechanisms),
        (730, ErrorCode::PortMappingNotFound),
        (731, ErrorCode::ReadOnly),
        (732, ErrorCode::WildCardNotPermittedInIntPort),
        (733, ErrorCode::InconsistentParameters),
    ] {
        assert_eq!(ErrorCode::from(n), named);
    }
}

#[test]
fn wrong_documents_are_typed_errors() {
    let not_envelope = b"<root><device/></root>";
    assert!(matches!(
        Reply::parse(not_envelope),
        Err(Error::NotEnvelope { found }) if found == "root"
    ));
    let no_body = format!("<s:Envelope xmlns:s=\"{ENVELOPE_NS}\"/>");
    assert!(matches!(
        Reply::parse(no_body.as_bytes()),
        Err(Error::NoBody)
    ));
    let empty_body =
        format!("<s:Envelope xmlns:s=\"{ENVELOPE_NS}\"><s:Body> </s:Body></s:Envelope>");
    assert!(matches!(
        Reply::parse(empty_body.as_bytes()),
        Err(Error::NoBody)
    ));
    let not_response =
        format!("<s:Envelope xmlns:s=\"{ENVELOPE_NS}\"><s:Body><Hello/></s:Body></s:Envelope>");
    assert!(matches!(
        Reply::parse(not_response.as_bytes()),
        Err(Error::UnexpectedElement { .. })
    ));
    let other_action = fixture("miniupnpd-2.3.1-v2-GetStatusInfo.xml");
    assert!(matches!(
        ActionResponse::parse(&other_action, "GetExternalIPAddress"),
        Err(Error::UnexpectedElement { expected, found })
            if expected == "GetExternalIPAddressResponse" && found == "GetStatusInfoResponse"
    ));
    let truncated = &fixture("miniupnpd-2.3.1-v2-GetStatusInfo.xml")[..200];
    assert!(matches!(
        Reply::parse(truncated),
        Err(Error::Xml(upnp_desc::Error::Malformed(_)))
    ));
    let doctype = b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><s:Envelope/>";
    assert!(matches!(
        Reply::parse(doctype),
        Err(Error::Xml(upnp_desc::Error::Doctype))
    ));
    let huge = vec![b' '; 64 * 1024 + 1];
    assert!(matches!(
        Reply::parse(&huge),
        Err(Error::Xml(upnp_desc::Error::TooLarge { .. }))
    ));
    let mut many =
        format!("<s:Envelope xmlns:s=\"{ENVELOPE_NS}\"><s:Body><u:XResponse xmlns:u=\"urn:x\">");
    for i in 0..=MAX_ARGUMENTS {
        many.push_str(&format!("<A{i}>1</A{i}>"));
    }
    many.push_str("</u:XResponse></s:Body></s:Envelope>");
    assert!(matches!(
        Reply::parse(many.as_bytes()),
        Err(Error::TooManyArguments { .. })
    ));
}

#[test]
fn an_unescaped_listing_is_kept_as_markup() {
    let body = format!(
        "<s:Envelope xmlns:s=\"{ENVELOPE_NS}\"><s:Body><u:GetListOfPortMappingsResponse xmlns:u=\"{WANIP2}\">\
         <NewPortListing><p:PortMappingList xmlns:p=\"urn:schemas-upnp-org:gw:WANIPConnection\">\
         <p:PortMappingEntry><p:NewExternalPort>1</p:NewExternalPort></p:PortMappingEntry>\
         </p:PortMappingList></NewPortListing></u:GetListOfPortMappingsResponse></s:Body></s:Envelope>"
    );
    let response = ActionResponse::parse(body.as_bytes(), "GetListOfPortMappings").unwrap();
    let listing = response.get("NewPortListing").unwrap();
    assert!(listing.starts_with("<p:PortMappingList"), "{listing}");
    assert!(listing.contains("<p:NewExternalPort>1</p:NewExternalPort>"));
}

#[test]
fn replies_re_encode_to_the_same_values() {
    for name in [
        "miniupnpd-2.3.1-v2-GetGenericPortMappingEntry.xml",
        "miniupnpd-2.3.1-v2-GetListOfPortMappings.xml",
        "miniupnpd-2.3.1-v2-fault-718-AddPortMapping-other-client.xml",
    ] {
        let reply = Reply::parse(&fixture(name)).unwrap();
        let again = Reply::parse(reply.encode().unwrap().as_bytes()).unwrap();
        assert_eq!(again, reply, "{name}");
    }
}

//! The one error type of this crate.

/// Everything that can go wrong reading a description.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The document is larger than the cap for its kind.
    #[error("XML document of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Size of the document.
        size: usize,
        /// The cap in force.
        limit: usize,
    },
    /// Nothing but white space (or a BOM, or NULs).
    #[error("empty XML document")]
    Empty,
    /// A `<!DOCTYPE` or `<!ENTITY` declaration: UPnP never needs one, and entity expansion is how
    /// a small document becomes a huge one.
    #[error("XML document declares a DOCTYPE or entity, which UPnP never needs")]
    Doctype,
    /// Elements nested deeper than the limit.
    #[error("XML elements nested deeper than {limit} levels")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// More elements than the limit.
    #[error("XML document has more than {limit} elements")]
    TooManyElements {
        /// The limit in force.
        limit: usize,
    },
    /// The XML parser refused the document (malformed or truncated).
    #[error("malformed XML: {0}")]
    Malformed(#[from] xmltree::ParseError),
    /// The root element is not the one expected.
    #[error(
        "expected a <{expected}> root element, found <{}>",
        crate::text::shown(found, 64)
    )]
    UnexpectedRoot {
        /// The expected local name.
        expected: &'static str,
        /// The local name found.
        found: String,
    },
    /// A required element is missing or empty; `path` names it from the root.
    #[error("missing required element {path}")]
    Missing {
        /// Where, e.g. `device/serviceList/service/controlURL`.
        path: String,
    },
    /// A value is longer than the cap for values.
    #[error("value of {path} is longer than {limit} bytes")]
    ValueTooLong {
        /// Which element.
        path: String,
        /// The cap in force.
        limit: usize,
    },
    /// More devices or services than the caps allow.
    #[error("description has more than {limit} {what}")]
    TooMany {
        /// `"devices"`, `"services"`, `"actions"`, ...
        what: &'static str,
        /// The cap in force.
        limit: usize,
    },
    /// A URL that does not parse, even relative to its base.
    #[error("invalid URL {url:?}: {source}")]
    InvalidUrl {
        /// The URL as written.
        url: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// A URL whose scheme is not `http` (UPnP control is plain HTTP).
    #[error("URL {0} is not http")]
    NotHttp(String),
    /// No InternetGatewayDevice in the description.
    #[error("the description has no InternetGatewayDevice")]
    NoGateway,
    /// An InternetGatewayDevice without a WANIPConnection or WANPPPConnection service.
    #[error("the InternetGatewayDevice has no WAN connection service")]
    NoConnectionService,
}

#![no_main]
//! HTTP responses as a router sends them, in pieces: any bytes decode or fail cleanly, the
//! same way however they are split; what decodes re-encodes (by length and chunked) to the
//! same response.

use libfuzzer_sys::fuzz_target;
use upnp_soap::http::{Response, ResponseDecoder};

fn decode(pieces: impl Iterator<Item = Vec<u8>>) -> Result<Response, String> {
    let mut decoder = ResponseDecoder::new(64 * 1024);
    for piece in pieces {
        if decoder.push(&piece).map_err(|e| e.to_string())? {
            break;
        }
    }
    decoder.finish().map_err(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the piece size the bytes arrive in.
    let Some((&split, raw)) = data.split_first() else { return };
    let size = usize::from(split % 64) + 1;
    let whole = decode(std::iter::once(raw.to_vec()));
    let pieces = decode(raw.chunks(size).map(<[u8]>::to_vec));
    assert_eq!(whole, pieces, "the split changed the outcome");
    if let Ok(response) = whole {
        let again = decode(std::iter::once(response.encode().to_vec())).expect("our encoding decodes");
        assert_eq!(again, response);
        let chunked = decode(std::iter::once(response.encode_chunked(size).to_vec()));
        assert_eq!(chunked.as_ref(), Ok(&response));
    }
});

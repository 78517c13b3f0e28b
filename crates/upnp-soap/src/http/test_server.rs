//! A one-shot HTTP server on loopback that answers with canned bytes, and the hostile
//! scenarios both drivers must survive.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::{HEAD_LIMIT, Response};
use crate::error::{Error, Framing, Stage};

/// What the server does with its one connection.
#[derive(Clone, Debug)]
pub(crate) enum Script {
    /// Read the request, write these bytes, close.
    Answer(Vec<u8>),
    /// Read the request, write these bytes, then keep the connection open this long.
    AnswerAndHold(Vec<u8>, Duration),
    /// Read the request, then write these bytes one at a time, one every interval.
    Trickle(Vec<u8>, Duration),
    /// Read the request and say nothing, for this long.
    Silent(Duration),
}

/// Serve one connection; returns the URL of `/ctl` and a receiver for the raw request.
pub(crate) fn serve(script: Script) -> (url::Url, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = url::Url::parse(&format!("http://{}/ctl", listener.local_addr().unwrap())).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let request = read_request(&mut stream);
        let _ = tx.send(request);
        match script {
            Script::Answer(bytes) => {
                let _ = stream.write_all(&bytes);
            }
            Script::AnswerAndHold(bytes, hold) => {
                let _ = stream.write_all(&bytes);
                thread::sleep(hold);
            }
            Script::Trickle(bytes, interval) => {
                for byte in bytes {
                    if stream.write_all(&[byte]).is_err() {
                        return;
                    }
                    thread::sleep(interval);
                }
            }
            Script::Silent(hold) => thread::sleep(hold),
        }
    });
    (url, rx)
}

fn read_request(stream: &mut std::net::TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return data;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// An HTTP/1.1 answer with Content-Length.
pub(crate) fn answer(status: &str, body: &[u8]) -> Vec<u8> {
    let (code, reason) = status.split_once(' ').unwrap();
    let mut response = Response::new(code.parse().unwrap(), "", body.to_vec())
        .with_header("Content-Type", b"text/xml; charset=\"utf-8\"")
        .with_header("Connection", b"close");
    // A status given with extra header lines ("302 Found\r\nLocation: ...").
    let mut lines = reason.split("\r\n");
    response.reason = lines.next().unwrap().to_owned();
    for line in lines {
        let (name, value) = line.split_once(": ").unwrap();
        response = response.with_header(name, value.as_bytes());
    }
    response.encode().to_vec()
}

/// An HTTP/1.1 200 answer in chunks of `size` bytes.
pub(crate) fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    Response::new(200, "OK", body.to_vec())
        .with_header("Content-Type", b"text/xml")
        .encode_chunked(size)
        .to_vec()
}

/// An HTTP/1.0 answer whose body ends when the connection closes.
pub(crate) fn close_delimited(body: &[u8]) -> Vec<u8> {
    let mut out = b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n".to_vec();
    out.extend_from_slice(body);
    out
}

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The timeout the scenarios' clients use.
pub(crate) const TIMEOUT: Duration = Duration::from_millis(1500);

/// One hostile or quirky server and what the exchange must make of it.
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) script: Script,
    /// The body limit of the exchange.
    pub(crate) limit: usize,
    pub(crate) expect: fn(&Result<Response, Error>) -> bool,
}

fn ok_body(r: &Result<Response, Error>, body: &[u8]) -> bool {
    matches!(r, Ok(response) if response.status == 200 && response.body == body)
}

const BODY: &[u8] = b"<hello>world</hello>";

/// What every driver must do with each kind of server (the exchange's raw response).
pub(crate) fn scenarios() -> Vec<Scenario> {
    let hold = Duration::from_secs(4);
    let framed = |head: &str| {
        let mut raw = head.as_bytes().to_vec();
        raw.extend_from_slice(BODY);
        raw
    };
    vec![
        Scenario {
            name: "Content-Length",
            script: Script::Answer(answer("200 OK", BODY)),
            limit: 1024,
            expect: |r| ok_body(r, BODY),
        },
        Scenario {
            name: "Content-Length shorter than the body: the rest is ignored",
            script: Script::AnswerAndHold(framed("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"), hold),
            limit: 1024,
            expect: |r| ok_body(r, b"<hello>"),
        },
        Scenario {
            name: "Content-Length longer than the body, then close: truncated",
            script: Script::Answer(framed("HTTP/1.1 200 OK\r\nContent-Length: 97\r\n\r\n")),
            limit: 1024,
            expect: |r| {
                matches!(r, Err(Error::Truncated { stage: Stage::ReadingBody { received: 20, expected: Some(97) } }))
            },
        },
        Scenario {
            name: "Content-Length longer than the body, held open: timeout in the body",
            script: Script::AnswerAndHold(framed("HTTP/1.1 200 OK\r\nContent-Length: 97\r\n\r\n"), hold),
            limit: 1024,
            expect: |r| {
                matches!(r, Err(Error::Timeout { stage: Stage::ReadingBody { received: 20, expected: Some(97) }, .. }))
            },
        },
        Scenario {
            name: "chunked in 1-byte chunks",
            script: Script::Answer(chunked(BODY, 1)),
            limit: 1024,
            expect: |r| ok_body(r, BODY),
        },
        Scenario {
            name: "close-delimited (HTTP/1.0)",
            script: Script::Answer(close_delimited(BODY)),
            limit: 1024,
            expect: |r| ok_body(r, BODY),
        },
        Scenario {
            name: "a bad chunk size",
            script: Script::AnswerAndHold(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Framing(Framing::InvalidChunkSize))),
        },
        Scenario {
            name: "a huge chunk size: refused before its data",
            script: Script::AnswerAndHold(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\nhello".to_vec(), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::BodyTooLarge { limit: 1024 })),
        },
        Scenario {
            name: "an endless chunk size",
            script: Script::AnswerAndHold(
                [&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..], &[b'0'; 4096]].concat(),
                hold,
            ),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Framing(Framing::InvalidChunkSize))),
        },
        Scenario {
            name: "endless chunk extensions",
            script: Script::AnswerAndHold(
                [&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;"[..], &[b'x'; 4096]].concat(),
                hold,
            ),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Framing(Framing::ChunkLineTooLong(_)))),
        },
        Scenario {
            name: "endless chunks: the body cap ends them",
            script: Script::AnswerAndHold(
                [&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..], &b"1\r\nx\r\n".repeat(2000)].concat(),
                hold,
            ),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::BodyTooLarge { limit: 1024 })),
        },
        Scenario {
            name: "Transfer-Encoding and Content-Length together",
            script: Script::AnswerAndHold(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Framing(Framing::LengthWithTransferEncoding))),
        },
        Scenario {
            name: "two different Content-Lengths",
            script: Script::AnswerAndHold(framed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 20\r\n\r\n"), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Framing(Framing::ConflictingContentLength))),
        },
        Scenario {
            name: "a body over the limit by Content-Length: refused before reading",
            script: Script::AnswerAndHold(b"HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n".to_vec(), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::BodyTooLarge { limit: 1024 })),
        },
        Scenario {
            name: "a body over the limit, close-delimited",
            script: Script::AnswerAndHold(close_delimited(&[b' '; 1025]), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::BodyTooLarge { limit: 1024 })),
        },
        Scenario {
            name: "a body trickled past the deadline",
            script: Script::Trickle(answer("200 OK", &[b' '; 400]), Duration::from_millis(5)),
            limit: 1024,
            expect: |r| {
                matches!(r, Err(Error::Timeout { after: TIMEOUT, stage: Stage::ReadingBody { expected: Some(400), .. } }))
            },
        },
        Scenario {
            name: "a head trickled past the deadline",
            script: Script::Trickle(b"HTTP/1.1 200 OK\r\n".iter().chain(&b"X-A: b\r\n".repeat(100)).copied().collect(), Duration::from_millis(20)),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Timeout { stage: Stage::ReadingHead, .. })),
        },
        Scenario {
            name: "accepts and never answers",
            script: Script::Silent(hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Timeout { stage: Stage::ReadingHead, .. })),
        },
        Scenario {
            name: "closes without answering",
            script: Script::Answer(Vec::new()),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Truncated { stage: Stage::ReadingHead })),
        },
        Scenario {
            name: "headers without end",
            script: Script::AnswerAndHold(
                b"HTTP/1.1 200 OK\r\n".iter().chain(&b"X-Padding: aaaaaaaaaaaaaaaa\r\n".repeat(HEAD_LIMIT / 16)).copied().collect(),
                hold,
            ),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::HeadTooLarge { limit: HEAD_LIMIT })),
        },
        Scenario {
            name: "interim 100 Continue responses before the answer",
            script: Script::Answer([&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"[..], &answer("200 OK", BODY)].concat()),
            limit: 1024,
            expect: |r| ok_body(r, BODY),
        },
        Scenario {
            name: "an endless run of interim responses",
            script: Script::AnswerAndHold(b"HTTP/1.1 100 Continue\r\n\r\n".repeat(100), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Framing(Framing::TooManyInterimResponses(_)))),
        },
        Scenario {
            name: "a protocol switch nobody asked for",
            script: Script::AnswerAndHold(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n".to_vec(), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Framing(Framing::UnexpectedUpgrade))),
        },
        Scenario {
            name: "a redirect is an answer, never followed",
            script: Script::Answer(answer("302 Found\r\nLocation: http://127.0.0.1:9/elsewhere", b"")),
            limit: 1024,
            expect: |r| matches!(r, Ok(response) if response.status == 302),
        },
        Scenario {
            name: "not HTTP at all",
            script: Script::AnswerAndHold(b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec(), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Framing(Framing::MalformedHead(_)))),
        },
        Scenario {
            name: "gzip transfer coding",
            script: Script::AnswerAndHold(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(), hold),
            limit: 1024,
            expect: |r| matches!(r, Err(Error::Framing(Framing::UnsupportedTransferCoding(_)))),
        },
    ]
}

//! The other side of a cold start, on one loopback port: Lambda's Runtime API and the AWS
//! services the functions call, in their real wire formats, over plain HTTP/1.1.
//!
//! - Runtime API: `GET /2018-06-01/runtime/invocation/next` hands out the run's event: once for a
//!   cold start, or 1 + K times (the same event, a new request id each) when the run also times K
//!   warm invocations; the `next` after the last is held open until the harness kills the process
//!   (as Lambda freezes it). `POST .../invocation/{id}/response`, `.../{id}/error` and
//!   `/runtime/init/error` answer an invocation.
//! - HealthLake, Step Functions and DynamoDB: AWS JSON 1.0, `POST /` dispatched on
//!   `X-Amz-Target`; EventBridge's PutEvents likewise (AWS JSON 1.1).
//! - S3 (REST XML, path-style on a loopback endpoint): ListObjectsV2 answers one page of an
//!   export folder's files, PutObject an ETag.
//! - SNS: the AWS Query protocol, a form `POST /` dispatched on its `Action`, answered in XML.
//!
//! Every request is timestamped when its request line arrives and reported to the harness.
//! A fresh fake serves each run, on its own port, with worker threads started before the exec.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub const DATASTORE_ID: &str = "0123456789abcdef0123456789abcdef";
pub const JOB_ID: &str = "fedcba9876543210fedcba9876543210";
const RUNTIME: &str = "/2018-06-01/runtime";

/// What one run hands out, and where its records go.
struct Run {
    id: u64,
    event: Vec<u8>,
    /// The JobStatus DescribeFHIRExportJob answers.
    job_status: &'static str,
    /// How many times `next` hands out the event: 1 (a cold start), or 1 + the warm invocations.
    invocations: usize,
    /// How many times `next` already handed it out.
    served: AtomicUsize,
    records: Sender<Record>,
}

/// What the function did, and when.
pub enum Seen {
    /// `GET .../invocation/next`.
    Next,
    /// The event of warm invocation `n` (1, 2, ...; the cold one, 0, is not recorded) was handed
    /// out: the instant is taken just before the `next` response is written.
    Handed(usize),
    /// The invocation's response (`ok`) or error, with the body and the path (which names the
    /// invocation's request id).
    Answer {
        ok: bool,
        body: String,
        path: String,
    },
    /// An AWS call, named `HealthLake.DescribeFHIRExportJob`, `SNS.Publish`, ...
    Call(String),
}

pub struct Record {
    pub run: u64,
    pub at: Instant,
    pub seen: Seen,
}

impl std::fmt::Debug for Seen {
    /// Short, for the timeline: `next`, `response`, `error`, or the call's name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Next => f.write_str("next"),
            Seen::Handed(n) => write!(f, "event {n}"),
            Seen::Answer { ok: true, .. } => f.write_str("response"),
            Seen::Answer { ok: false, .. } => f.write_str("error"),
            Seen::Call(name) => f.write_str(name),
        }
    }
}

struct Request {
    at: Instant,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The fake for one run. Each run gets its own listener, so a request that a killed process
/// left in flight can never be taken for the next run's.
pub struct Fake {
    port: u16,
    listener: Arc<TcpListener>,
}

/// Threads waiting in `accept` before the function starts. A thread created while the function
/// runs would be queued behind the busy ones (a new thread starts at the back of the scheduler's
/// queue: about 3 ms on a busy 2-core machine); a sleeping one is woken at once. Enough for
/// every connection a function holds at once (runtime API + one per AWS client).
const WORKERS: usize = 12;

#[derive(Clone)]
struct Server {
    run: Arc<Run>,
}

impl Fake {
    /// Listens on 127.0.0.1 (a free port); each connection is served by one of the workers.
    pub fn start(
        id: u64,
        event: Vec<u8>,
        job_status: &'static str,
        invocations: usize,
        records: Sender<Record>,
    ) -> io::Result<Fake> {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0")?);
        let port = listener.local_addr()?.port();
        let server = Server {
            run: Arc::new(Run {
                id,
                event,
                job_status,
                invocations,
                served: AtomicUsize::new(0),
                records,
            }),
        };
        let ready = Arc::new(Barrier::new(WORKERS + 1));
        for _ in 0..WORKERS {
            let (server, listener, ready) = (server.clone(), listener.clone(), ready.clone());
            thread::spawn(move || {
                ready.wait();
                // accept fails once `close` shut the listener down.
                while let Ok((stream, _)) = listener.accept() {
                    // A connection ends with an error when the harness kills the function.
                    let _ = server.serve(stream);
                }
            });
        }
        ready.wait(); // every worker is up (and about to wait in accept) before the exec
        Ok(Fake { port, listener })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Wakes every worker waiting in `accept` and lets it end (connections still open end when
    /// their process is gone).
    pub fn close(self) {
        // SAFETY: shutdown(2) on a socket this Fake owns; on Linux it fails pending accepts.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

impl Server {
    fn record(&self, at: Instant, seen: Seen) {
        let run = self.run.id;
        let _ = self.run.records.send(Record { run, at, seen });
    }

    fn serve(&self, stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut writer = stream;
        while let Some(request) = read_request(&mut reader, &mut writer)? {
            let path = request.path.as_str();
            let reply = if request.method == "GET" && path == format!("{RUNTIME}/invocation/next") {
                self.record(request.at, Seen::Next);
                match self.next_event() {
                    // A warm invocation: timed from here, the event about to be written.
                    Some((n, reply)) if n > 0 => {
                        let bytes = reply.to_bytes();
                        let handed = Instant::now();
                        writer.write_all(&bytes)?;
                        self.record(handed, Seen::Handed(n));
                        continue;
                    }
                    Some((_, reply)) => reply,
                    None => {
                        // The function is done with its events: hold the request until the
                        // harness kills the process, as Lambda would freeze it here.
                        while reader.read(&mut [0; 512])? > 0 {}
                        return Ok(());
                    }
                }
            } else if request.method == "POST" && path.starts_with(RUNTIME) {
                let ok = path.ends_with("/response");
                let body = String::from_utf8_lossy(&request.body).into_owned();
                let path = path.to_string();
                self.record(request.at, Seen::Answer { ok, body, path });
                Reply::json(202, r#"{"status":"OK"}"#.into())
            } else if (request.method == "POST" && path == "/") || path.starts_with(S3_BUCKET_PATH)
            {
                let (name, reply) = self.aws(&request);
                self.record(request.at, Seen::Call(name));
                reply
            } else {
                Reply::json(404, format!(r#"{{"message":"no route for {path}"}}"#))
            };
            writer.write_all(&reply.to_bytes())?;
        }
        Ok(())
    }

    /// The event for the next invocation, and its number (0 the cold one); None once all are out.
    fn next_event(&self) -> Option<(usize, Reply)> {
        let run = &self.run;
        let n = run.served.fetch_add(1, Ordering::SeqCst);
        if n >= run.invocations {
            return None;
        }
        let deadline_ms = (epoch_seconds() + 900.0) as u64 * 1000;
        let mut reply = Reply::json(200, String::from_utf8_lossy(&run.event).into_owned());
        reply.headers = vec![
            ("Lambda-Runtime-Aws-Request-Id", request_id(run.id, n)),
            ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
            ),
            (
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0".into(),
            ),
        ];
        Some((n, reply))
    }

    /// One AWS endpoint for every service, as `AWS_ENDPOINT_URL` makes them share it.
    fn aws(&self, request: &Request) -> (String, Reply) {
        let now = epoch_seconds();
        let job_status = self.run.job_status;
        let target = request.header("x-amz-target").unwrap_or_default();
        let json = match target {
            "HealthLake.StartFHIRExportJob" => format!(
                r#"{{"JobId":"{JOB_ID}","JobStatus":"SUBMITTED","DatastoreId":"{DATASTORE_ID}"}}"#
            ),
            // The account's queue, looked up when a new API export waits: nothing else runs.
            "HealthLake.ListFHIRExportJobs" => r#"{"ExportJobPropertiesList":[]}"#.to_string(),
            "HealthLake.DescribeFHIRExportJob" => {
                let submit = (now - 600.0).floor();
                let end = match job_status {
                    "COMPLETED" => format!(r#","EndTime":{}"#, (now - 5.0).floor()),
                    _ => String::new(),
                };
                format!(
                    concat!(
                        r#"{{"ExportJobProperties":{{"JobId":"{job}","JobName":"scheduled-2026-11-26-0200","#,
                        r#""JobStatus":"{status}","SubmitTime":{submit}{end},"DatastoreId":"{store}","#,
                        r#""OutputDataConfig":{{"S3Configuration":{{"S3Uri":"s3://example-exports/healthlake/{store}/2026/11/26/","#,
                        r#""KmsKeyId":"arn:aws:kms:us-east-1:123456789012:key/1234abcd"}}}},"#,
                        r#""DataAccessRoleArn":"arn:aws:iam::123456789012:role/healthlake-export"}}}}"#
                    ),
                    job = JOB_ID,
                    status = job_status,
                    submit = submit,
                    end = end,
                    store = DATASTORE_ID,
                )
            }
            "AWSEvents.PutEvents" => {
                let body = r#"{"FailedEntryCount":0,"Entries":[{"EventId":"11710aed-b79e-4468-a20b-bb3c0c3b4860"}]}"#;
                let mut reply = Reply::json(200, body.into());
                reply.content_type = "application/x-amz-json-1.1";
                return (target.into(), reply);
            }
            // job-events: the wake-up finds a parked task (its token comes back) and resumes it.
            "DynamoDB_20120810.UpdateItem" => {
                r#"{"Attributes":{"taskToken":{"S":"AQB8AAAAKgAAAAMAAAAAAAAAAbench"}}}"#.to_string()
            }
            "AWSStepFunctions.SendTaskSuccess" => "{}".to_string(),
            "AWSStepFunctions.StartExecution" => format!(
                r#"{{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:export:export-{JOB_ID}","startDate":{now:.3}}}"#
            ),
            "" if request.path.contains("list-type=2") => {
                return (
                    "S3.ListObjectsV2".into(),
                    Reply::xml(s3_listing(&request.path)),
                );
            }
            "" if request.method == "PUT" => {
                let mut reply = Reply::xml(String::new());
                reply
                    .headers
                    .push(("ETag", "\"d41d8cd98f00b204e9800998ecf8427e\"".into()));
                return ("S3.PutObject".into(), reply);
            }
            "" => {
                let form = String::from_utf8_lossy(&request.body);
                if form.split('&').any(|pair| pair == "Action=Publish") {
                    return ("SNS.Publish".into(), Reply::xml(SNS_PUBLISH.into()));
                }
                let reply = Reply::xml(SNS_UNKNOWN.into());
                return (
                    "unknown Query call".into(),
                    Reply {
                        status: 400,
                        ..reply
                    },
                );
            }
            other => {
                let body = format!(
                    r#"{{"__type":"UnknownOperationException","message":"the bench does not serve {other}"}}"#
                );
                return (other.into(), Reply::json(400, body));
            }
        };
        let mut reply = Reply::json(200, json);
        reply.content_type = "application/x-amz-json-1.0";
        (target.into(), reply)
    }
}

const SNS_PUBLISH: &str = concat!(
    r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">"#,
    "<PublishResult><MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId></PublishResult>",
    "<ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId></ResponseMetadata>",
    "</PublishResponse>"
);
const SNS_UNKNOWN: &str = concat!(
    r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">"#,
    "<Error><Type>Sender</Type><Code>InvalidAction</Code><Message>not served by the bench</Message></Error>",
    "<RequestId>f187a3c1-376f-11df-8963-01868b7c937b</RequestId></ErrorResponse>"
);

struct Reply {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    fn xml(body: String) -> Reply {
        Reply {
            status: 200,
            content_type: "text/xml",
            headers: Vec::new(),
            body,
        }
    }

    /// Head and body in one buffer, written with one call (no Nagle or delayed-ACK stalls).
    fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            202 => "Accepted",
            400 => "Bad Request",
            _ => "Not Found",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nx-amzn-RequestId: 7a62c49f-347e-4fc4-9331-6e8eEXAMPLE\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body); `None` when the peer closed.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> io::Result<Option<Request>> {
    let mut line = String::new();
    while line.trim().is_empty() {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
    }
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut request = Request {
        at,
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = size.trim().split(';').next().unwrap_or("0");
            let size = usize::from_str_radix(size, 16).map_err(io::Error::other)?;
            let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = request.header("content-length") {
        let length = length.parse().map_err(io::Error::other)?;
        request.body = vec![0; length];
        reader.read_exact(&mut request.body)?;
    }
    Ok(Some(request))
}

/// Invocation `n` of run `run` (n < 4096): the cold one's id is what it was before warm
/// invocations existed.
pub fn request_id(run: u64, n: usize) -> String {
    format!("00000000-0000-4000-8{n:03x}-{run:012}")
}

fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// S3 requests are path-style on a loopback endpoint: `/<bucket>?...` and `/<bucket>/<key>`.
const S3_BUCKET_PATH: &str = "/example-exports";

/// One page of ListObjectsV2 for the requested prefix: an export folder with three files.
fn s3_listing(path_and_query: &str) -> String {
    let prefix = path_and_query
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("prefix="))
        .unwrap_or_default()
        .replace("%2F", "/");
    let files = [
        ("Patient/Patient-0.ndjson", 1_000),
        ("Observation/Observation-0.ndjson", 4_000),
        ("Observation/Observation-1.ndjson", 2_000),
    ];
    let contents: String = files
        .iter()
        .map(|(name, size)| {
            format!(
                "<Contents><Key>{prefix}{name}</Key><LastModified>2026-11-26T02:40:00.000Z</LastModified>\
                 <ETag>&quot;x&quot;</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>example-exports</Name>\
         <Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>\
         {contents}</ListBucketResult>",
        files.len()
    )
}

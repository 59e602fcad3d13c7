//! Where export output goes: S3 (the S3 emulator in the offline stack) or memory (tests, and
//! runs without an S3 endpoint).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

/// One object to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutObject {
    pub bucket: String,
    pub key: String,
    pub body: Vec<u8>,
    /// HealthLake encrypts export output with the job's KMS key (SSE-KMS).
    pub kms_key_id: String,
}

pub type PutFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Writes export output. The error is a human-readable reason that becomes the job's Message.
pub trait ObjectSink: Send + Sync {
    fn put_object(&self, object: PutObject) -> PutFuture<'_>;

    /// An object's body by `s3://bucket/key`, for sinks that can show what they hold.
    fn read_object(&self, _uri: &str) -> Option<Vec<u8>> {
        None
    }

    /// Forgets what was written, for sinks that hold it (on an emulator reset).
    fn clear(&self) {}
}

/// Writes with the AWS SDK; endpoint, region and credentials come from the standard environment
/// (`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...).
pub struct S3Sink {
    client: aws_sdk_s3::Client,
}

impl S3Sink {
    pub async fn from_env(region: &str) -> Self {
        let shared = crate::sdk::config(region).await;
        // Path-style addressing: local S3 emulators do not resolve `bucket.localhost` names.
        // No optional checksums and (below) no payload signing: hashing every byte of a large
        // export twice costs seconds in a debug build, and the target is a local S3 emulator.
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(config),
        }
    }
}

impl ObjectSink for S3Sink {
    fn put_object(&self, object: PutObject) -> PutFuture<'_> {
        Box::pin(async move {
            let uri = format!("s3://{}/{}", object.bucket, object.key);
            self.client
                .put_object()
                .bucket(object.bucket)
                .key(object.key)
                .content_type("application/fhir+ndjson")
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(object.kms_key_id)
                .body(ByteStream::from(object.body))
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map(|_| ())
                .map_err(|err| {
                    let reason = match (err.code(), err.message()) {
                        (Some(code), Some(message)) => format!("{code}: {message}"),
                        (Some(code), None) => code.to_string(),
                        _ => error_chain(&err),
                    };
                    format!("Failed to write export output to {uri}: {reason}")
                })
        })
    }
}

/// An error and its sources, e.g. "dispatch failure: io error: ...: Connection refused".
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Keeps objects in memory, keyed by `s3://bucket/key`; can be told to fail every write.
#[derive(Debug, Default)]
pub struct MemorySink {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    failure: Mutex<Option<String>>,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later write fail with `reason` (or succeed again, with `None`).
    pub fn fail_writes(&self, reason: Option<String>) {
        *self.failure.lock().expect("sink lock") = reason;
    }

    /// A copy of everything written so far, keyed by `s3://bucket/key`.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects.lock().expect("sink lock").clone()
    }
}

impl ObjectSink for MemorySink {
    fn put_object(&self, object: PutObject) -> PutFuture<'_> {
        let result = match self.failure.lock().expect("sink lock").clone() {
            Some(reason) => Err(format!(
                "Failed to write export output to s3://{}/{}: {reason}",
                object.bucket, object.key
            )),
            None => {
                let uri = format!("s3://{}/{}", object.bucket, object.key);
                self.objects
                    .lock()
                    .expect("sink lock")
                    .insert(uri, object.body);
                Ok(())
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn read_object(&self, uri: &str) -> Option<Vec<u8>> {
        self.objects.lock().expect("sink lock").get(uri).cloned()
    }

    fn clear(&self) {
        self.objects.lock().expect("sink lock").clear();
    }
}

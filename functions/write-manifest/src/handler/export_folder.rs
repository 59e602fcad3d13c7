use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use export_core::config::ManifestSettings;
use export_core::model::operation::Operation;

use crate::manifest::ExportedObject;
use aws_adapters::sdk_error::failure_from_sdk;
use export_core::model::failure::{AwsFailure, FailureKind};
use export_core::model::naming::split_s3_uri;

const LIST: Operation = Operation::ListObjectsV2;
const PUT: Operation = Operation::PutObject;
/// S3's largest page: one call per thousand objects.
const PAGE_SIZE: i32 = 1_000;

/// A job's export folder in S3: list what HealthLake wrote, write the manifest next to it.
/// Every call names the account that must own the bucket; the manifest is written with the
/// deployment's key.
#[derive(Clone, Debug)]
pub struct ExportFolder {
    client: Client,
    kms_key_arn: String,
    bucket_owner: String,
}

/// `s3://<bucket>/<key>`, or a failure that names the call it was for: a bad URI is a bug or a
/// bad state, never transient.
fn location(operation: Operation, uri: &str) -> Result<(&str, &str), AwsFailure> {
    split_s3_uri(uri).ok_or_else(|| AwsFailure {
        operation,
        kind: FailureKind::Invalid,
        code: "InvalidS3Uri".into(),
        detail: format!("not an s3://bucket/key URI: {uri}"),
    })
}

impl ExportFolder {
    pub fn new(client: Client, settings: &ManifestSettings) -> Self {
        ExportFolder {
            client,
            kms_key_arn: settings.kms_key_arn.clone(),
            bucket_owner: settings.bucket_owner.clone(),
        }
    }

    /// Every object under the folder (ListObjectsV2 with the folder's key as prefix, every page
    /// followed), in S3's order.
    pub async fn list(&self, folder_s3_uri: &str) -> Result<Vec<ExportedObject>, AwsFailure> {
        let (bucket, prefix) = location(LIST, folder_s3_uri)?;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .expected_bucket_owner(&self.bucket_owner)
            .prefix(prefix)
            .max_keys(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failure_from_sdk(LIST, &e))?;
            objects.extend(page.contents().iter().filter_map(|object| {
                Some(ExportedObject {
                    key: object.key()?.to_string(),
                    size: object.size().unwrap_or_default().max(0) as u64,
                })
            }));
        }
        Ok(objects)
    }

    /// Writes `body` as `application/json` at `manifest_s3_uri`, replacing any earlier one,
    /// encrypted with SSE-KMS under the deployment's key whatever the bucket's default. No
    /// `BucketKeyEnabled`: S3 then follows the bucket's own S3 Bucket Key setting, as for the
    /// export files beside it, so a key policy's encryption context conditions see the same form.
    pub async fn put_manifest(&self, manifest_s3_uri: &str, body: &str) -> Result<(), AwsFailure> {
        let (bucket, key) = location(PUT, manifest_s3_uri)?;
        self.client
            .put_object()
            .bucket(bucket)
            .expected_bucket_owner(&self.bucket_owner)
            .key(key)
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&self.kms_key_arn)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| failure_from_sdk(PUT, &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_that_is_not_s3_is_a_permanent_failure_naming_the_call() {
        let failure = location(PUT, "https://example-exports/manifest.json").unwrap_err();
        assert_eq!(failure.operation, PUT);
        assert_eq!(failure.kind, FailureKind::Invalid);
        assert!(!failure.kind.is_transient());
        assert_eq!(
            location(LIST, "s3://example-exports/p/").unwrap(),
            ("example-exports", "p/")
        );
    }
}

//! The SigV4 `Authorization` check every HealthLake request passes first, the JSON API's and
//! the FHIR REST API's alike.

use crate::api::ApiError;

/// The `Authorization` header as AWS's front door checks it before the service sees a request:
/// present, SigV4 (`AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
/// SignedHeaders=..., Signature=...`), scoped to `healthlake` in this emulator's Region. The
/// signature itself is not verified (any credentials work).
pub fn check_authorization(header: Option<&str>, region: &str) -> Result<(), ApiError> {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err(ApiError::MissingAuthenticationToken(
            "Missing Authentication Token".to_string(),
        ));
    };
    let incomplete = |what: &str| {
        ApiError::IncompleteSignature(format!(
            "{what}: Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' \
             parameters of an AWS4-HMAC-SHA256 signature. Authorization={header}"
        ))
    };
    let Some(parameters) = header.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete("Unsupported authorization type"));
    };
    let mut credential = None;
    let (mut signed_headers, mut signature) = (false, false);
    for parameter in parameters.split(',').map(str::trim) {
        match parameter.split_once('=') {
            Some(("Credential", value)) => credential = Some(value),
            Some(("SignedHeaders", value)) if !value.is_empty() => signed_headers = true,
            Some(("Signature", value)) if !value.is_empty() => signature = true,
            _ => {}
        }
    }
    let (Some(credential), true, true) = (credential, signed_headers, signature) else {
        return Err(incomplete("Missing parameters"));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key, date, scope_region, service, terminator] = scope[..] else {
        return Err(incomplete(&format!(
            "Credential '{credential}' is not <key>/<date>/<region>/<service>/aws4_request"
        )));
    };
    let date_ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if !date_ok || terminator != "aws4_request" {
        return Err(incomplete(&format!(
            "Credential '{credential}' is not <key>/<yyyymmdd>/<region>/<service>/aws4_request"
        )));
    }
    if key.is_empty() {
        return Err(ApiError::UnrecognizedClient(
            "The security token included in the request is invalid.".to_string(),
        ));
    }
    if service != "healthlake" {
        return Err(ApiError::InvalidSignature(format!(
            "Credential should be scoped to correct service: 'healthlake'. (scoped to '{service}')"
        )));
    }
    if scope_region != region {
        return Err(ApiError::InvalidSignature(format!(
            "Credential should be scoped to a valid region, not '{scope_region}'. (this endpoint is {region})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_must_carry_a_sigv4_authorization_for_healthlake_in_this_region() {
        let signed = |scope: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd"
            )
        };
        let region = "us-east-1";
        assert_eq!(
            check_authorization(
                Some(&signed(
                    "AKIDEXAMPLE/20260101/us-east-1/healthlake/aws4_request"
                )),
                region
            ),
            Ok(())
        );
        for (header, expected) in [
            (None, "MissingAuthenticationTokenException"),
            (Some(String::new()), "MissingAuthenticationTokenException"),
            (
                Some("Bearer abc".to_string()),
                "IncompleteSignatureException",
            ),
            (
                Some(
                    "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/healthlake/aws4_request"
                        .to_string(),
                ),
                "IncompleteSignatureException",
            ),
            (
                Some(signed("AKID/20260101/us-east-1/healthlake")),
                "IncompleteSignatureException",
            ),
            (
                Some(signed("AKID/2026-01-01/us-east-1/healthlake/aws4_request")),
                "IncompleteSignatureException",
            ),
            (
                Some(signed("/20260101/us-east-1/healthlake/aws4_request")),
                "UnrecognizedClientException",
            ),
            (
                Some(signed("AKID/20260101/us-east-1/s3/aws4_request")),
                "InvalidSignatureException",
            ),
            (
                Some(signed("AKID/20260101/eu-west-1/healthlake/aws4_request")),
                "InvalidSignatureException",
            ),
        ] {
            let err = check_authorization(header.as_deref(), region).unwrap_err();
            assert_eq!(err.type_name(), expected, "{header:?}: {err}");
            assert_eq!(err.status(), 403, "{header:?}");
        }
    }
}

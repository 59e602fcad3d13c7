//! Reading an HTTP API request's headers and body defensively: size first, then encoding, so a
//! caller cannot make the function decode or parse more than the API takes.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::http::HeaderMap;
use base64::Engine;

use crate::api::response::ApiResponse;
use export_core::model::validate::InvalidInput;

/// Larger bodies are refused before parsing: the API takes two short strings.
pub const MAX_BODY_BYTES: usize = 4096;

pub(crate) fn header<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, InvalidInput> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| InvalidInput::new(name, "must be visible ASCII")),
    }
}

pub(crate) fn body_bytes(request: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, ApiResponse> {
    let Some(body) = request.body.as_deref() else {
        return Ok(Vec::new());
    };
    // Checked before decoding: base64 only makes a body longer.
    if body.len() > MAX_BODY_BYTES * 4 / 3 + 4 {
        return Err(too_large());
    }
    let bytes = if request.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| ApiResponse::invalid(&InvalidInput::new("body", "is not valid base64")))?
    } else {
        body.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

fn too_large() -> ApiResponse {
    ApiResponse::error(
        413,
        "PayloadTooLarge",
        &format!("the body must be at most {MAX_BODY_BYTES} bytes"),
        Some("body"),
    )
}

//! Where the signed requests go: the endpoint as aws-sdk-healthlake resolves its own (region,
//! FIPS, dual-stack, endpoint URLs), and the request that reaches it.

use super::*;
use aws_types::service_config::LoadServiceConfig;

#[derive(Debug)]
struct ServiceEndpoint(&'static str);

impl LoadServiceConfig for ServiceEndpoint {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.service_id() == "HealthLake" && key.env() == "AWS_ENDPOINT_URL")
            .then(|| self.0.to_string())
    }
}

#[test]
fn the_endpoint_is_chosen_as_the_sdk_chooses() {
    let resolved = |region, fips, dual, url: Option<&str>| {
        endpoint_of(region, fips, dual, url.map(str::to_string)).unwrap()
    };
    assert_eq!(
        resolved("eu-west-2", None, None, None),
        "https://healthlake.eu-west-2.amazonaws.com"
    );
    assert_eq!(
        resolved(
            "us-east-1",
            Some(false),
            Some(false),
            Some("http://127.0.0.1:4566/")
        ),
        "http://127.0.0.1:4566"
    );
    assert_eq!(
        resolved("us-east-1", None, None, Some(" ")),
        "https://healthlake.us-east-1.amazonaws.com"
    );
    // FIPS and dual-stack, as the SDK's HealthLake client resolves them.
    assert_eq!(
        resolved("us-east-1", Some(true), None, None),
        "https://healthlake-fips.us-east-1.amazonaws.com"
    );
    assert_eq!(
        resolved("us-east-1", None, Some(true), None),
        "https://healthlake.us-east-1.api.aws"
    );
    assert_eq!(
        resolved("us-east-1", Some(true), Some(true), None),
        "https://healthlake-fips.us-east-1.api.aws"
    );
    // What the SDK refuses is refused here too.
    let refused = endpoint_of(
        "us-east-1",
        Some(true),
        None,
        Some("http://127.0.0.1:4566".into()),
    )
    .unwrap_err();
    assert!(refused.contains("FIPS"), "{refused}");

    let (client, _) = capture_request(None);
    let global = config(client.clone())
        .into_builder()
        .endpoint_url("http://127.0.0.1:4566")
        .build();
    assert_eq!(
        BulkExports::from_config(&global).unwrap().endpoint(),
        "http://127.0.0.1:4566"
    );
    let service = global
        .into_builder()
        .service_config(ServiceEndpoint("http://127.0.0.1:9000/"))
        .build();
    assert_eq!(
        BulkExports::from_config(&service).unwrap().endpoint(),
        "http://127.0.0.1:9000"
    );
}

#[tokio::test]
async fn the_fips_and_dual_stack_settings_of_the_config_are_honoured() {
    let (client, captured) = capture_request(None);
    let fips = config(client)
        .into_builder()
        .use_fips(true)
        .use_dual_stack(true)
        .build();
    let exports = BulkExports::from_config(&fips).unwrap();
    assert_eq!(
        exports.endpoint(),
        "https://healthlake-fips.us-east-1.api.aws"
    );
    let _ = exports.status("store1", JOB).await;
    assert_eq!(
        captured.expect_request().uri(),
        format!("https://healthlake-fips.us-east-1.api.aws/datastore/store1/r4/export/{JOB}")
    );
    // The SDK refuses FIPS with a custom endpoint; so does start-up here, naming why.
    let (client, _) = capture_request(None);
    let custom = config(client)
        .into_builder()
        .use_fips(true)
        .endpoint_url("http://127.0.0.1:4566")
        .build();
    let refused = BulkExports::from_config(&custom).unwrap_err();
    assert_eq!(refused.variable, "HealthLake endpoint");
}

#[tokio::test]
async fn a_configured_endpoint_receives_the_signed_request() {
    let (client, captured) = capture_request(None);
    let config = config(client)
        .into_builder()
        .service_config(ServiceEndpoint("http://127.0.0.1:9000"))
        .build();
    let _ = BulkExports::from_config(&config)
        .unwrap()
        .status("store1", JOB)
        .await;
    let sent = captured.expect_request();
    assert_eq!(
        sent.uri(),
        format!("http://127.0.0.1:9000/datastore/store1/r4/export/{JOB}")
    );
    assert!(
        sent.headers()
            .get("authorization")
            .unwrap()
            .contains("/us-east-1/healthlake/aws4_request")
    );
}

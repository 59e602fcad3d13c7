//! Where the API is: its URL as given, or the `ApiUrl` output of the deployment's CloudFormation
//! stack (template.yaml's Outputs), and the region a URL signs for. Pure.

/// template.yaml's output holding the API's URL.
pub const API_URL_OUTPUT: &str = "ApiUrl";
/// CloudFormation's Query API version.
const CLOUDFORMATION_VERSION: &str = "2010-05-15";

/// The base URL without a trailing slash; only http(s).
pub fn base_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("the API URL {url:?} must start with https:// (or http://)"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("the API URL {url:?} has no host"));
    }
    Ok(trimmed.to_string())
}

/// The region in an `execute-api` host name (`<id>.execute-api.<region>.amazonaws.com`).
pub fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    let (_, service, region) = (labels.next()?, labels.next()?, labels.next()?);
    (service == "execute-api" && !region.is_empty()).then(|| region.to_string())
}

/// The form body of CloudFormation's `DescribeStacks` for one stack.
pub fn describe_stacks_body(stack: &str) -> String {
    format!(
        "Action=DescribeStacks&StackName={}&Version={CLOUDFORMATION_VERSION}",
        crate::api::encode(stack)
    )
}

/// The `ApiUrl` output in a `DescribeStacks` answer (XML), or what went wrong, said plainly.
pub fn api_url_from_stack(stack: &str, status: u16, xml: &str) -> Result<String, String> {
    if !(200..300).contains(&status) {
        let message = element(xml, "Message").unwrap_or("no message");
        let code = element(xml, "Code").unwrap_or("error");
        return Err(format!(
            "CloudFormation DescribeStacks on stack {stack} answered {status} {code}: {message}"
        ));
    }
    for member in xml.split("<member>") {
        if element(member, "OutputKey") == Some(API_URL_OUTPUT) {
            return element(member, "OutputValue")
                .map(str::to_string)
                .ok_or_else(|| format!("stack {stack}'s {API_URL_OUTPUT} output has no value"));
        }
    }
    Err(format!(
        "stack {stack} has no {API_URL_OUTPUT} output; is it this application's stack (template.yaml)?"
    ))
}

fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(xml[start..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_their_region_read() {
        assert_eq!(
            base_url("https://abc.execute-api.eu-west-1.amazonaws.com/").unwrap(),
            "https://abc.execute-api.eu-west-1.amazonaws.com"
        );
        assert!(base_url("abc.example").is_err());
        assert!(base_url("https://").is_err());
        assert_eq!(
            region_of("https://abc.execute-api.eu-west-1.amazonaws.com/prod").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:8080"), None);
        assert_eq!(region_of("https://exports.example.org"), None);
    }

    #[test]
    fn the_api_url_is_read_from_the_stack_outputs() {
        let xml = r#"<DescribeStacksResponse><DescribeStacksResult><Stacks><member>
            <Outputs>
              <member><OutputKey>DashboardUrl</OutputKey><OutputValue>https://console</OutputValue></member>
              <member><Description>the API</Description><OutputKey>ApiUrl</OutputKey>
                <OutputValue>https://abc.execute-api.us-east-1.amazonaws.com</OutputValue></member>
            </Outputs></member></Stacks></DescribeStacksResult></DescribeStacksResponse>"#;
        assert_eq!(
            api_url_from_stack("s", 200, xml).unwrap(),
            "https://abc.execute-api.us-east-1.amazonaws.com"
        );
        let none = api_url_from_stack("s", 200, "<Outputs></Outputs>").unwrap_err();
        assert!(none.contains("no ApiUrl output"), "{none}");
        let missing = api_url_from_stack(
            "s",
            400,
            "<ErrorResponse><Error><Code>ValidationError</Code><Message>Stack with id s does not exist</Message></Error></ErrorResponse>",
        )
        .unwrap_err();
        assert!(
            missing.contains("Stack with id s does not exist"),
            "{missing}"
        );
        assert_eq!(
            describe_stacks_body("my stack"),
            "Action=DescribeStacks&StackName=my%20stack&Version=2010-05-15"
        );
    }
}

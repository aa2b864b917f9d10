//! Validation messages, checked against AWS's recorded wording where it
//! exists (see the spec, §1 and §7) and iamd's documented choices elsewhere.

use iamd_model::{Operation, Service, ValidationError, operation, validate};

fn op(service: Service, name: &str) -> &'static Operation {
    operation(service, name).unwrap_or_else(|| panic!("{name} is served"))
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The message of the expected validation failure.
fn fail(service: Service, action: &str, pairs: &[(&str, &str)]) -> String {
    match validate(op(service, action), &params(pairs)) {
        Ok(()) => panic!("{action} {pairs:?} should fail validation"),
        Err(ValidationError { message }) => message,
    }
}

fn pass(service: Service, action: &str, pairs: &[(&str, &str)]) {
    if let Err(e) = validate(op(service, action), &params(pairs)) {
        panic!("{action} {pairs:?} should pass, got: {e}");
    }
}

const IAM: Service = Service::Iam;
const STS: Service = Service::Sts;

#[test]
fn valid_requests_pass() {
    pass(
        IAM,
        "CreateUser",
        &[
            ("Action", "CreateUser"),
            ("Version", "2010-05-08"),
            ("UserName", "alice_1+=,.@-"),
            ("Path", "/division/team/"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "a b"),
        ],
    );
    pass(
        IAM,
        "EnableMFADevice",
        &[
            ("UserName", "alice"),
            ("SerialNumber", "arn:aws:iam::123456789012:mfa/alice"),
            ("AuthenticationCode1", "818483"),
            ("AuthenticationCode2", "092431"),
        ],
    );
    pass(IAM, "ListUsers", &[("MaxItems", "1000"), ("Marker", "abc")]);
    pass(STS, "GetCallerIdentity", &[("Action", "GetCallerIdentity")]);
    pass(IAM, "GetAccountSummary", &[]);
    pass(STS, "GetSessionToken", &[("DurationSeconds", "900")]);
    pass(IAM, "UpdateAccountPasswordPolicy", &[("MinimumPasswordLength", "14"), ("RequireSymbols", "true")]);
}

#[test]
fn unknown_parameters_are_ignored() {
    pass(IAM, "GetUser", &[("X-Amz-Signature", "abc"), ("Unknown", "!!!"), ("UserName", "bob")]);
}

#[test]
fn pattern_violation_quotes_the_value_and_the_model_pattern() {
    assert_eq!(
        fail(IAM, "CreateUser", &[("UserName", "x!")]),
        r"1 validation error detected: Value 'x!' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+"
    );
}

#[test]
fn max_length_omits_the_value() {
    let path = format!("/{}/", "a".repeat(511));
    assert_eq!(
        fail(IAM, "CreateVirtualMFADevice", &[("VirtualMFADeviceName", "dev"), ("Path", &path)]),
        "1 validation error detected: Value at 'path' failed to satisfy constraint: Member must have length less than or equal to 512"
    );
}

#[test]
fn min_length_quotes_the_value() {
    // An empty Path fails min length 1 and the pattern; both are reported,
    // length first.
    assert_eq!(
        fail(IAM, "CreateUser", &[("UserName", "alice"), ("Path", "")]),
        r"2 validation errors detected: Value '' at 'path' failed to satisfy constraint: Member must have length greater than or equal to 1; Value '' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
    );
    assert_eq!(
        fail(
            IAM,
            "EnableMFADevice",
            &[
                ("UserName", "alice"),
                ("SerialNumber", "arn:mfa"),
                ("AuthenticationCode1", "123456"),
                ("AuthenticationCode2", "654321"),
            ]
        ),
        "1 validation error detected: Value 'arn:mfa' at 'serialNumber' failed to satisfy constraint: Member must have length greater than or equal to 9"
    );
}

#[test]
fn number_below_minimum_matches_aws_recording() {
    assert_eq!(
        fail(STS, "GetSessionToken", &[("DurationSeconds", "600")]),
        "1 validation error detected: Value '600' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
    );
}

#[test]
fn number_above_maximum() {
    assert_eq!(
        fail(STS, "GetSessionToken", &[("DurationSeconds", "129601")]),
        "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600"
    );
    assert_eq!(
        fail(IAM, "ListUsers", &[("MaxItems", "0")]),
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
}

#[test]
fn non_numbers_and_non_booleans() {
    assert_eq!(
        fail(IAM, "ListUsers", &[("MaxItems", "ten")]),
        "1 validation error detected: Value 'ten' at 'maxItems' failed to satisfy constraint: Member must be a number"
    );
    // Beyond a Java int: not a number of this type.
    assert_eq!(
        fail(IAM, "ListUsers", &[("MaxItems", "4294967296")]),
        "1 validation error detected: Value '4294967296' at 'maxItems' failed to satisfy constraint: Member must be a number"
    );
    assert_eq!(
        fail(IAM, "UpdateAccountPasswordPolicy", &[("RequireSymbols", "yes")]),
        "1 validation error detected: Value 'yes' at 'requireSymbols' failed to satisfy constraint: Member must be a boolean"
    );
    assert_eq!(
        fail(IAM, "UpdateAccountPasswordPolicy", &[("RequireSymbols", "True")]),
        "1 validation error detected: Value 'True' at 'requireSymbols' failed to satisfy constraint: Member must be a boolean"
    );
}

#[test]
fn enum_violation_lists_the_value_set() {
    assert_eq!(
        fail(IAM, "UpdateAccessKey", &[("AccessKeyId", "AKIAIOSFODNN7EXAMPLE"), ("Status", "Enabled")]),
        "1 validation error detected: Value 'Enabled' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive, Expired]"
    );
    pass(IAM, "UpdateAccessKey", &[("AccessKeyId", "AKIAIOSFODNN7EXAMPLE"), ("Status", "Inactive")]);
}

#[test]
fn missing_required_member_is_null() {
    assert_eq!(
        fail(IAM, "CreateUser", &[("Action", "CreateUser")]),
        "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn several_errors_are_joined_in_model_order() {
    // Model order of EnableMFADevice: UserName, SerialNumber,
    // AuthenticationCode1, AuthenticationCode2 — regardless of wire order.
    assert_eq!(
        fail(
            IAM,
            "EnableMFADevice",
            &[
                ("AuthenticationCode2", "12345"),
                ("SerialNumber", "arn:aws:iam::123456789012:mfa/alice"),
                ("UserName", "bad name"),
            ]
        ),
        concat!(
            r"3 validation errors detected: ",
            r"Value 'bad name' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+; ",
            r"Value null at 'authenticationCode1' failed to satisfy constraint: Member must not be null; ",
            r"Value '12345' at 'authenticationCode2' failed to satisfy constraint: Member must have length greater than or equal to 6",
        )
    );
    assert_eq!(
        fail(IAM, "CreateUser", &[("Path", "nope"), ("UserName", "x!")]),
        concat!(
            r"2 validation errors detected: ",
            r"Value 'nope' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F); ",
            r"Value 'x!' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+",
        )
    );
}

#[test]
fn tag_list_element_errors_use_wire_index() {
    // The recorded AWS message for a bad tag value (CreateUser, 6th tag).
    assert_eq!(
        fail(
            IAM,
            "CreateUser",
            &[
                ("UserName", "alice"),
                ("Tags.member.6.Key", "Source"),
                ("Tags.member.6.Value", "SourceIP: 1.2.3.4, UserAgent: aws-cli/2.1.17"),
            ]
        ),
        r"1 validation error detected: Value 'SourceIP: 1.2.3.4, UserAgent: aws-cli/2.1.17' at 'tags.6.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*"
    );
    // Missing required member inside an element.
    assert_eq!(
        fail(
            IAM,
            "TagMFADevice",
            &[("SerialNumber", "arn:aws:iam::123456789012:mfa/alice"), ("Tags.member.1.Key", "team"),]
        ),
        "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null"
    );
    // Elements in index order; key before value within an element.
    let long_key = "k".repeat(129);
    assert_eq!(
        fail(
            IAM,
            "TagUser",
            &[
                ("UserName", "alice"),
                ("Tags.member.2.Value", "v"),
                ("Tags.member.2.Key", &long_key),
                ("Tags.member.1.Key", ""),
                ("Tags.member.1.Value", "ok"),
            ]
        ),
        concat!(
            r"3 validation errors detected: ",
            r"Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1; ",
            r"Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+; ",
            r"Value at 'tags.2.member.key' failed to satisfy constraint: Member must have length less than or equal to 128",
        )
    );
}

#[test]
fn too_many_tags_is_a_length_error_on_the_list() {
    let mut pairs: Vec<(String, String)> = vec![("SerialNumber".into(), "arn:aws:iam::123456789012:mfa/alice".into())];
    for i in 1..=51 {
        pairs.push((format!("Tags.member.{i}.Key"), format!("k{i}")));
        pairs.push((format!("Tags.member.{i}.Value"), format!("v{i}")));
    }
    let err = validate(op(IAM, "TagMFADevice"), &pairs).expect_err("51 tags");
    assert_eq!(
        err.message,
        "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"
    );
    pairs.truncate(1 + 50 * 2);
    assert!(validate(op(IAM, "TagMFADevice"), &pairs).is_ok());
}

#[test]
fn required_list_missing_or_empty() {
    let serial = ("SerialNumber", "arn:aws:iam::123456789012:mfa/alice");
    assert_eq!(
        fail(IAM, "UntagMFADevice", &[serial]),
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
    );
    // `TagKeys=` is how awsQuery sends an empty list: present, no elements.
    pass(IAM, "UntagMFADevice", &[serial, ("TagKeys", "")]);
}

#[test]
fn scalar_list_elements_are_reported_on_the_list() {
    assert_eq!(
        fail(
            IAM,
            "UntagUser",
            &[
                ("UserName", "alice"),
                ("TagKeys.member.1", "ok"),
                ("TagKeys.member.2", "bad{key}"),
                ("TagKeys.member.3", ""),
            ]
        ),
        r"1 validation error detected: Value '[ok, bad{key}, ]' at 'tagKeys' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+, Member must have length greater than or equal to 1]"
    );
    pass(IAM, "UntagUser", &[("UserName", "alice"), ("TagKeys.member.1", "team"), ("TagKeys.member.2", "cost:center")]);
}

#[test]
fn unicode_tag_values_are_accepted() {
    pass(
        IAM,
        "TagUser",
        &[
            ("UserName", "alice"),
            ("Tags.member.1.Key", "Abteilung"),
            ("Tags.member.1.Value", "Größe München"),
            ("Tags.member.2.Key", "名前"),
            ("Tags.member.2.Value", "東京 ١٢٣"),
            ("Tags.member.3.Key", "empty"),
            ("Tags.member.3.Value", ""),
        ],
    );
}

#[test]
fn word_class_is_ascii_only() {
    assert_eq!(
        fail(IAM, "CreateUser", &[("UserName", "josé")]),
        r"1 validation error detected: Value 'josé' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+"
    );
    // Java's \d is ASCII-only too: Arabic-Indic digits are not a code.
    assert_eq!(
        fail(
            IAM,
            "ResyncMFADevice",
            &[
                ("UserName", "alice"),
                ("SerialNumber", "arn:aws:iam::123456789012:mfa/alice"),
                ("AuthenticationCode1", "١٢٣٤٥٦"),
                ("AuthenticationCode2", "123456"),
            ]
        ),
        r"1 validation error detected: Value '١٢٣٤٥٦' at 'authenticationCode1' failed to satisfy constraint: Member must satisfy regular expression pattern: [\d]+"
    );
}

#[test]
fn length_counts_characters_not_bytes() {
    // 64 two-byte characters: 128 bytes but within the 64-character limit
    // (they fail only the ASCII pattern).
    let name = "é".repeat(64);
    let msg = fail(IAM, "CreateUser", &[("UserName", &name)]);
    assert!(msg.starts_with("1 validation error detected: "), "{msg}");
    assert!(msg.contains("regular expression pattern"), "{msg}");
    // 256 CJK characters fit a tag value (768 bytes).
    let value = "東".repeat(256);
    pass(IAM, "TagUser", &[("UserName", "alice"), ("Tags.member.1.Key", "k"), ("Tags.member.1.Value", &value)]);
    let value = "東".repeat(257);
    assert_eq!(
        fail(IAM, "TagUser", &[("UserName", "alice"), ("Tags.member.1.Key", "k"), ("Tags.member.1.Value", &value),]),
        "1 validation error detected: Value at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"
    );
}

#[test]
fn sensitive_values_are_never_echoed() {
    assert_eq!(
        fail(IAM, "CreateLoginProfile", &[("UserName", "alice"), ("Password", "")]),
        concat!(
            r"2 validation errors detected: ",
            r"Value at 'password' failed to satisfy constraint: Member must have length greater than or equal to 1; ",
            r"Value at 'password' failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+",
        )
    );
    assert_eq!(
        fail(IAM, "ChangePassword", &[("OldPassword", "secret\u{1}"), ("NewPassword", "x")]),
        r"1 validation error detected: Value at 'oldPassword' failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+"
    );
    assert_eq!(
        fail(IAM, "ChangePassword", &[("NewPassword", "x")]),
        "1 validation error detected: Value null at 'oldPassword' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn sts_patterns_allow_empty_but_length_still_applies() {
    // STS's TokenCode pattern is `[\d]*` but the length is exactly 6.
    assert_eq!(
        fail(STS, "GetSessionToken", &[("TokenCode", "12345a")]),
        r"1 validation error detected: Value '12345a' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\d]*"
    );
    pass(
        STS,
        "GetSessionToken",
        &[
            ("SerialNumber", "arn:aws:iam::123456789012:mfa/alice"),
            ("TokenCode", "012345"),
            ("DurationSeconds", "3600"),
        ],
    );
}

#[test]
fn marker_and_path_prefix_patterns() {
    pass(IAM, "ListUsers", &[("PathPrefix", "/"), ("Marker", "ÿ ~")]);
    assert_eq!(
        fail(IAM, "ListUsers", &[("PathPrefix", "x/")]),
        r"1 validation error detected: Value 'x/' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*"
    );
    assert_eq!(
        fail(IAM, "ListVirtualMFADevices", &[("Marker", "Ā")]),
        r"1 validation error detected: Value 'Ā' at 'marker' failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0020-\u00FF]+"
    );
}

#[test]
fn first_value_of_a_repeated_parameter_counts() {
    pass(IAM, "GetUser", &[("UserName", "alice"), ("UserName", "x!")]);
    let msg = fail(IAM, "GetUser", &[("UserName", "x!"), ("UserName", "alice")]);
    assert!(msg.contains("Value 'x!' at 'userName'"), "{msg}");
}

#[test]
fn malformed_list_indexes_are_ignored() {
    // Index 0, signed and non-numeric indexes are not elements, so Tags is
    // absent.
    assert_eq!(
        fail(
            IAM,
            "TagUser",
            &[
                ("UserName", "alice"),
                ("Tags.member.0.Key", "k"),
                ("Tags.member.+1.Key", "k"),
                ("Tags.member.x.Key", "k"),
            ]
        ),
        "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"
    );
}

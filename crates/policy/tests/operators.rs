//! Condition operators, table-driven (spec §4.1, §4.3): one statement `Allow *` with the
//! condition under test, evaluated against contexts with the key absent, present, or a list.

use iamd_policy::{ContextValue, Decision, Policy, PolicyKind, Request, RequestContext, Value, evaluate};

/// Whether `{"op": {"key": values}}` holds in `ctx`.
fn holds(op: &str, key: &str, values: &str, ctx: &RequestContext) -> bool {
    let json = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"{op}":{{"{key}":{values}}}}}}}}}"#
    );
    let p = Policy::parse(&json, PolicyKind::Identity).unwrap_or_else(|e| panic!("{json}: {e}"));
    let req = Request::new("iam:GetUser", "*", ctx.clone());
    evaluate(&req, &[&p], None, &[]).decision == Decision::Allow
}

fn with(key: &str, v: impl Into<ContextValue>) -> RequestContext {
    RequestContext::new().with(key, v)
}

fn none() -> RequestContext {
    RequestContext::new()
}

fn list(vals: &[&str]) -> ContextValue {
    ContextValue::List(vals.iter().map(|s| Value::String(s.to_string())).collect())
}

/// (operator, key, policy values JSON, context, expected)
type Case = (&'static str, &'static str, &'static str, RequestContext, bool);

fn run(cases: Vec<Case>) {
    for (op, key, values, ctx, want) in cases {
        assert_eq!(holds(op, key, values, &ctx), want, "{op} {key} {values} in {ctx:?}");
    }
}

#[test]
fn string_operators() {
    let k = "aws:username";
    run(vec![
        ("StringEquals", k, r#""alice""#, with(k, "alice"), true),
        ("StringEquals", k, r#""alice""#, with(k, "Alice"), false),
        ("StringEquals", k, r#"["bob","alice"]"#, with(k, "alice"), true),
        ("StringEquals", k, r#""alice""#, none(), false),
        ("StringEquals", "AWS:USERNAME", r#""alice""#, with(k, "alice"), true),
        ("StringNotEquals", k, r#""alice""#, with(k, "bob"), true),
        ("StringNotEquals", k, r#""alice""#, with(k, "alice"), false),
        ("StringNotEquals", k, r#"["bob","alice"]"#, with(k, "alice"), false),
        ("StringNotEquals", k, r#"["bob","carol"]"#, with(k, "alice"), true),
        ("StringNotEquals", k, r#""alice""#, none(), true),
        ("StringEqualsIgnoreCase", k, r#""ALICE""#, with(k, "alice"), true),
        ("StringEqualsIgnoreCase", k, r#""ÉLISE""#, with(k, "élise"), true),
        ("StringEqualsIgnoreCase", k, r#""ALICE""#, none(), false),
        ("StringNotEqualsIgnoreCase", k, r#""ALICE""#, with(k, "alice"), false),
        ("StringNotEqualsIgnoreCase", k, r#""ALICE""#, with(k, "bob"), true),
        ("StringNotEqualsIgnoreCase", k, r#""ALICE""#, none(), true),
        ("StringLike", k, r#""al*""#, with(k, "alice"), true),
        ("StringLike", k, r#""a?ice""#, with(k, "alice"), true),
        ("StringLike", k, r#""A*""#, with(k, "alice"), false),
        ("StringLike", k, r#""al*""#, none(), false),
        ("StringNotLike", k, r#""al*""#, with(k, "bob"), true),
        ("StringNotLike", k, r#"["b*","al*"]"#, with(k, "alice"), false),
        ("StringNotLike", k, r#""al*""#, none(), true),
        // Values from JSON numbers/booleans compare as their text.
        ("StringEquals", "aws:x", "3600", with("aws:x", "3600"), true),
        ("StringEquals", "aws:SecureTransport", "true", with("aws:SecureTransport", true), true),
    ]);
}

#[test]
fn numeric_operators() {
    let k = "aws:MultiFactorAuthAge";
    let age = |n: i64| with(k, n);
    run(vec![
        ("NumericEquals", k, r#""600""#, age(600), true),
        ("NumericEquals", k, "600", age(601), false),
        ("NumericEquals", k, r#""600.0""#, age(600), true),
        ("NumericNotEquals", k, r#""600""#, age(601), true),
        ("NumericNotEquals", k, r#""600""#, age(600), false),
        ("NumericNotEquals", k, r#""600""#, none(), true),
        ("NumericLessThan", k, r#""3600""#, age(600), true),
        ("NumericLessThan", k, r#""3600""#, age(3600), false),
        ("NumericLessThanEquals", k, r#""3600""#, age(3600), true),
        ("NumericGreaterThan", k, r#""3600""#, age(3601), true),
        ("NumericGreaterThan", k, r#""3600""#, age(3600), false),
        ("NumericGreaterThan", k, r#""3600""#, none(), false),
        ("NumericGreaterThanEquals", k, r#""3600""#, age(3600), true),
        ("NumericGreaterThanEquals", k, r#""3600""#, with(k, "4000"), true),
        // Unparseable policy values never match.
        ("NumericLessThan", k, r#""abc""#, age(1), false),
        ("NumericLessThan", k, r#"["abc","10"]"#, age(1), true),
        ("NumericGreaterThanIfExists", k, r#""3600""#, none(), true),
        ("NumericGreaterThanIfExists", k, r#""3600""#, age(10), false),
    ]);
}

#[test]
fn date_operators() {
    let k = "aws:CurrentTime";
    let t = |s: &str| with(k, s.to_string());
    let e = "aws:EpochTime";
    run(vec![
        ("DateEquals", k, r#""2020-01-01T00:00:00Z""#, t("2020-01-01T00:00:00Z"), true),
        ("DateEquals", k, r#""2020-01-01""#, t("2020-01-01T00:00:00Z"), true),
        ("DateEquals", k, r#""1577836800""#, t("2020-01-01T00:00:00Z"), true),
        ("DateNotEquals", k, r#""2020-01-01""#, t("2020-01-02T00:00:00Z"), true),
        ("DateNotEquals", k, r#""2020-01-01""#, none(), true),
        ("DateLessThan", k, r#""2020-01-01T00:00:01Z""#, t("2020-01-01T00:00:00Z"), true),
        ("DateLessThan", k, r#""2020-01-01T00:00:00Z""#, t("2020-01-01T00:00:00Z"), false),
        ("DateLessThanEquals", k, r#""2020-01-01T00:00:00Z""#, t("2020-01-01T00:00:00Z"), true),
        ("DateGreaterThan", k, r#""2019-12-31T23:59:59.5Z""#, t("2020-01-01T00:00:00Z"), true),
        ("DateGreaterThan", k, r#""2020-01-01T01:00:00+02:00""#, t("2019-12-31T23:30:00Z"), true),
        ("DateGreaterThanEquals", k, r#""2020-01-01""#, t("2020-01-01T00:00:00Z"), true),
        ("DateGreaterThan", k, r#""2020-01-01""#, none(), false),
        ("DateLessThan", k, r#""not a date""#, t("2020-01-01T00:00:00Z"), false),
        // aws:EpochTime works with date and numeric operators alike.
        ("DateGreaterThan", e, r#""2020-01-01T00:00:00Z""#, with(e, 1_700_000_000i64), true),
        ("NumericGreaterThan", e, r#""1600000000""#, with(e, 1_700_000_000i64), true),
        ("DateLessThanIfExists", k, r#""2020-01-01""#, none(), true),
    ]);
}

#[test]
fn bool_binary_ip_null() {
    let m = "aws:MultiFactorAuthPresent";
    let ip = "aws:SourceIp";
    let addr = |s: &str| with(ip, s.parse::<std::net::IpAddr>().unwrap());
    run(vec![
        ("Bool", m, r#""true""#, with(m, true), true),
        ("Bool", m, r#""TRUE""#, with(m, true), true),
        ("Bool", m, "true", with(m, true), true),
        ("Bool", m, r#""true""#, with(m, false), false),
        ("Bool", m, r#""true""#, with(m, "true"), true),
        ("Bool", m, r#""yes""#, with(m, true), false),
        ("Bool", m, r#""false""#, none(), false),
        ("BoolIfExists", m, r#""false""#, none(), true),
        ("BoolIfExists", m, r#""false""#, with(m, true), false),
        (
            "BinaryEquals",
            "aws:bin",
            r#""QmluYXJ5VmFsdWU=""#,
            with("aws:bin", Value::Binary(b"BinaryValue".to_vec())),
            true,
        ),
        ("BinaryEquals", "aws:bin", r#""QmluYXJ5VmFsdWU=""#, with("aws:bin", Value::Binary(b"Other".to_vec())), false),
        ("BinaryEquals", "aws:bin", r#""QmluYXJ5VmFsdWU=""#, none(), false),
        ("IpAddress", ip, r#""203.0.113.0/24""#, addr("203.0.113.9"), true),
        ("IpAddress", ip, r#""203.0.113.0/24""#, addr("198.51.100.1"), false),
        ("IpAddress", ip, r#"["198.51.100.0/24","203.0.113.0/24"]"#, addr("198.51.100.1"), true),
        ("IpAddress", ip, r#""203.0.113.9""#, addr("203.0.113.9"), true),
        ("IpAddress", ip, r#""2001:DB8:1234:5678::/64""#, addr("2001:db8:1234:5678::1"), true),
        ("IpAddress", ip, r#""2001:DB8:1234:5678::/64""#, addr("2001:db8:1234:5679::1"), false),
        ("IpAddress", ip, r#""203.0.113.0/24""#, none(), false),
        ("NotIpAddress", ip, r#""203.0.113.0/24""#, addr("198.51.100.1"), true),
        ("NotIpAddress", ip, r#""203.0.113.0/24""#, addr("203.0.113.1"), false),
        ("NotIpAddress", ip, r#""203.0.113.0/24""#, none(), true),
        ("Null", m, r#""true""#, none(), true),
        ("Null", m, r#""true""#, with(m, false), false),
        ("Null", m, r#""false""#, with(m, false), true),
        ("Null", m, r#""false""#, none(), false),
        ("Null", m, "false", with(m, true), true),
    ]);
}

#[test]
fn arn_operators() {
    let k = "aws:PrincipalArn";
    let a = |s: &str| with(k, s);
    run(vec![
        ("ArnLike", k, r#""arn:aws:iam::*:role/ops/*""#, a("arn:aws:iam::123456789012:role/ops/Admin"), true),
        ("ArnEquals", k, r#""arn:aws:iam::*:role/ops/*""#, a("arn:aws:iam::123456789012:role/ops/Admin"), true),
        ("ArnLike", k, r#""arn:aws:iam::*:role/ops/*""#, a("arn:aws:iam::123456789012:user/ops/Admin"), false),
        ("ArnLike", k, r#""arn:aws:iam::*:ROLE/ops/*""#, a("arn:aws:iam::123456789012:role/ops/Admin"), false),
        ("ArnLike", k, r#""arn:aws:iam::1234567890?2:role/*""#, a("arn:aws:iam::123456789012:role/x"), true),
        // `*` in one field does not eat the next field.
        ("ArnLike", k, r#""arn:aws:*:role/x""#, a("arn:aws:iam::123456789012:role/x"), false),
        // A value with fewer than six fields never matches.
        ("ArnLike", k, r#""arn:aws:iam""#, a("arn:aws:iam"), false),
        ("ArnLike", k, r#""*""#, a("arn:aws:iam::1:role/x"), false),
        ("ArnLike", k, r#""arn:aws:iam::*:role/*""#, a("not-an-arn"), false),
        ("ArnLike", k, r#""arn:aws:iam::*:role/*""#, none(), false),
        ("ArnNotLike", k, r#""arn:aws:iam::*:role/ops/*""#, a("arn:aws:iam::1:role/dev/x"), true),
        ("ArnNotEquals", k, r#""arn:aws:iam::*:role/ops/*""#, a("arn:aws:iam::1:role/ops/x"), false),
        ("ArnNotLike", k, r#""arn:aws:iam::*:role/ops/*""#, none(), true),
        ("ArnLikeIfExists", k, r#""arn:aws:iam::*:role/ops/*""#, none(), true),
    ]);
}

#[test]
fn set_operators() {
    let k = "aws:TagKeys";
    run(vec![
        // ForAllValues: every request value among the policy values; absent/empty → true.
        ("ForAllValues:StringEquals", k, r#"["env","team"]"#, with(k, list(&["env"])), true),
        ("ForAllValues:StringEquals", k, r#"["env","team"]"#, with(k, list(&["env", "team"])), true),
        ("ForAllValues:StringEquals", k, r#"["env","team"]"#, with(k, list(&["env", "cost"])), false),
        ("ForAllValues:StringEquals", k, r#"["env","team"]"#, with(k, list(&[])), true),
        ("ForAllValues:StringEquals", k, r#"["env","team"]"#, none(), true),
        ("ForAllValues:StringLike", k, r#""e*""#, with(k, list(&["env", "eu"])), true),
        ("ForAllValues:StringNotEquals", k, r#"["secret"]"#, with(k, list(&["env", "team"])), true),
        ("ForAllValues:StringNotEquals", k, r#"["secret"]"#, with(k, list(&["env", "secret"])), false),
        // ForAnyValue: some request value among the policy values; absent/empty → false.
        ("ForAnyValue:StringEquals", k, r#"["env","team"]"#, with(k, list(&["cost", "team"])), true),
        ("ForAnyValue:StringEquals", k, r#"["env","team"]"#, with(k, list(&["cost"])), false),
        ("ForAnyValue:StringEquals", k, r#"["env","team"]"#, with(k, list(&[])), false),
        ("ForAnyValue:StringEquals", k, r#"["env","team"]"#, none(), false),
        ("ForAnyValue:StringEqualsIgnoreCase", k, r#""ENV""#, with(k, list(&["env"])), true),
        ("ForAnyValue:StringNotEquals", k, r#"["env"]"#, with(k, list(&["env", "x"])), true),
        ("ForAnyValue:StringNotEquals", k, r#"["env"]"#, with(k, list(&["env"])), false),
        ("ForAnyValue:StringLikeIfExists", k, r#""e*""#, none(), true),
        ("ForAnyValue:StringLikeIfExists", k, r#""e*""#, with(k, list(&["x"])), false),
        ("ForAllValues:StringLikeIfExists", k, r#""e*""#, none(), true),
        // A single-valued key under a set operator is a one-element set.
        ("ForAnyValue:StringEquals", "aws:username", r#""alice""#, with("aws:username", "alice"), true),
        // A multivalued key under a plain operator: any value.
        ("StringEquals", k, r#""env""#, with(k, list(&["team", "env"])), true),
        ("StringNotEquals", k, r#""env""#, with(k, list(&["team", "env"])), false),
        ("StringEquals", k, r#""env""#, with(k, list(&[])), false),
    ]);
}

#[test]
fn variables_in_condition_values() {
    let ctx = RequestContext::new()
        .with("aws:username", "alice")
        .with("aws:PrincipalTag/team", "eng")
        .with("aws:ResourceTag/team", "eng")
        .with("aws:PrincipalArn", "arn:aws:iam::123456789012:user/alice");
    run(vec![
        ("StringEquals", "aws:ResourceTag/team", r#""${aws:PrincipalTag/team}""#, ctx.clone(), true),
        ("StringEquals", "aws:ResourceTag/team", r#""${aws:PrincipalTag/missing}""#, ctx.clone(), false),
        ("StringEquals", "aws:ResourceTag/team", r#""${aws:PrincipalTag/missing, 'eng'}""#, ctx.clone(), true),
        // A missing variable is never equal, so the negated operator holds.
        ("StringNotEquals", "aws:ResourceTag/team", r#""${aws:PrincipalTag/missing}""#, ctx.clone(), true),
        ("StringLike", "aws:PrincipalArn", r#""arn:aws:iam::*:user/${aws:username}""#, ctx.clone(), true),
        ("ArnLike", "aws:PrincipalArn", r#""arn:aws:iam::*:user/${aws:username}""#, ctx.clone(), true),
        ("ArnLike", "aws:PrincipalArn", r#""arn:aws:iam::*:user/${aws:userid}""#, ctx.clone(), false),
        ("StringLike", "aws:username", r#""${*}""#, with("aws:username", "*"), true),
        ("StringLike", "aws:username", r#""${*}""#, with("aws:username", "alice"), false),
        // Not substituted in numeric values: the literal text does not parse, so no match.
        (
            "NumericEquals",
            "aws:MultiFactorAuthAge",
            r#""${aws:x}""#,
            with("aws:MultiFactorAuthAge", 1i64).with("aws:x", "1"),
            false,
        ),
    ]);
}

#[test]
fn legacy_version_has_no_variables() {
    let json = r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"${aws:username}"}}}}"#;
    let p = Policy::parse(json, PolicyKind::Identity).unwrap();
    let literal = Request::new("iam:GetUser", "*", with("aws:username", "${aws:username}"));
    let alice = Request::new("iam:GetUser", "*", with("aws:username", "alice"));
    assert!(evaluate(&literal, &[&p], None, &[]).is_allowed());
    assert!(!evaluate(&alice, &[&p], None, &[]).is_allowed());
}

#[test]
fn several_keys_and_operators_are_and() {
    let json = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
        "StringEquals":{"aws:username":"alice","aws:PrincipalType":"User"},
        "Bool":{"aws:SecureTransport":"true"}}}}"#;
    let p = Policy::parse(json, PolicyKind::Identity).unwrap();
    let base = RequestContext::new().with("aws:username", "alice").with("aws:PrincipalType", "User");
    let allowed = |ctx: RequestContext| evaluate(&Request::new("iam:GetUser", "*", ctx), &[&p], None, &[]).is_allowed();
    assert!(allowed(base.clone().with("aws:SecureTransport", true)));
    assert!(!allowed(base.clone().with("aws:SecureTransport", false)));
    assert!(!allowed(base.clone()));
    assert!(!allowed(base.with("aws:PrincipalType", "AssumedRole").with("aws:SecureTransport", true)));
}

/// Spec §4.3, statement by statement.
#[test]
fn mfa_patterns_4_3() {
    let m = "aws:MultiFactorAuthPresent";
    let age = "aws:MultiFactorAuthAge";
    let cols = [none(), with(m, false), with(m, true)];
    let table: &[(&str, &str, &str, [bool; 3])] = &[
        ("BoolIfExists", m, r#""false""#, [true, true, false]),
        ("Bool", m, r#""false""#, [false, true, false]),
        ("Bool", m, r#""true""#, [false, false, true]),
        ("BoolIfExists", m, r#""true""#, [true, false, true]),
        ("Null", m, r#""false""#, [false, true, true]),
    ];
    for (op, key, v, want) in table {
        for (ctx, w) in cols.iter().zip(want) {
            assert_eq!(holds(op, key, v, ctx), *w, "{op} {v} {ctx:?}");
        }
    }
    assert!(holds("NumericGreaterThanIfExists", age, r#""3600""#, &none()));
    assert!(holds("NumericGreaterThanIfExists", age, r#""3600""#, &with(age, 7200i64)));
    assert!(!holds("NumericGreaterThanIfExists", age, r#""3600""#, &with(age, 60i64)));
    assert!(!holds("NumericGreaterThan", age, r#""3600""#, &none()));
}

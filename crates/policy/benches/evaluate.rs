//! One request against 10 identity policies × 10 statements, the shape of a user with a few
//! groups: mostly non-matching actions, some resource variables and conditions, one allow and
//! one conditional deny that apply.

use criterion::{Criterion, criterion_group, criterion_main};
use iamd_policy::{Caller, Policy, PolicyKind, PrincipalType, Request, RequestContext, evaluate};
use std::hint::black_box;

fn policies() -> Vec<Policy> {
    (0..10)
        .map(|p| {
            let statements: Vec<String> = (0..10)
                .map(|s| match (p + s) % 5 {
                    0 => format!(
                        r#"{{"Sid":"S{p}{s}","Effect":"Allow","Action":["ec2:Describe*","s3:Get*","dynamodb:Query{s}"],"Resource":"*"}}"#
                    ),
                    1 => format!(
                        r#"{{"Effect":"Allow","Action":["iam:ChangePassword","iam:*AccessKey{s}*"],"Resource":"arn:aws:iam::*:user/${{aws:username}}"}}"#
                    ),
                    2 => format!(
                        r#"{{"Effect":"Allow","Action":"iam:List*","Resource":"arn:aws:iam::123456789012:role/team{s}/*","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"t{s}"}}}}}}"#
                    ),
                    3 => format!(
                        r#"{{"Effect":"Deny","NotAction":["iam:Get*","sts:GetSessionToken","iam:ListMFADevices"],"Resource":"arn:aws:s3:::bucket{s}/*","Condition":{{"BoolIfExists":{{"aws:MultiFactorAuthPresent":"false"}}}}}}"#
                    ),
                    _ => format!(
                        r#"{{"Effect":"Allow","Action":"iam:Get*","Resource":["arn:aws:iam::*:user/eng/*","arn:aws:iam::*:group/g{s}"],"Condition":{{"IpAddress":{{"aws:SourceIp":["10.0.0.0/8","192.168.{s}.0/24"]}},"Bool":{{"aws:SecureTransport":"true"}}}}}}"#
                    ),
                })
                .collect();
            let json = format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","));
            Policy::parse(&json, PolicyKind::Identity).unwrap()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let policies = policies();
    let refs: Vec<&Policy> = policies.iter().collect();
    let ctx = RequestContext::new()
        .with("aws:username", "alice")
        .with("aws:userid", "AIDAJ45Q7YFFAREXAMPLE")
        .with("aws:PrincipalTag/team", "t3")
        .with("aws:SourceIp", "10.1.2.3".parse::<std::net::IpAddr>().unwrap())
        .with("aws:SecureTransport", true)
        .with("aws:MultiFactorAuthPresent", true);
    let get_user = Request::new("iam:GetUser", "arn:aws:iam::123456789012:user/eng/alice", ctx.clone());
    let denied = Request::new("iam:DeleteRole", "arn:aws:iam::123456789012:role/x", ctx);
    assert!(evaluate(&get_user, &refs, None, &[]).is_allowed());
    assert!(!evaluate(&denied, &refs, None, &[]).is_allowed());
    c.bench_function("evaluate 10x10 allowed", |b| b.iter(|| evaluate(black_box(&get_user), &refs, None, &[])));
    c.bench_function("evaluate 10x10 implicit deny", |b| b.iter(|| evaluate(black_box(&denied), &refs, None, &[])));
    // What the server does per request for a user: the principal's keys, the session and time
    // keys, then the evaluation (authz::decide).
    let caller = Caller {
        principal_type: PrincipalType::User,
        account: "123456789012".into(),
        arn: "arn:aws:iam::123456789012:user/eng/alice".into(),
        principal_arn: "arn:aws:iam::123456789012:user/eng/alice".into(),
        user_id: "AIDAJ45Q7YFFAREXAMPLE".into(),
        username: Some("alice".into()),
        tags: vec![("team".into(), "t3".into())],
    };
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    c.bench_function("context + evaluate 10x10 allowed", |b| {
        b.iter(|| {
            let mut ctx = RequestContext::new();
            black_box(&caller).fill_context(&mut ctx);
            ctx.insert("aws:MultiFactorAuthPresent", true);
            ctx.insert("aws:MultiFactorAuthAge", 60i64);
            ctx.insert("aws:CurrentTime", now);
            ctx.insert("aws:EpochTime", now.unix_timestamp());
            ctx.insert("aws:SourceIp", "10.1.2.3".parse::<std::net::IpAddr>().unwrap());
            let request = Request::new("iam:GetUser", "arn:aws:iam::123456789012:user/eng/alice", ctx);
            evaluate(&request, &refs, None, &[])
        })
    });
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        std::iter::repeat_n(r#"{"Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"arn:aws:iam::*:user/${aws:username}","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}"#, 10).collect::<Vec<_>>().join(",")
    );
    c.bench_function("parse 10 statements", |b| b.iter(|| Policy::parse(black_box(&text), PolicyKind::Identity)));
}

criterion_group!(benches, bench);
criterion_main!(benches);

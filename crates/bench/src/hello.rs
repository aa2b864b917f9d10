//! The HTTP ceiling: a minimal hyper 1 server answering every request with a small fixed XML
//! body, after reading the request body (as any query API server must).

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BODY: &[u8] = b"<GetUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
<GetUserResult><User><Path>/</Path><UserName>hello</UserName><UserId>AIDAHELLOHELLOHELLO12</UserId>\
<Arn>arn:aws:iam::123456789012:user/hello</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></User>\
</GetUserResult><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId>\
</ResponseMetadata></GetUserResponse>";

async fn answer(request: http::Request<hyper::body::Incoming>) -> Result<http::Response<Full<Bytes>>, Infallible> {
    // Reading the body is part of the work of a query API server; a broken body still gets the answer.
    let _ = request.into_body().collect().await;
    let response = http::Response::builder()
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", "00000000-0000-0000-0000-000000000000")
        .body(Full::new(Bytes::from_static(BODY)))
        .expect("static response is valid");
    Ok(response)
}

pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        bail!("hello listens on loopback addresses only");
    }
    let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    eprintln!("hello: serving on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

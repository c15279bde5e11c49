//! `bench-fn`: a Lambda function built with `lambda_http` that answers
//! every request with the page `fixture-http-app` serves (the same bytes),
//! so that cargo-lambda's emulator can be compared with the other paths.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

/// The page of `fixture-http-app` (bench/run.sh checks that every path
/// returns the same body).
const PAGE: &str = include_str!("../../../crates/fixtures/src/bin/page.html");

async fn answer(_req: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/html; charset=utf-8")
        .body(Body::Text(PAGE.to_owned()))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(answer)).await
}

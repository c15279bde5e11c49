//! `ownstak logs` on AWS: a function's log group in moto's CloudWatch Logs,
//! read with FilterLogEvents, attributed to invocations and deployments,
//! and polled for new events as `--follow` does.

use aws_credential_types::Credentials;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use ownstak_aws::{AwsSettings, CloudWatchLogs, function_log_group};
use ownstak_deploy::{Deployment, LogFilter, LogReader};
use ownstak_testkit::moto::Moto;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn put(client: &aws_sdk_cloudwatchlogs::Client, group: &str, stream: &str, messages: &[&str]) {
    let at = now_ms();
    let events: Vec<InputLogEvent> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| InputLogEvent::builder().timestamp(at + i as i64).message(*m).build().unwrap())
        .collect();
    client
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
}

/// A CloudWatch Logs client of moto's account.
async fn logs_client(moto: &Moto) -> aws_sdk_cloudwatchlogs::Client {
    let settings = AwsSettings {
        profile: None,
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.url.clone()),
        credentials: Some(Credentials::new("testing", "testing", None, None, "test")),
    };
    aws_sdk_cloudwatchlogs::Client::new(&settings.load("test").await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_logs_are_read_attributed_and_followed() {
    let moto = Moto::start(0);
    let client = logs_client(&moto).await;
    let function = "ownstak_acme_prod-web-prod";
    let since = now_ms() - 1000;

    // No log group yet (the function never ran): no lines, no error.
    let mut logs = CloudWatchLogs::with_client(client.clone(), function, since);
    assert!(logs.next_events().await.unwrap().is_empty());

    let group = function_log_group(function);
    let stream = "2026/11/29/[4]0123456789abcdef0123456789abcdef";
    client.create_log_group().log_group_name(&group).send().await.unwrap();
    client.create_log_stream().log_group_name(&group).log_stream_name(stream).send().await.unwrap();
    put(
        &client,
        &group,
        stream,
        &[
            "START RequestId: lam-1 Version: 4",
            "2026-11-29T10:00:00.001Z\tlam-1\treq-1\trequest\tGET /cart",
            "2026-11-29T10:00:00.002Z\tlam-1\treq-1\tstdout\trendering the cart",
            "END RequestId: lam-1",
            "REPORT RequestId: lam-1\tDuration: 2.00 ms",
        ],
    )
    .await;

    let deployments = [Deployment {
        deployment: 6,
        version: "4".into(),
        deployed_at: None,
        live: true,
        deployment_id: None,
        retired_at: None,
    }];
    let mut reader = LogReader::new(&deployments);
    let filter = LogFilter { request_id: Some("req-1".into()), ..LogFilter::default() };
    let events = logs.next_events().await.unwrap();
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(events.iter().all(|e| e.stream.as_deref() == Some(stream) && e.time.is_some()));
    let records = reader.read(&events, &filter);
    assert_eq!(records.len(), 5, "every line of the request, found by the proxy's id: {records:?}");
    for r in &records {
        assert_eq!(
            (r.deployment, r.request_id.as_deref(), r.lambda_request_id.as_deref()),
            (Some(6), Some("req-1"), Some("lam-1"))
        );
    }

    // Following: the next poll has only what came since.
    assert!(logs.next_events().await.unwrap().is_empty(), "nothing is read twice");
    put(&client, &group, stream, &["START RequestId: lam-2 Version: 4", "END RequestId: lam-2"]).await;
    let more = logs.next_events().await.unwrap();
    let messages: Vec<&str> = more.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["START RequestId: lam-2 Version: 4", "END RequestId: lam-2"]);
    assert!(reader.read(&more, &filter).is_empty(), "another request's lines are not shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_access_log_is_read_from_the_proxy_log_group() {
    let moto = Moto::start(0);
    let client = logs_client(&moto).await;
    let group = ownstak_aws::proxy_log_group("ownstak_acme_prod", "acme", "prod");
    assert_eq!(group, "/ownstak/ownstak_acme_prod/acme/prod/proxy", "the name the stack gives the group");
    let stream = "proxy/proxy/0123456789abcdef";
    client.create_log_group().log_group_name(&group).send().await.unwrap();
    client.create_log_stream().log_group_name(&group).log_stream_name(stream).send().await.unwrap();
    // As the proxy task writes them with `--log-format json`: access lines among others.
    let access = r#"{"timestamp":"2026-11-29T10:00:00.000123Z","level":"INFO","fields":{"message":"request","request_id":"req-9","method":"GET","host":"web-prod.prod.acme.ownstak.link","path":"/cart","function":"ownstak_acme_prod-web-prod","qualifier":"current","status":200,"duration_ms":3.2,"bytes_in":0,"bytes_out":512},"target":"ownstak::access"}"#;
    let other = r#"{"timestamp":"2026-11-29T10:00:00.000200Z","level":"WARN","fields":{"message":"cannot read the purge log"},"target":"ownstak_proxy::cache::purge"}"#;
    put(&client, &group, stream, &[access, other]).await;

    let mut logs = CloudWatchLogs::of_group(client, group, now_ms() - 60_000);
    let events = logs.next_events().await.unwrap();
    let records: Vec<_> = events.iter().filter_map(|e| ownstak_deploy::AccessRecord::parse(&e.message)).collect();
    assert_eq!(records.len(), 1, "{events:?}");
    assert_eq!((records[0].request_id.as_str(), records[0].status, records[0].path.as_str()), ("req-9", 200, "/cart"));
    assert!(logs.next_events().await.unwrap().is_empty(), "a poll shows only new events");
}

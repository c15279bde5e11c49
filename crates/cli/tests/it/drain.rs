//! Graceful restarts: a proxy that gets SIGTERM under load turns its health
//! to 503, keeps serving every request (new connections included) until
//! the load is gone, then exits cleanly. Not one request may fail.

use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ownstak_testkit::{Backend, ServerProcess, tempdir, workspace_root};

const HOST: &str = "hello-prod.local.dev.localhost";
const CLIENTS: usize = 6;
const BEFORE: usize = 5;
const AFTER: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_fails_no_request() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    backend.deploy(&workspace_root().join("examples/hello"), "hello", "prod", &[]);
    let argv = ["proxy", "--json", "--proxy-addr", "127.0.0.1:0", "--lambda-endpoint", &backend.lambda];
    let args: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
    let proxy = ServerProcess::start(&args);
    let addr = proxy.addr("proxy");
    let pid = proxy.pid() as i32;

    let done_before = Arc::new(AtomicUsize::new(0));
    let terminated = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let (done_before, terminated) = (done_before.clone(), terminated.clone());
        clients.push(tokio::spawn(async move {
            // Half the clients keep their connection; the others open a new one per request.
            let keep_alive = i % 2 == 0;
            let shared = reqwest::Client::builder().no_proxy().build().unwrap();
            let (mut before, mut after, mut failures) = (0, 0, Vec::new());
            while after < AFTER {
                let client =
                    if keep_alive { shared.clone() } else { reqwest::Client::builder().no_proxy().build().unwrap() };
                let was_terminated = terminated.load(Ordering::SeqCst);
                match client.get(format!("http://{addr}/")).header("host", HOST).send().await {
                    Ok(r) => {
                        let status = r.status();
                        match r.text().await {
                            Ok(_) if status == 200 => {}
                            Ok(_) => failures.push(format!("status {status}")),
                            Err(e) => failures.push(format!("body: {e}")),
                        }
                    }
                    Err(e) => failures.push(e.to_string()),
                }
                if was_terminated {
                    after += 1;
                } else {
                    before += 1;
                    if before == BEFORE {
                        done_before.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            failures
        }));
    }
    // SIGTERM once every client has completed some requests.
    while done_before.load(Ordering::SeqCst) < CLIENTS {
        tokio::task::yield_now().await;
    }
    // SAFETY: kill(2) on our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    // Health turns 503 while requests are still served.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    loop {
        let r = http
            .get(format!("http://{addr}/__ownstak__/health"))
            .send()
            .await
            .expect("the draining proxy still accepts connections");
        if r.status() == 503 {
            break;
        }
        tokio::task::yield_now().await;
    }
    terminated.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for c in clients {
        failures.extend(c.await.unwrap());
    }
    assert!(failures.is_empty(), "requests failed during the drain: {failures:?}");
    let status = proxy.stop();
    assert!(status.success(), "the proxy exits cleanly after draining: {status:?}");
    assert!(backend.stop().success());
}

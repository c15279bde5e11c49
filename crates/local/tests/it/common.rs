//! Helpers shared by the local service's integration tests.

use std::net::SocketAddr;
use std::path::Path;

use aws_sdk_lambda::Client;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The execution role given to test functions.
pub(crate) const ROLE: &str = "arn:aws:iam::000000000000:role/test";

/// An in-process service on a free port.
pub(crate) struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ownstak_local::ServerError>>,
}

impl Server {
    pub(crate) async fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, |_| {}).await
    }

    /// A server whose defaults `tweak` changes first.
    pub(crate) async fn start_with(data_dir: &Path, tweak: impl FnOnce(&mut ownstak_local::LocalConfig)) -> Server {
        let mut config = ownstak_local::LocalConfig::new(data_dir.to_path_buf());
        config.lambda_addr = "127.0.0.1:0".parse().unwrap();
        tweak(&mut config);
        let lambda = ownstak_local::LocalLambda::bind(config).await.expect("bind the local Lambda service");
        let addr = lambda.local_addr();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(lambda.serve(async move {
            let _ = rx.await;
        }));
        Server { addr, stop, task }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn client(&self) -> Client {
        ownstak_testkit::lambda_client(&self.endpoint())
    }

    pub(crate) async fn stop(self) {
        self.stop.send(()).expect("server still running");
        self.task.await.expect("server task").expect("server stopped cleanly");
    }
}

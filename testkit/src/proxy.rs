//! A TCP proxy that holds back every chunk going one way for a delay that can be changed while
//! it runs. Holding back the answers: the request reaches the upstream (billing charges), its
//! answer comes late (order has given up waiting). Holding back the requests: the upstream sees
//! a request late, after whatever the client sent meanwhile on another connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which way the proxy holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The upstream's answers.
    Answers,
    /// The client's requests.
    Requests,
}

pub struct SlowProxy {
    pub addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowProxy {
    pub async fn start(upstream: SocketAddr, delay: Duration, held: Held) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let delay_ms = Arc::new(AtomicU64::new(delay.as_millis() as u64));
        let delay = delay_ms.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let delay = delay.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, delay, held).await;
                    }
                });
            }
        });
        Ok(Self {
            addr,
            delay_ms,
            task,
        })
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, delay: Arc<AtomicU64>, held: Held) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (up, down) = match held {
        Held::Requests => (Some(delay), None),
        Held::Answers => (None, Some(delay)),
    };
    tokio::join!(
        pipe(client_read, server_write, up),
        pipe(server_read, client_write, down)
    );
}

/// Copies until either end closes, sleeping `delay` before passing on each chunk.
async fn pipe(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    delay: Option<Arc<AtomicU64>>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let ms = delay.as_ref().map_or(0, |d| d.load(Ordering::Relaxed));
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

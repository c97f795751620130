//! `/ws`: WebSocket echo.

use futures_util::{SinkExt, StreamExt};
use rauta_echo::EchoConfig;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{get, send_h1, start};

#[tokio::test]
async fn websocket_messages_are_echoed() {
    let server = start(EchoConfig::default()).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let url = format!("ws://{}/ws", server.addr);
    let (mut ws, response) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(response.status(), 101);

    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(vec![0u8, 1, 2, 255]));
    ws.send(Message::Ping(b"p".to_vec().into())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Pong(b"p".to_vec().into()));

    ws.close(None).await.unwrap();
    while let Some(Ok(message)) = ws.next().await {
        assert!(message.is_close(), "{message:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn websocket_route_without_upgrade_is_a_bad_request() {
    let server = start(EchoConfig::default()).await;
    let answer = send_h1(server.addr, get("/ws", "h")).await.unwrap();
    assert_eq!(answer.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn open_websockets_are_closed_on_shutdown() {
    let server = start(EchoConfig::default()).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let url = format!("ws://{}/ws", server.addr);
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    server.stop().await;
    let next = tokio::time::timeout(std::time::Duration::from_secs(3), ws.next())
        .await
        .expect("the server closes the websocket");
    assert!(
        matches!(next, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
        "{next:?}"
    );
}

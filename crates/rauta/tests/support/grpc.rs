//! A real gRPC client (tonic) for the conformance suite's `GrpcEcho` service.

#![allow(dead_code)] // each test file uses a different part of the harness

use http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

/// The service the conformance echo backend implements.
pub const SERVICE: &str = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

/// `EchoRequest {}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {}

/// `EchoResponse { assertions = 1; request = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoResponse {
    #[prost(message, optional, tag = "1")]
    pub assertions: Option<Assertions>,
}

/// What the backend saw.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Assertions {
    #[prost(string, tag = "1")]
    pub fully_qualified_method: String,
    #[prost(message, repeated, tag = "2")]
    pub headers: Vec<Header>,
    #[prost(string, tag = "3")]
    pub authority: String,
    #[prost(message, optional, tag = "4")]
    pub context: Option<Context>,
}

/// One metadata entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Header {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The backend's identity.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Context {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub ingress: String,
    #[prost(string, tag = "3")]
    pub service_name: String,
    #[prost(string, tag = "4")]
    pub pod: String,
}

impl EchoResponse {
    /// The pod that answered.
    pub fn pod(&self) -> &str {
        self.assertions
            .as_ref()
            .and_then(|a| a.context.as_ref())
            .map_or("", |c| c.pod.as_str())
    }

    /// A metadata value the backend received.
    pub fn header(&self, key: &str) -> Option<&str> {
        let a = self.assertions.as_ref()?;
        a.headers.iter().find(|h| h.key == key).map(|h| h.value.as_str())
    }
}

/// A channel (one HTTP/2 connection, h2c) to `127.0.0.1:port` whose calls carry `authority`.
pub async fn channel(port: u16, authority: &str) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .origin(format!("http://{authority}").parse().expect("origin"))
        .connect()
        .await
        .expect("connect")
}

/// Calls `method` of the echo service with `metadata`.
pub async fn call(
    channel: &Channel,
    method: &str,
    metadata: &[(&'static str, &str)],
) -> Result<EchoResponse, tonic::Status> {
    let mut client = tonic::client::Grpc::new(channel.clone());
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(EchoRequest {});
    for (key, value) in metadata {
        request
            .metadata_mut()
            .insert(*key, value.parse().expect("metadata value"));
    }
    let path = PathAndQuery::try_from(format!("/{SERVICE}/{method}")).expect("path");
    let codec = tonic_prost::ProstCodec::<EchoRequest, EchoResponse>::default();
    client
        .unary(request, path, codec)
        .await
        .map(tonic::Response::into_inner)
}

//! HTTP-FLV playback from the worker that holds the publisher: [`hub`] fans each live
//! stream's tags out to its viewers, [`http`] serves `GET /live/{stream_name}.flv`, and
//! [`relay`] pulls lives other workers hold for this worker's viewers.

pub mod http;
pub mod hub;
pub mod relay;

pub use hub::{FlvHubs, FlvPublisher, FlvViewer, SubscribeError};

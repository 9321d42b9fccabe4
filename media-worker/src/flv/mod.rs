//! HTTP-FLV playback from the worker that holds the publisher: [`hub`] fans each live
//! stream's tags out to its viewers, [`http`] serves `GET /live/{stream_name}.flv`.

pub mod http;
pub mod hub;

pub use hub::{FlvHubs, FlvPublisher, FlvViewer, SubscribeError};

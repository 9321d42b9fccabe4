//! HTTP-FLV playback from the worker that holds the publisher: [`hub`] fans each live
//! stream's tags out to its viewers (through a [`live_file`] with `sendfile`), [`http`]
//! decides who plays what, [`socket`] serves
//! `GET /live/{stream_name}.flv` on the viewer's socket, and [`relay`] pulls lives other
//! workers hold for this worker's viewers.

pub mod http;
pub mod hub;
pub mod live_file;
pub mod relay;
pub mod socket;

pub use hub::{FlvHubs, FlvPublisher, FlvViewer, SubscribeError};

//! HLS: the [`Segmenter`] (FLV tag bodies → MPEG-TS segments) and media
//! playlists ([`playlist`]).

mod date_time;
pub mod playlist;
mod segmenter;
mod timeline;

pub use date_time::{format_program_date_time, parse_program_date_time};
pub use playlist::{
    parse_media_playlist, render_vod_playlist, LivePlaylist, LivePlaylistConfig, MediaPlaylist,
    PlaylistSegment, PlaylistType,
};
pub use segmenter::{Segment, Segmenter, SegmenterConfig, SegmenterStats};

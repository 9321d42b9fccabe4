//! Rooms: the stored [`Room`], the create and patch requests, and their validation rules
//! (pure; the caller passes `now` and the start lead time).

use crate::error::Invalid;
use crate::live_status::LiveStatus;
use serde::{Deserialize, Serialize};

/// Longest allowed live, in seconds (12 h, as WeChat).
pub const MAX_DURATION_S: i64 = 12 * 3600;
/// How far ahead a live may be scheduled, in seconds (180 days).
pub const MAX_SCHEDULE_AHEAD_S: i64 = 180 * 24 * 3600;
/// Most goods on one room.
pub const MAX_GOODS: usize = 100;
/// Longest name (room, anchor, goods), in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest URL or mini-program path, in bytes.
pub const MAX_URL_LEN: usize = 1024;
/// Highest goods price, in cents (100 million yuan).
pub const MAX_PRICE_CENTS: i64 = 10_000_000_000;

/// A positive room id, unique within an app (WeChat's `roomid`).
pub type RoomId = u64;

/// One goods item on a room's shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goods {
    /// Picture URL.
    pub cover_img: String,
    /// Mini-program page path (or URL) opened on tap.
    pub url: String,
    /// Price in cents.
    pub price: i64,
    /// Display name.
    pub name: String,
}

/// A live room as stored and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// Owner app.
    pub app_id: String,
    /// Positive id, unique within the app.
    pub room_id: RoomId,
    /// Room title.
    pub name: String,
    /// Cover picture URL.
    pub cover_img: String,
    /// Anchor's display name.
    pub anchor_name: String,
    /// Anchor's avatar URL.
    pub anchor_img: String,
    /// Planned start (unix seconds).
    pub start_time: i64,
    /// Planned end (unix seconds).
    pub end_time: i64,
    /// Goods shelf.
    pub goods: Vec<Goods>,
    /// Likes are off.
    pub close_like: bool,
    /// Comments are off.
    pub close_comment: bool,
    /// No replay is kept.
    pub close_replay: bool,
    /// WeChat status code.
    pub live_status: LiveStatus,
    /// `{app_id}_{room_id}`: the RTMP stream name.
    pub stream_name: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last change of any field or status (unix seconds).
    pub updated_at: i64,
    /// Optimistic-concurrency version, bumped on every write.
    #[serde(skip)]
    pub version: u64,
    /// Sessions and timers behind `live_status` (internal).
    #[serde(skip)]
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// The stored live-session item's version and timer (internal).
    #[serde(skip)]
    pub live_item: crate::lifecycle::LiveItem,
}

/// The stream name of a room: `{app_id}_{room_id}`.
pub fn stream_name(app_id: &str, room_id: RoomId) -> String {
    format!("{app_id}_{room_id}")
}

/// Splits a stream name back into app id and room id (no lookup needed). Only the canonical
/// form [`stream_name`] makes is accepted: `demo_07`, `demo_+7` and `demo_0` are not names.
pub fn parse_stream_name(stream_name: &str) -> Option<(&str, RoomId)> {
    let (app, room) = stream_name.rsplit_once('_')?;
    if room.starts_with('0') || !room.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let room: RoomId = room.parse().ok().filter(|r| *r > 0)?;
    crate::app::validate_app_id(app).ok()?;
    Some((app, room))
}

/// `POST /v1/rooms` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// 1–64 characters.
    pub name: String,
    /// Cover picture URL.
    #[serde(default)]
    pub cover_img: String,
    /// 1–64 characters.
    pub anchor_name: String,
    /// Anchor avatar URL.
    #[serde(default)]
    pub anchor_img: String,
    /// Unix seconds, ≥ now + the start lead time.
    pub start_time: i64,
    /// Unix seconds, after `start_time`, at most 12 h later.
    pub end_time: i64,
    /// At most 100.
    #[serde(default)]
    pub goods: Vec<Goods>,
    /// Likes are off.
    #[serde(default)]
    pub close_like: bool,
    /// Comments are off.
    #[serde(default)]
    pub close_comment: bool,
    /// No replay is kept.
    #[serde(default)]
    pub close_replay: bool,
}

/// `PATCH /v1/rooms/{room_id}` body: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchRoom {
    /// New name.
    pub name: Option<String>,
    /// New cover URL.
    pub cover_img: Option<String>,
    /// New anchor name.
    pub anchor_name: Option<String>,
    /// New anchor avatar URL.
    pub anchor_img: Option<String>,
    /// New planned start (only before the live starts).
    pub start_time: Option<i64>,
    /// New planned end (only before the live starts).
    pub end_time: Option<i64>,
    /// Replaces the whole goods list.
    pub goods: Option<Vec<Goods>>,
    /// Likes off.
    pub close_like: Option<bool>,
    /// Comments off.
    pub close_comment: Option<bool>,
    /// Replay off.
    pub close_replay: Option<bool>,
}

impl PatchRoom {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == PatchRoom::default()
    }
}

fn check_name(field: &str, v: &str) -> Result<(), Invalid> {
    let n = v.chars().count();
    if v.trim().is_empty() || n > MAX_NAME_CHARS {
        return Err(Invalid::field(
            field,
            format_args!("must be 1-{MAX_NAME_CHARS} characters (got {n})"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(Invalid::field(field, "must not contain control characters"));
    }
    Ok(())
}

/// Empty, or an `http://`/`https://` URL without whitespace, ≤ 1024 bytes.
fn check_url(field: &str, v: &str) -> Result<(), Invalid> {
    if v.is_empty() {
        return Ok(());
    }
    let scheme_ok = v.starts_with("https://") || v.starts_with("http://");
    if !scheme_ok || v.len() > MAX_URL_LEN || v.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Invalid::field(
            field,
            format_args!("must be an http(s) URL of at most {MAX_URL_LEN} bytes without spaces"),
        ));
    }
    Ok(())
}

fn check_goods(goods: &[Goods]) -> Result<(), Invalid> {
    if goods.len() > MAX_GOODS {
        return Err(Invalid::field(
            "goods",
            format_args!("at most {MAX_GOODS} items (got {})", goods.len()),
        ));
    }
    for (i, g) in goods.iter().enumerate() {
        check_name(&format!("goods[{i}].name"), &g.name)?;
        check_url(&format!("goods[{i}].cover_img"), &g.cover_img)?;
        if g.url.trim().is_empty()
            || g.url.len() > MAX_URL_LEN
            || g.url.chars().any(char::is_control)
        {
            return Err(Invalid::field(
                &format!("goods[{i}].url"),
                format_args!("must be a page path or URL of 1-{MAX_URL_LEN} bytes"),
            ));
        }
        if !(0..=MAX_PRICE_CENTS).contains(&g.price) {
            return Err(Invalid::field(
                &format!("goods[{i}].price"),
                format_args!("must be 0-{MAX_PRICE_CENTS} cents (got {})", g.price),
            ));
        }
    }
    Ok(())
}

/// Checks the schedule: `start_time ≥ now + lead` (when `check_lead`), at most 180 days
/// ahead, `end_time > start_time`, and a duration of at most 12 h.
pub fn check_schedule(
    start_time: i64,
    end_time: i64,
    now: i64,
    min_start_lead_s: i64,
    check_lead: bool,
) -> Result<(), Invalid> {
    if check_lead && start_time < now.saturating_add(min_start_lead_s) {
        return Err(Invalid::field(
            "start_time",
            format_args!(
                "must be at least {min_start_lead_s} s after now ({now}); got {start_time}"
            ),
        ));
    }
    if start_time > now.saturating_add(MAX_SCHEDULE_AHEAD_S) {
        return Err(Invalid::field(
            "start_time",
            format_args!("must be within 180 days of now ({now}); got {start_time}"),
        ));
    }
    if end_time <= start_time {
        return Err(Invalid::field(
            "end_time",
            format_args!("must be after start_time ({start_time}); got {end_time}"),
        ));
    }
    if end_time - start_time > MAX_DURATION_S {
        return Err(Invalid::field(
            "end_time",
            format_args!(
                "a live lasts at most 12 h ({MAX_DURATION_S} s); end_time - start_time = {}",
                end_time - start_time
            ),
        ));
    }
    Ok(())
}

impl CreateRoom {
    /// Validates every rule of `POST /v1/rooms`.
    pub fn validate(&self, now: i64, min_start_lead_s: i64) -> Result<(), Invalid> {
        check_name("name", &self.name)?;
        check_name("anchor_name", &self.anchor_name)?;
        check_url("cover_img", &self.cover_img)?;
        check_url("anchor_img", &self.anchor_img)?;
        check_schedule(self.start_time, self.end_time, now, min_start_lead_s, true)?;
        check_goods(&self.goods)
    }
}

impl Room {
    /// A new room (status 102) from a validated create request.
    pub fn new(app_id: &str, room_id: RoomId, req: CreateRoom, now: i64) -> Room {
        Room {
            app_id: app_id.to_string(),
            room_id,
            stream_name: stream_name(app_id, room_id),
            name: req.name,
            cover_img: req.cover_img,
            anchor_name: req.anchor_name,
            anchor_img: req.anchor_img,
            start_time: req.start_time,
            end_time: req.end_time,
            goods: req.goods,
            close_like: req.close_like,
            close_comment: req.close_comment,
            close_replay: req.close_replay,
            live_status: LiveStatus::NotStarted,
            created_at: now,
            updated_at: now,
            version: 1,
            lifecycle: crate::lifecycle::Lifecycle {
                status_since: now,
                ..Default::default()
            },
            live_item: Default::default(),
        }
    }

    /// Applies `patch` and validates the result. Times can only change before the live starts
    /// (status 102); nothing can change while a live session is in progress.
    pub fn apply_patch(
        &self,
        patch: &PatchRoom,
        now: i64,
        min_start_lead_s: i64,
    ) -> Result<Room, Invalid> {
        if self.live_status.session_in_progress() {
            return Err(Invalid::Conflict(format!(
                "room {} is live (live_status {}); edit it after the live ends",
                self.room_id, self.live_status
            )));
        }
        let mut r = self.clone();
        if let Some(v) = &patch.name {
            check_name("name", v)?;
            r.name = v.clone();
        }
        if let Some(v) = &patch.anchor_name {
            check_name("anchor_name", v)?;
            r.anchor_name = v.clone();
        }
        if let Some(v) = &patch.cover_img {
            check_url("cover_img", v)?;
            r.cover_img = v.clone();
        }
        if let Some(v) = &patch.anchor_img {
            check_url("anchor_img", v)?;
            r.anchor_img = v.clone();
        }
        if let Some(g) = &patch.goods {
            check_goods(g)?;
            r.goods = g.clone();
        }
        if patch.start_time.is_some() || patch.end_time.is_some() {
            if self.live_status != LiveStatus::NotStarted {
                return Err(Invalid::Conflict(format!(
                    "start_time and end_time can only change before the live starts (live_status 102); room {} is {}",
                    self.room_id, self.live_status
                )));
            }
            r.start_time = patch.start_time.unwrap_or(r.start_time);
            r.end_time = patch.end_time.unwrap_or(r.end_time);
            let start_changed = r.start_time != self.start_time;
            check_schedule(
                r.start_time,
                r.end_time,
                now,
                min_start_lead_s,
                start_changed,
            )?;
        }
        r.close_like = patch.close_like.unwrap_or(r.close_like);
        r.close_comment = patch.close_comment.unwrap_or(r.close_comment);
        r.close_replay = patch.close_replay.unwrap_or(r.close_replay);
        r.updated_at = now;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn req() -> CreateRoom {
        CreateRoom {
            name: "直播房间名".into(),
            cover_img: "https://example.com/c.jpg".into(),
            anchor_name: "李四".into(),
            anchor_img: String::new(),
            start_time: NOW + 600,
            end_time: NOW + 600 + 3600,
            goods: vec![Goods {
                cover_img: "https://example.com/g.png".into(),
                url: "pages/index/index.html".into(),
                price: 1100,
                name: "fdgfgf".into(),
            }],
            close_like: false,
            close_comment: false,
            close_replay: false,
        }
    }

    fn field_of(e: Invalid) -> String {
        match e {
            Invalid::Field { field, .. } => field,
            Invalid::Conflict(msg) => msg,
        }
    }

    #[test]
    fn valid_request_passes() {
        assert_eq!(req().validate(NOW, 600), Ok(()));
    }

    #[test]
    fn each_rule_names_its_field() {
        type Case = (&'static str, fn(&mut CreateRoom));
        let cases: Vec<Case> = vec![
            ("name", |r| r.name = String::new()),
            ("name", |r| r.name = "x".repeat(65)),
            ("name", |r| r.name = "a\u{0}b".into()),
            ("anchor_name", |r| r.anchor_name = "  ".into()),
            ("cover_img", |r| r.cover_img = "ftp://x".into()),
            ("anchor_img", |r| r.anchor_img = "https://a b".into()),
            ("start_time", |r| r.start_time = NOW + 599),
            ("start_time", |r| {
                r.start_time = NOW + MAX_SCHEDULE_AHEAD_S + 1
            }),
            ("end_time", |r| r.end_time = r.start_time),
            ("end_time", |r| {
                r.end_time = r.start_time + MAX_DURATION_S + 1
            }),
            ("goods", |r| r.goods = vec![r.goods[0].clone(); 101]),
            ("goods[0].price", |r| r.goods[0].price = -1),
            ("goods[0].url", |r| r.goods[0].url = String::new()),
            ("goods[0].name", |r| r.goods[0].name = String::new()),
        ];
        for (field, mutate) in cases {
            let mut r = req();
            mutate(&mut r);
            let err = r.validate(NOW, 600).expect_err(field);
            assert!(matches!(err, Invalid::Field { .. }), "{field}: {err}");
            assert_eq!(field_of(err), field);
        }
        // Exactly 12 h and exactly 100 goods are fine.
        let mut r = req();
        r.end_time = r.start_time + MAX_DURATION_S;
        r.goods = vec![r.goods[0].clone(); 100];
        assert_eq!(r.validate(NOW, 600), Ok(()));
        // Lead time 0 (local development) accepts now.
        let mut r = req();
        r.start_time = NOW;
        assert_eq!(r.validate(NOW, 0), Ok(()));
    }

    #[test]
    fn patch_rules() {
        let room = Room::new("app1", 7, req(), NOW);
        let p = PatchRoom {
            name: Some("新名字".into()),
            ..Default::default()
        };
        let r = room.apply_patch(&p, NOW + 5, 600).unwrap();
        assert_eq!(r.name, "新名字");
        assert_eq!(r.updated_at, NOW + 5);
        // end_time alone keeps the start (no lead re-check of an unchanged start).
        let p = PatchRoom {
            end_time: Some(room.start_time + 60),
            ..Default::default()
        };
        assert!(room.apply_patch(&p, room.start_time - 1, 600).is_ok());
        let p = PatchRoom {
            end_time: Some(room.start_time),
            ..Default::default()
        };
        assert_eq!(
            field_of(room.apply_patch(&p, NOW, 600).unwrap_err()),
            "end_time"
        );
        for s in [LiveStatus::Live, LiveStatus::Paused, LiveStatus::Abnormal] {
            let mut live = room.clone();
            live.live_status = s;
            assert!(matches!(
                live.apply_patch(&PatchRoom::default(), NOW, 600),
                Err(Invalid::Conflict(_))
            ));
        }
        let mut ended = room.clone();
        ended.live_status = LiveStatus::Ended;
        let p = PatchRoom {
            start_time: Some(NOW + 900),
            ..Default::default()
        };
        assert!(matches!(
            ended.apply_patch(&p, NOW, 600),
            Err(Invalid::Conflict(_))
        ));
    }

    #[test]
    fn stream_names() {
        assert_eq!(stream_name("demo1", 42), "demo1_42");
        assert_eq!(parse_stream_name("demo1_42"), Some(("demo1", 42)));
        assert_eq!(parse_stream_name("demo1_0"), None);
        assert_eq!(parse_stream_name("Demo_1"), None);
        assert_eq!(parse_stream_name("demo1"), None);
        assert_eq!(parse_stream_name("demo1_x"), None);
        for non_canonical in ["demo1_07", "demo1_+7", "demo1_ 7", "demo1_7 "] {
            assert_eq!(parse_stream_name(non_canonical), None, "{non_canonical}");
        }
    }
}

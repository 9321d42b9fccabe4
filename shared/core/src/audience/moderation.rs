//! Blocked words per app, matched on a normalized form of the text so that the usual evasions
//! still match: case (`SPAM`), full-width and other compatibility forms (`ｓｐａｍ`, `①`), and
//! spaces, punctuation or symbols inserted between characters (`s.p a-m`, `加 ★ 微 信`).
//!
//! Normalization: Unicode NFKC, then lowercase, then only letters and digits are kept (Chinese
//! characters are letters). Blocked words are normalized the same way and searched for with
//! Aho-Corasick, so the check is linear in the text whatever the number of words.

use aho_corasick::AhoCorasick;
use unicode_normalization::UnicodeNormalization;

/// Most blocked words per app.
pub const MAX_BLOCKED_WORDS: usize = 1000;
/// Longest blocked word, in characters.
pub const MAX_BLOCKED_WORD_CHARS: usize = 50;

/// The form texts and blocked words are compared in.
pub fn normalize(text: &str) -> String {
    text.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Why a blocked-word list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockedWordsError {
    /// More than [`MAX_BLOCKED_WORDS`].
    #[error("blocked_words: at most {MAX_BLOCKED_WORDS} words (got {0})")]
    TooMany(usize),
    /// A word longer than [`MAX_BLOCKED_WORD_CHARS`] characters.
    #[error("blocked_words[{0}]: at most {MAX_BLOCKED_WORD_CHARS} characters")]
    TooLong(usize),
    /// A word with no letter or digit left once normalized (it would match everything).
    #[error("blocked_words[{0}]: has no letter or digit (punctuation and spaces are ignored when matching)")]
    Empty(usize),
}

/// An app's blocked words, ready to match.
#[derive(Debug, Clone)]
pub struct BlockedWords {
    /// The words as the app gave them, in the matcher's pattern order.
    words: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl BlockedWords {
    /// Builds the matcher; every word is checked (count, length, not empty once normalized).
    pub fn new(words: &[String]) -> Result<BlockedWords, BlockedWordsError> {
        if words.len() > MAX_BLOCKED_WORDS {
            return Err(BlockedWordsError::TooMany(words.len()));
        }
        let mut patterns = Vec::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            if w.chars().count() > MAX_BLOCKED_WORD_CHARS {
                return Err(BlockedWordsError::TooLong(i));
            }
            let n = normalize(w);
            if n.is_empty() {
                return Err(BlockedWordsError::Empty(i));
            }
            patterns.push(n);
        }
        let matcher = if patterns.is_empty() {
            None
        } else {
            // Patterns are bounded above, so building cannot fail on size; if it ever did,
            // matching nothing would let blocked words through, so fail closed instead.
            Some(AhoCorasick::new(&patterns).map_err(|_| BlockedWordsError::TooMany(words.len()))?)
        };
        Ok(BlockedWords {
            words: words.to_vec(),
            matcher,
        })
    }

    /// The first blocked word `text` contains (as the app wrote it), if any.
    pub fn find(&self, text: &str) -> Option<&str> {
        let matcher = self.matcher.as_ref()?;
        let normalized = normalize(text);
        matcher
            .find(&normalized)
            .and_then(|m| self.words.get(m.pattern().as_usize()))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> BlockedWords {
        BlockedWords::new(&ws.iter().map(|w| w.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn variants_of_a_blocked_word_still_match() {
        let b = words(&["spam", "加微信", "VX"]);
        for text in [
            "buy SPAM now",
            "ｓｐａｍ",
            "s.p a-m",
            "S\u{3000}P\u{3000}A\u{3000}M",
            "快来加微信",
            "加 ★ 微 · 信 哦",
            "加，微，信",
            "ｖｘ：123",
            "v x",
        ] {
            assert!(b.find(text).is_some(), "{text:?} should match");
        }
        assert_eq!(b.find("加 微 信"), Some("加微信"));
        assert_eq!(b.find("spa\nm"), Some("spam"));
        assert_eq!(b.find("hello 你好"), None);
        assert_eq!(b.find("微信支付很方便"), None);
    }

    #[test]
    fn lists_are_bounded_and_useless_words_refused() {
        assert!(matches!(
            BlockedWords::new(&vec!["x".to_string(); MAX_BLOCKED_WORDS + 1]),
            Err(BlockedWordsError::TooMany(_))
        ));
        assert_eq!(
            BlockedWords::new(&["ok".into(), "x".repeat(51)]).unwrap_err(),
            BlockedWordsError::TooLong(1)
        );
        assert_eq!(
            BlockedWords::new(&["ok".into(), " ... ".into()]).unwrap_err(),
            BlockedWordsError::Empty(1)
        );
        assert_eq!(words(&[]).find("anything"), None);
    }

    #[test]
    fn normalization_folds_compatibility_forms_and_case() {
        assert_eq!(normalize("ＡＢＣ１２３"), "abc123");
        assert_eq!(normalize("①Ⅻ"), "1xii");
        assert_eq!(normalize("Hello, World!"), "helloworld");
        assert_eq!(normalize("直播 间"), "直播间");
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_checked_without_panicking(text in "\\PC{0,400}") {
            let b = words(&["spam", "加微信"]);
            let _ = b.find(&text);
        }
    }
}

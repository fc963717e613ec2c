//! The public catalogue listing, kept ready for a moment: it is the shop's hottest read (every
//! visitor's first page) and the same for everyone, so each replica answers it from the JSON
//! it serialized at most `ttl` ago (`CATALOGUE_CACHE_MS`, default 1000; 0 turns this off).
//!
//! How it stays correct: a change an admin makes through this replica (a new product, a price,
//! a title, taking one off sale, a restock) clears it at once; anything else (units taken by
//! orders, a change through another replica) shows within `ttl`. Nothing that decides money or
//! stock reads it: an order is priced and its units checked against the product rows, locked,
//! in the transaction that stores it, and its answer shows what it cost. Only anonymous pages of
//! active products are kept (an admin's listing with inactive products is always read afresh),
//! and at most [`PAGES`] of them (a client walking many cursors cannot grow it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;

/// The most pages kept at once; past that, the oldest are dropped.
pub const PAGES: usize = 64;

/// A page of the listing: its size and where it starts.
pub type PageKey = (i64, Option<String>);

pub struct ListingCache {
    ttl: Duration,
    pages: Mutex<HashMap<PageKey, (Instant, Bytes)>>,
}

impl ListingCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            pages: Mutex::default(),
        }
    }

    /// The page serialized less than `ttl` ago, if any.
    pub fn get(&self, key: &PageKey) -> Option<Bytes> {
        let pages = self.pages.lock().ok()?;
        let (at, body) = pages.get(key)?;
        (at.elapsed() < self.ttl).then(|| body.clone())
    }

    /// Keeps `body` as the page `key` (unless keeping is off).
    pub fn put(&self, key: PageKey, body: Bytes) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut pages) = self.pages.lock() {
            if pages.len() >= PAGES && !pages.contains_key(&key) {
                let ttl = self.ttl;
                pages.retain(|_, (at, _)| at.elapsed() < ttl);
                if pages.len() >= PAGES {
                    pages.clear();
                }
            }
            pages.insert(key, (Instant::now(), body));
        }
    }

    /// Forgets every page: the catalogue changed.
    pub fn clear(&self) {
        if let Ok(mut pages) = self.pages.lock() {
            pages.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_kept_for_the_ttl_cleared_on_a_change_and_bounded() {
        let cache = ListingCache::new(Duration::from_millis(200));
        let key = (50, None);
        cache.put(key.clone(), Bytes::from_static(b"page"));
        assert_eq!(cache.get(&key).as_deref(), Some(&b"page"[..]));
        cache.clear();
        assert_eq!(cache.get(&key), None);
        cache.put(key.clone(), Bytes::from_static(b"page"));
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(cache.get(&key), None, "older than the ttl");
        for n in 0..(PAGES as i64 * 2) {
            cache.put((n, None), Bytes::from_static(b"x"));
        }
        assert!(cache.pages.lock().expect("pages").len() <= PAGES);
        let off = ListingCache::new(Duration::ZERO);
        off.put(key.clone(), Bytes::from_static(b"page"));
        assert_eq!(off.get(&key), None);
    }
}

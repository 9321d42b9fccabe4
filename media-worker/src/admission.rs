//! Sans-IO connection budgets: connections whose publish is not authorized yet share a small
//! pool, limited per client address and overall; publishing connections have their own
//! budget, so empty or slow connections can never take a publisher's place.
//!
//! When the pre-publish pool is full, the oldest pre-publish connection is evicted for the new
//! one (not the newest refused): an attacker holding the pool has to out-connect every
//! publisher's few-millisecond handshake, instead of just keeping sockets open. A client
//! address over its own limit is refused: it only ever competes with itself. Connections
//! waiting for their publish hook are never evicted.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};

/// The budgets (from `ZHIBO_MAX_PREAUTH_CONNECTIONS`, `ZHIBO_MAX_PREAUTH_PER_ADDRESS`,
/// `ZHIBO_MAX_CONNECTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Pre-publish connections, overall.
    pub pre_auth: usize,
    /// Pre-publish connections of one client address (IPv4 address or IPv6 /64).
    pub pre_auth_per_address: usize,
    /// Publishing connections.
    pub publishing: usize,
}

/// Why a new connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its address already has its share of pre-publish connections.
    PerAddress,
    /// The pool is full of connections waiting for their publish hook.
    Full,
}

/// Why a connection could not start publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPublishing {
    /// `ZHIBO_MAX_CONNECTIONS` connections publish already.
    Full,
    /// The connection was evicted from the pre-publish pool meanwhile.
    Evicted,
}

/// The answer to a new connection.
#[derive(Debug)]
pub enum Admission<T> {
    /// Admitted under `id`; `evicted` is the handle of the connection that must close to make
    /// room, if any.
    Admitted {
        /// Its id (pass it back to the other methods).
        id: u64,
        /// The evicted connection's handle.
        evicted: Option<T>,
    },
    /// Refused: close the socket.
    Refused(Refused),
}

struct Entry<T> {
    address: IpAddr,
    authorizing: bool,
    handle: T,
}

/// The worker's connection budgets. `T` is what eviction hands back (the shell's way of
/// telling a connection to close).
pub struct ConnectionBudget<T> {
    budgets: Budgets,
    next_id: u64,
    /// Pre-publish connections by id, i.e. by age.
    pre_auth: BTreeMap<u64, Entry<T>>,
    per_address: HashMap<IpAddr, usize>,
    publishing: usize,
}

/// The address a client is counted under: its IPv4 address (also when IPv4-mapped), or its
/// IPv6 /64 (one subscriber's usual allocation).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xFFFF_FFFF_FFFF_FFFF_0000_0000_0000_0000,
            )),
        },
    }
}

impl<T> ConnectionBudget<T> {
    /// Empty budgets.
    pub fn new(budgets: Budgets) -> Self {
        ConnectionBudget {
            budgets,
            next_id: 0,
            pre_auth: BTreeMap::new(),
            per_address: HashMap::new(),
            publishing: 0,
        }
    }

    /// A new connection from `ip`.
    pub fn admit(&mut self, ip: IpAddr, handle: T) -> Admission<T> {
        let address = address_key(ip);
        if self.per_address.get(&address).copied().unwrap_or(0) >= self.budgets.pre_auth_per_address
        {
            return Admission::Refused(Refused::PerAddress);
        }
        let mut evicted = None;
        if self.pre_auth.len() >= self.budgets.pre_auth {
            let oldest = self
                .pre_auth
                .iter()
                .find(|(_, e)| !e.authorizing)
                .map(|(id, _)| *id);
            match oldest.and_then(|id| self.remove(id)) {
                Some(handle) => evicted = Some(handle),
                None => return Admission::Refused(Refused::Full),
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.pre_auth.insert(
            id,
            Entry {
                address,
                authorizing: false,
                handle,
            },
        );
        *self.per_address.entry(address).or_insert(0) += 1;
        Admission::Admitted { id, evicted }
    }

    /// Marks a pre-publish connection as waiting for its publish to be authorized (`true`: it
    /// is not evicted meanwhile) or not.
    pub fn set_authorizing(&mut self, id: u64, authorizing: bool) {
        if let Some(e) = self.pre_auth.get_mut(&id) {
            e.authorizing = authorizing;
        }
    }

    /// Moves a pre-publish connection to the publishing budget (on `Err` it stays where it
    /// was).
    pub fn start_publishing(&mut self, id: u64) -> Result<(), NotPublishing> {
        if !self.pre_auth.contains_key(&id) {
            return Err(NotPublishing::Evicted);
        }
        if self.publishing >= self.budgets.publishing {
            return Err(NotPublishing::Full);
        }
        self.remove(id);
        self.publishing += 1;
        Ok(())
    }

    /// A publishing connection closed.
    pub fn stop_publishing(&mut self) {
        self.publishing = self.publishing.saturating_sub(1);
    }

    /// A pre-publish connection closed (or was evicted): its handle, if it was still counted.
    pub fn remove(&mut self, id: u64) -> Option<T> {
        let entry = self.pre_auth.remove(&id)?;
        if let Some(n) = self.per_address.get_mut(&entry.address) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&entry.address);
            }
        }
        Some(entry.handle)
    }

    /// Pre-publish connections now.
    pub fn pre_auth_len(&self) -> usize {
        self.pre_auth.len()
    }

    /// Publishing connections now.
    pub fn publishing_len(&self) -> usize {
        self.publishing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn budget(pre_auth: usize, per_address: usize, publishing: usize) -> ConnectionBudget<u32> {
        ConnectionBudget::new(Budgets {
            pre_auth,
            pre_auth_per_address: per_address,
            publishing,
        })
    }

    fn admitted(a: Admission<u32>) -> (u64, Option<u32>) {
        match a {
            Admission::Admitted { id, evicted } => (id, evicted),
            Admission::Refused(r) => panic!("refused: {r:?}"),
        }
    }

    #[test]
    fn an_address_over_its_share_is_refused() {
        let mut b = budget(100, 2, 10);
        admitted(b.admit(ip("10.0.0.1"), 1));
        admitted(b.admit(ip("10.0.0.1"), 2));
        assert!(matches!(
            b.admit(ip("10.0.0.1"), 3),
            Admission::Refused(Refused::PerAddress)
        ));
        admitted(b.admit(ip("10.0.0.2"), 4));
        // IPv6: one /64 counts as one address; IPv4-mapped as the IPv4 address.
        admitted(b.admit(ip("2001:db8::1"), 5));
        admitted(b.admit(ip("2001:db8::ffff:1"), 6));
        assert!(matches!(
            b.admit(ip("2001:db8::2"), 7),
            Admission::Refused(Refused::PerAddress)
        ));
        admitted(b.admit(ip("2001:db8:0:1::1"), 8));
        assert!(matches!(
            b.admit(ip("::ffff:10.0.0.1"), 9),
            Admission::Refused(Refused::PerAddress)
        ));
    }

    #[test]
    fn a_full_pool_evicts_its_oldest_idle_connection() {
        let mut b = budget(3, 10, 10);
        let (first, _) = admitted(b.admit(ip("10.0.0.1"), 1));
        let (second, _) = admitted(b.admit(ip("10.0.0.2"), 2));
        admitted(b.admit(ip("10.0.0.3"), 3));
        // The oldest waits for its hook: the next oldest goes.
        b.set_authorizing(first, true);
        let (_, evicted) = admitted(b.admit(ip("10.0.0.4"), 4));
        assert_eq!(evicted, Some(2));
        assert_eq!(b.remove(second), None, "already gone");
        assert_eq!(b.pre_auth_len(), 3);
        // Everyone authorizing: refused.
        let mut b = budget(1, 10, 10);
        let (id, _) = admitted(b.admit(ip("10.0.0.1"), 1));
        b.set_authorizing(id, true);
        assert!(matches!(
            b.admit(ip("10.0.0.2"), 2),
            Admission::Refused(Refused::Full)
        ));
    }

    #[test]
    fn publishing_connections_have_their_own_budget() {
        let mut b = budget(2, 2, 1);
        let (a, _) = admitted(b.admit(ip("10.0.0.1"), 1));
        assert_eq!(b.start_publishing(a), Ok(()));
        assert_eq!((b.pre_auth_len(), b.publishing_len()), (0, 1));
        // The pre-publish pool is whole again, and idle connections cannot evict a publisher.
        let (c, _) = admitted(b.admit(ip("10.0.0.1"), 2));
        admitted(b.admit(ip("10.0.0.1"), 3));
        let (_, evicted) = admitted(b.admit(ip("10.0.0.2"), 4));
        assert_eq!(evicted, Some(2));
        // The publishing budget is full: the next publish is refused.
        let (d, _) = admitted(b.admit(ip("10.0.0.3"), 5));
        assert_eq!(b.start_publishing(d), Err(NotPublishing::Full));
        assert_eq!(b.start_publishing(c), Err(NotPublishing::Evicted));
        b.stop_publishing();
        assert_eq!(b.start_publishing(d), Ok(()));
        // The address count follows removals.
        let mut b = budget(10, 1, 1);
        let (x, _) = admitted(b.admit(ip("10.0.0.9"), 1));
        b.remove(x);
        admitted(b.admit(ip("10.0.0.9"), 2));
    }
}

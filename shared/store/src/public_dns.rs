//! Outgoing calls to URLs a customer chose (webhook deliveries, the review call) when
//! deployed: [`PublicResolver`] resolves the name, refuses it when any address is internal
//! ([`zhibo_core::webhook::address::is_internal`]: loopback, private, link-local such as the
//! cloud metadata service, …) or when there is none, and hands the HTTP client exactly the
//! addresses it checked, so nothing resolves differently between the check and the connection.
//! A client using it must also use no proxy (a proxy would connect on its behalf, unchecked).

/// Why a destination was refused; found in a `reqwest::Error`'s source chain by
/// [`is_not_public`].
#[derive(Debug)]
pub struct NotPublic;

impl NotPublic {
    /// What the refusal says.
    pub const MESSAGE: &'static str =
        "refused: the host resolves to no public address, or to an internal one; point the \
         URL at a public https endpoint";
}

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NotPublic::MESSAGE)
    }
}

impl std::error::Error for NotPublic {}

/// True when `e`'s source chain holds a [`NotPublic`] refusal.
pub fn is_not_public(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<NotPublic>().is_some() || s.to_string() == NotPublic::MESSAGE {
            return true;
        }
        source = s.source();
    }
    false
}

/// The DNS resolver of calls to public destinations only (see the module).
#[derive(Debug, Clone, Copy)]
pub struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(NotPublic))?
                .collect();
            if addrs.is_empty()
                || addrs
                    .iter()
                    .any(|a| zhibo_core::webhook::address::is_internal(a.ip()))
            {
                tracing::info!(%host, ?addrs, "outgoing call refused: host not public");
                return Err(Box::new(NotPublic) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok::<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>>(Box::new(
                addrs.into_iter(),
            ))
        })
    }
}

/// A client builder that connects to public addresses only: [`PublicResolver`], no proxy.
pub fn public_only(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
        .dns_resolver(std::sync::Arc::new(PublicResolver))
        .no_proxy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;
    use std::str::FromStr;

    async fn resolve(host: &str) -> Result<Vec<std::net::SocketAddr>, String> {
        let name = reqwest::dns::Name::from_str(host).expect("a name");
        PublicResolver
            .resolve(name)
            .await
            .map(|addrs| addrs.collect())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused() {
        // Resolved by the system (no DNS server needed), to 127.0.0.1 and ::1.
        assert_eq!(resolve("localhost").await, Err(NotPublic::MESSAGE.into()));
        // A name that does not resolve is refused the same way (nothing to check).
        assert_eq!(
            resolve("nothing-here.invalid").await,
            Err(NotPublic::MESSAGE.into())
        );
    }

    #[test]
    fn the_refusal_is_found_in_an_error_chain() {
        #[derive(Debug)]
        struct Outer(NotPublic);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("request failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert!(is_not_public(&Outer(NotPublic)));
        assert!(!is_not_public(&std::io::Error::other("x")));
    }
}

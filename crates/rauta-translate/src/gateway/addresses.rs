//! `spec.addresses`: the IPs a Gateway's listeners bind.

use std::net::{IpAddr, Ipv4Addr};

use gateway_api::experimental::gateways::GatewayAddresses;

/// The address type Rauta supports (also the default when `type` is unset).
const IP_ADDRESS: &str = "IPAddress";

/// An address Rauta cannot use: the field and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UnsupportedAddress {
    pub field: String,
    pub message: String,
}

/// The IPs requested by `spec.addresses`, deduplicated, in order. An empty list means "any
/// address": the listeners bind the unspecified address. An entry of type `IPAddress` without a
/// value asks for any address too.
pub(crate) fn requested(addresses: Option<&Vec<GatewayAddresses>>) -> Result<Vec<IpAddr>, UnsupportedAddress> {
    let mut ips = Vec::new();
    for (i, a) in addresses.into_iter().flatten().enumerate() {
        let kind = a.r#type.as_deref().unwrap_or(IP_ADDRESS);
        if kind != IP_ADDRESS {
            return Err(UnsupportedAddress {
                field: format!("spec.addresses[{i}].type"),
                message: format!("address type {kind:?} is not supported (only IPAddress is)"),
            });
        }
        let Some(value) = a.value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        let ip: IpAddr = value.parse().map_err(|_| UnsupportedAddress {
            field: format!("spec.addresses[{i}].value"),
            message: format!("{value:?} is not an IP address"),
        })?;
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Ok(ips)
}

/// The IPs to bind: the requested ones, or the IPv4 unspecified address.
pub(crate) fn bind_ips(requested: &[IpAddr]) -> Vec<IpAddr> {
    if requested.is_empty() {
        vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]
    } else {
        requested.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(t: Option<&str>, v: Option<&str>) -> GatewayAddresses {
        GatewayAddresses {
            r#type: t.map(Into::into),
            value: v.map(Into::into),
        }
    }

    #[test]
    fn addresses_table() {
        let ok = |list: Vec<GatewayAddresses>| {
            requested(Some(&list)).map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        assert_eq!(ok(vec![]), Ok(vec![]));
        assert_eq!(ok(vec![addr(None, Some("10.0.0.1"))]), Ok(vec!["10.0.0.1".to_owned()]));
        assert_eq!(
            ok(vec![addr(Some("IPAddress"), Some("::1")), addr(None, Some("::1"))]),
            Ok(vec!["::1".to_owned()])
        );
        assert_eq!(ok(vec![addr(Some("IPAddress"), None)]), Ok(vec![]));
        assert!(ok(vec![addr(Some("Hostname"), Some("example.com"))]).is_err());
        assert!(ok(vec![addr(Some("test/fake-invalid-type"), Some("x"))]).is_err());
        assert!(ok(vec![addr(None, Some("10.0.0.300"))]).is_err());
    }
}

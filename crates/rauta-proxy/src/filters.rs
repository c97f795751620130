//! Gateway API filters as the request path applies them (spec section 7.11).
//!
//! Each filter kind lives in its own module as plain functions over headers and paths, so it is
//! tested without sockets; the proxy's phases decide when each one runs.

pub(crate) mod cors;
pub(crate) mod headers;
pub(crate) mod redirect;
pub(crate) mod rewrite;

use std::sync::Arc;

use rauta_ir::{BackendTarget, Filter, Fraction, HeaderModifier, Redirect};

use crate::runtime::RuntimeCluster;
pub(crate) use cors::CorsPolicy;
pub(crate) use rewrite::CompiledRewrite;

/// One compiled filter.
pub(crate) enum RuntimeFilter {
    /// RequestHeaderModifier.
    RequestHeaders(HeaderModifier),
    /// ResponseHeaderModifier.
    ResponseHeaders(HeaderModifier),
    /// RequestRedirect: answered locally.
    Redirect(Redirect),
    /// URLRewrite.
    Rewrite(CompiledRewrite),
    /// RequestMirror.
    Mirror(MirrorFilter),
    /// CORS, with its header values precomputed.
    Cors(Box<CorsPolicy>),
}

/// A RequestMirror with its cluster resolved.
pub(crate) struct MirrorFilter {
    /// `None` when the target is invalid or unknown: the mirror is dropped.
    pub(crate) cluster: Option<Arc<RuntimeCluster>>,
    pub(crate) fraction: Fraction,
}

impl MirrorFilter {
    /// Whether this request is in the sampled fraction.
    pub(crate) fn sampled(&self) -> bool {
        let Fraction { numerator, denominator } = self.fraction;
        numerator >= denominator || (denominator > 0 && fastrand::u32(..denominator) < numerator)
    }
}

impl RuntimeFilter {
    /// Compiles an IR filter; `resolve` finds the cluster a mirror points at.
    pub(crate) fn compile(filter: &Filter, resolve: impl Fn(&BackendTarget) -> Option<Arc<RuntimeCluster>>) -> Self {
        match filter {
            Filter::RequestHeaders(m) => Self::RequestHeaders(m.clone()),
            Filter::ResponseHeaders(m) => Self::ResponseHeaders(m.clone()),
            Filter::Redirect(r) => Self::Redirect(r.clone()),
            Filter::Rewrite(r) => Self::Rewrite(CompiledRewrite::compile(r)),
            Filter::Mirror(m) => Self::Mirror(MirrorFilter {
                cluster: resolve(&m.target),
                fraction: m.fraction,
            }),
            Filter::Cors(c) => Self::Cors(Box::new(CorsPolicy::compile(c))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_sampling_honours_the_fraction() {
        let never = MirrorFilter {
            cluster: None,
            fraction: Fraction {
                numerator: 0,
                denominator: 100,
            },
        };
        let always = MirrorFilter {
            cluster: None,
            fraction: Fraction::ALL,
        };
        let half = MirrorFilter {
            cluster: None,
            fraction: Fraction {
                numerator: 25,
                denominator: 50,
            },
        };
        assert!((0..1000).all(|_| !never.sampled()));
        assert!((0..1000).all(|_| always.sampled()));
        let hits = (0..10_000).filter(|_| half.sampled()).count();
        assert!((4_500..5_500).contains(&hits), "{hits}");
    }
}

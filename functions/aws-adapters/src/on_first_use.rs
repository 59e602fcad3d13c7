//! An adapter built on first use. Building an SDK client parses its service's endpoint partitions
//! (about 0.7 million instructions a client, bench/README.md "Where a cold start goes"), so a
//! function builds only what an invocation calls: a schedule's full export never builds the
//! clients of the job table or of the announcement.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

type Build<T> = Box<dyn Fn() -> T + Send + Sync>;

pub struct OnFirstUse<T> {
    value: OnceLock<T>,
    build: Option<Build<T>>,
}

impl<T> OnFirstUse<T> {
    /// Built by `build` when first used, once.
    pub fn new(build: impl Fn() -> T + Send + Sync + 'static) -> Self {
        OnFirstUse {
            value: OnceLock::new(),
            build: Some(Box::new(build)),
        }
    }
}

/// One already built (what tests hand a handler).
impl<T> From<T> for OnFirstUse<T> {
    fn from(value: T) -> Self {
        OnFirstUse {
            value: OnceLock::from(value),
            build: None,
        }
    }
}

impl<T> Deref for OnFirstUse<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value.get_or_init(|| match &self.build {
            Some(build) => build(),
            None => unreachable!("built from a value, so already set"),
        })
    }
}

impl<T: fmt::Debug> fmt::Debug for OnFirstUse<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value.get() {
            Some(value) => value.fmt(f),
            None => f.write_str("OnFirstUse(not built yet)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn it_is_built_at_the_first_use_only_and_once() {
        let builds = Arc::new(AtomicUsize::new(0));
        let counted = builds.clone();
        let lazy = OnFirstUse::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            "client"
        });
        assert_eq!(builds.load(Ordering::SeqCst), 0);
        assert_eq!(*lazy, "client");
        assert_eq!(lazy.len(), 6);
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_value_given_is_used_as_it_is() {
        let ready: OnFirstUse<Vec<u8>> = vec![1, 2].into();
        assert!(ready.build.is_none(), "nothing left to build");
        assert_eq!(*ready, vec![1, 2]);
    }
}

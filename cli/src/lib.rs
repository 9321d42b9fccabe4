//! Library part of the `zhibo` CLI, so integration tests can build what `zhibo serve` serves.

pub mod demo;

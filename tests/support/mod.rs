//! Test-only fakes that speak real HTTP over real sockets on 127.0.0.1.
#![allow(dead_code)]

pub mod counting;
pub mod fake_mesos;
pub mod fake_ns1;
pub mod fixtures;
pub mod harness;
pub mod zk;

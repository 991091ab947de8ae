//! mesos2ns1: publish the record set Mesos-DNS would serve for a Mesos
//! cluster to an NS1 zone.
//!
//! One run is a straight pipeline: `config` → `mesos` (find the leader,
//! fetch the state) → `records` (the Mesos-DNS record set) → `plan` (the
//! change against the zone, restricted to what the tool owns, with safety
//! checks) → `apply` (through the paced `ns1` client) → `report`.

pub mod app;
pub mod apply;
pub mod cli;
pub mod config;
pub mod exit;
pub mod mesos;
pub mod ns1;
pub mod plan;
pub mod records;
pub mod report;
pub mod source;
pub mod store;
pub mod sync;
pub mod text;
pub mod tls;
pub mod zone_read;

//! mesos2ns1: publish the record set Mesos-DNS would serve for a Mesos
//! cluster to an NS1 zone.
//!
//! One run is a straight pipeline, a module per stage: `config` (file,
//! environment and flags, once) → `source` (find the leader through
//! `mesos`, fetch the state) → `records` (the Mesos-DNS record set) →
//! `plan` (the change against the zone, restricted to what the tool owns,
//! with the safety checks) → `zone` + `apply` (read by serial, write
//! through the paced `ns1` client) → `report` (summary line, exit code,
//! metrics). `state_dir` keeps every file a run leaves for the next;
//! `commands` wires the stages into each subcommand; `text` and `exit`
//! sit at the bottom.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod mesos;
pub mod ns1;
pub mod plan;
pub mod records;
pub mod report;
pub mod source;
pub mod state_dir;
pub mod store;
pub mod text;
pub mod tls;
pub mod zone;

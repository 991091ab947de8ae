//! Record generation: the Mesos-DNS record set for a Mesos state, and its
//! output as normalized JSON or a zone-file fragment. No I/O here except the
//! optional system resolver.
//!
//! The modules, each importing only those listed before it (nothing else
//! of the crate; `resolve` and `output` also use `crate::report::escape_control`):
//! `labels` (label rules), `set` (the record set), `names` (task hash,
//! agent part, z-base-32, name priority), `state` (the state's serde
//! model), `hosts` (pids, host:port, resolvers), `options` (GenOptions),
//! `filter` (the opt-in task filters), `generate` (the rules, by record
//! family), `explained` (records of ended tasks), `resolve` (name
//! resolution with a deadline), `output` (JSON and zone file).

pub mod explained;
pub mod filter;
pub mod generate;
pub mod hosts;
pub mod labels;
pub mod names;
pub mod options;
pub mod output;
pub mod resolve;
pub mod set;
pub mod state;

pub use explained::{Explained, explained};
pub use generate::{GenError, StateCounts, counts, generate};
pub use hosts::{Resolver, StaticResolver, SystemResolver};
pub use labels::LabelRules;
pub use options::{GenOptions, HealthyOnly, IpSource};
pub use set::{Record, RecordSet, RecordType};
pub use state::Visibility;

//! Record generation: the Mesos-DNS record set for a Mesos state, and its
//! output as normalized JSON or a zone-file fragment. No I/O here except the
//! optional system resolver.

pub mod filter;
pub mod generate;
pub mod labels;
pub mod output;
pub mod resolve;
pub mod set;
pub mod state;

pub use generate::{
    GenError, GenOptions, IpSource, Resolver, StaticResolver, SystemResolver, generate,
};
pub use labels::LabelRules;
pub use set::{Record, RecordSet, RecordType};

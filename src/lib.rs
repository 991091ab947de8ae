//! mesos2ns1: publish the record set Mesos-DNS would serve for a Mesos
//! cluster to an NS1 zone.

pub mod mesos;
pub mod ns1;
pub mod records;

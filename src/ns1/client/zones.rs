//! Zone management calls of the [`Client`] (kept apart from the record
//! calls): creating an empty zone; a listed record as the run keeps it.

use super::{Client, Ns1Error, ZoneRecord, normalize_name, path_segment};

impl Client {
    /// `PUT /v1/zones/{zone}` with `{"zone": zone}` (see
    /// [`crate::ns1::Ns1Api::create_zone`]).
    pub(super) fn put_new_zone(&mut self, zone: &str) -> Result<(), Ns1Error> {
        let zone = normalize_name(zone);
        let body = serde_json::json!({ "zone": zone }).to_string();
        let url = self.endpoint.url(&format!("zones/{}", path_segment(&zone)));
        let reply = self.request_keyed(
            "PUT",
            "PUT zone",
            &url,
            Some((body.as_bytes(), "application/json")),
        )?;
        if reply.is_success() {
            return Ok(());
        }
        Err(self.fail("PUT", &url, &zone, &reply))
    }
}

/// A listed record as the run keeps it (the listing's `short_answers`
/// as text).
impl From<super::RecordSummary> for ZoneRecord {
    fn from(r: super::RecordSummary) -> ZoneRecord {
        let mut answers: Vec<String> = r
            .short_answers
            .unwrap_or_default()
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
        answers.shrink_to_fit(); // the parser's room for 4: 45 MB at 400k records
        ZoneRecord {
            domain: r.domain,
            rtype: super::super::listed_type(r.rtype),
            ttl: r.ttl,
            answers,
            tier: r.tier,
            link: match r.link {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) if s.is_empty() => None,
                Some(serde_json::Value::String(s)) => Some(s),
                Some(other) => Some(other.to_string()),
            },
        }
    }
}

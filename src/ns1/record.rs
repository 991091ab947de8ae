//! One record read back before a write fallback touches it (issue 17):
//! a create that finds a record, a DELETE whose reply was lost.

use super::Ns1Error;
use super::client::{Client, Reply, record_missing};
use serde::Deserialize;

/// One record as `GET zones/:zone/:domain/:type` gives it: what a write
/// fallback checks before it touches the record.
#[derive(Debug)]
pub(super) struct FoundRecord {
    answers: Vec<String>,
    link: Option<String>,
    tier: Option<u32>,
}

impl FoundRecord {
    /// Neither linked nor advanced.
    pub(super) fn is_plain(&self) -> bool {
        self.link.as_deref().is_none_or(str::is_empty) && self.tier.is_none_or(|t| t <= 1)
    }

    /// The same answers as `expected` (normalized short answers), by meaning.
    pub(super) fn same_answers(&self, rtype: &str, expected: &[String]) -> bool {
        let norm = |v: &[String]| {
            let mut v: Vec<String> = v
                .iter()
                .map(|a| super::rdata::normalize_short_answer(rtype, a))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        !expected.is_empty() && norm(&self.answers) == norm(expected)
    }
}

impl Client {
    /// One record as the zone holds it now (a GET, never the cache), or
    /// `None` when it does not exist: its answers, `tier` and `link`.
    pub fn read_record(
        &mut self,
        zone: &str,
        domain: &str,
        rtype: &str,
    ) -> Result<Option<super::ZoneRecord>, Ns1Error> {
        let zone = super::normalize_name(zone);
        let domain = super::normalize_name(domain);
        let rtype = rtype.trim().to_ascii_uppercase();
        Ok(self
            .get_record(&zone, &domain, &rtype)?
            .map(|found| super::ZoneRecord {
                domain,
                rtype: super::listed_type(rtype),
                ttl: None,
                answers: found.answers,
                tier: found.tier,
                link: found.link,
            }))
    }

    /// [`Client::request`] that gives up at once, without a retry, when
    /// the request may have been carried out but its reply was lost (a
    /// transport failure or a 5xx): the caller checks before sending again.
    pub(super) fn request_unanswered_once(
        &mut self,
        method: &str,
        url: &str,
    ) -> Result<Reply, Ns1Error> {
        self.unanswered_once = true;
        let r = self.request_keyed(method, method, url, None);
        self.unanswered_once = false;
        r
    }

    /// The record, or `None` when it does not exist.
    pub(super) fn get_record(
        &mut self,
        zone: &str,
        domain: &str,
        rtype: &str,
    ) -> Result<Option<FoundRecord>, Ns1Error> {
        #[derive(Deserialize)]
        struct Answer {
            answer: Vec<serde_json::Value>,
        }
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            answers: Vec<Answer>,
            #[serde(default)]
            link: Option<serde_json::Value>,
            #[serde(default)]
            tier: Option<u32>,
        }
        let url = self.record_url(zone, domain, rtype);
        let reply = self.request("GET", &url, None)?;
        if record_missing(&reply) {
            return Ok(None);
        }
        if !reply.is_success() {
            return Err(self.fail("GET", &url, zone, &reply));
        }
        let body: Body = serde_json::from_slice(&reply.body).map_err(|e| Ns1Error::Protocol {
            method: "GET".to_string(),
            path: self.endpoint.path_of(&url).to_string(),
            detail: format!("record body is not the expected JSON ({e})"),
        })?;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok(Some(FoundRecord {
            answers: body
                .answers
                .iter()
                .map(|a| a.answer.iter().map(text).collect::<Vec<_>>().join(" "))
                .collect(),
            link: match body.link {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s),
                Some(other) => Some(other.to_string()),
            },
            tier: body.tier,
        }))
    }
}

//! Zone management calls of the [`Client`] (kept apart from the record
//! calls): creating an empty zone.

use super::{Client, Ns1Error, normalize_name, path_segment};

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

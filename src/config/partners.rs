//! `[partners]`: the partner API's rate limits and quotas, with per-organisation overrides.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, Settings, invalid};

/// The partner API (embassies, insurers): rate limits and quotas per key and organisation.
#[derive(Clone, Debug, Deserialize)]
pub struct PartnerSettings {
    /// Requests per key: a burst, then a steady rate per minute (per replica).
    pub requests_burst: u32,
    pub requests_per_minute: u32,
    /// Cases one organisation may create in any 24 hours.
    pub max_cases_per_day: u32,
    /// Documents one partner case may hold.
    pub max_documents_per_case: u32,
    /// Largest partner document (the smaller of this and `intake.max_file_bytes` applies).
    pub max_file_bytes: u64,
    /// How long an in-progress create or upload holds its idempotency key or document id before
    /// another request may take it over (after a crash).
    pub claim_lease_seconds: u64,
    /// Quota overrides for one organisation, by organisation id.
    #[serde(default)]
    pub organisations: BTreeMap<String, PartnerQuotas>,
}

/// Per-organisation overrides of the `[partners]` quotas.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PartnerQuotas {
    pub max_cases_per_day: Option<u32>,
    pub max_documents_per_case: Option<u32>,
    pub max_file_bytes: Option<u64>,
}

impl Settings {
    pub(super) fn validate_partners(&self) -> Result<(), ConfigError> {
        let p = &self.partners;
        if p.requests_burst == 0 || p.requests_per_minute == 0 {
            return Err(invalid(
                "partners.requests_burst",
                "partners.requests_burst and partners.requests_per_minute must be at least 1",
            ));
        }
        if p.claim_lease_seconds == 0 {
            return Err(invalid(
                "partners.claim_lease_seconds",
                "must be at least 1",
            ));
        }
        let sizes = std::iter::once(("partners.max_file_bytes", p.max_file_bytes)).chain(
            p.organisations
                .values()
                .filter_map(|o| o.max_file_bytes)
                .map(|b| ("partners.organisations.<id>.max_file_bytes", b)),
        );
        for (key, bytes) in sizes {
            if bytes == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        Ok(())
    }
}

//! `/api/openapi.json`, generated from the handlers' annotations so it cannot drift from the code.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, links, ops, partners, problem, requests};
use crate::domain::{CaseStatus, ContactPreference, DocumentCategory, ServiceTier, Sponsor};
use crate::services::cases::{
    AuditEntry, AuditTrail, CaseList, CaseListItem, CaseView, DocumentView, PatientDetails,
};
use crate::services::submit::{Receipt, StoredDocument};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

struct PartnerKeyAuth;

impl Modify for PartnerKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use crate::services::partners::{
            CaseCorrection, CorrectedCase, CreatedCase, NewCase, PartnerCaseView, PartnerDocument,
        };
        fn add<T: utoipa::ToSchema>(components: &mut utoipa::openapi::Components) {
            components
                .schemas
                .insert(T::name().into_owned(), T::schema());
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "partner_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("csk_…")
                    .build(),
            ),
        );
        add::<NewCase>(components);
        add::<CreatedCase>(components);
        add::<PartnerDocument>(components);
        add::<PartnerCaseView>(components);
        add::<CaseCorrection>(components);
        add::<CorrectedCase>(components);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Consilium", description = "Secure records-and-imaging transfer for second medical opinions"),
    paths(
        requests::submit,
        admin::list_cases,
        admin::get_case,
        admin::case_audit,
        admin::document_content,
        links::create,
        links::list,
        links::revoke,
        ops::healthz,
        ops::readyz,
        partners::create_case,
        partners::put_document,
        partners::correct_case,
    ),
    components(schemas(
        problem::Problem, Receipt, StoredDocument, CaseList, CaseListItem, CaseView, DocumentView,
        PatientDetails, AuditTrail, AuditEntry, crate::services::links::LinkRequest, crate::services::links::IssuedLink, crate::services::links::LinkView, crate::domain::LinkRole, crate::domain::LinkScope, CaseStatus, ContactPreference, DocumentCategory, ServiceTier, Sponsor,
    )),
    modifiers(&BearerAuth, &PartnerKeyAuth)
)]
pub struct ApiDoc;

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

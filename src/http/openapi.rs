//! `/api/openapi.json`, generated from the handlers' annotations so it cannot drift from the code.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

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

/// What every operation can answer besides its own responses, and how errors are served:
/// * every `Problem` body is `application/problem+json` (API.md: every error is), not the
///   `application/json` utoipa writes by default;
/// * an operation with a security requirement answers `401 unauthorized` (the extractor) and
///   `429 rate-limited` (failed authentication is rate-limited per client);
/// * an operation with a request body answers `400 malformed-request` when it cannot be read.
///
/// Added here once, so that a handler's annotation lists what is particular to it.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        const PROBLEM: &str = "application/problem+json";
        let problem_ref = Ref::from_schema_name(problem::Problem::name()).ref_location;
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(problem::Problem::name())))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                for response in op.responses.responses.values_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let is_problem = response.content.get("application/json").is_some_and(|c| {
                        matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == problem_ref)
                    });
                    if is_problem
                        && let Some(content) = response.content.shift_remove("application/json")
                    {
                        response.content.insert(PROBLEM.to_owned(), content);
                    }
                }
                let responses = &mut op.responses.responses;
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    responses
                        .entry("401".to_owned())
                        .or_insert_with(|| problem("unauthorized").into());
                    responses.entry("429".to_owned()).or_insert_with(|| {
                        problem("rate-limited (with Retry-After): too many failed authentications")
                            .into()
                    });
                }
                if op.request_body.is_some() {
                    responses.entry("400".to_owned()).or_insert_with(|| {
                        problem("malformed-request: the body cannot be read").into()
                    });
                }
            }
        }
    }
}

/// The fields of `POST /api/v1/requests` (multipart/form-data) as a schema, so that clients and
/// tools can build the form from the document (API.md: "Patient requests").
struct RequestForm;

impl Modify for RequestForm {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{
            ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type,
        };
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let one_of = |values: &[&str]| text().enum_values(Some(values.iter().copied()));
        let file = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
        };
        let tiers: Vec<&str> = ServiceTier::ALL.iter().map(|t| t.as_str()).collect();
        let sponsors: Vec<&str> = Sponsor::ALL.iter().map(|s| s.as_str()).collect();
        let contact: Vec<&str> = ContactPreference::ALL.iter().map(|c| c.as_str()).collect();
        let form = ObjectBuilder::new()
            .property(
                "full_name",
                text().min_length(Some(1)).max_length(Some(200)),
            )
            .property(
                "email",
                text().format(Some(SchemaFormat::KnownFormat(KnownFormat::Email))),
            )
            .property("phone", text())
            .property("contact_preference", one_of(&contact))
            .property("service", one_of(&tiers))
            .property(
                "condition",
                text().min_length(Some(1)).max_length(Some(5000)),
            )
            .property("terms_accepted", one_of(&["true", "yes", "on"]))
            .property("sponsor", one_of(&sponsors))
            .property("sponsor_reference", text())
            .property(
                "report",
                ArrayBuilder::new().items(file()).max_items(Some(10)),
            )
            .property("image", ArrayBuilder::new().items(file()))
            .property("guarantee_letter", file())
            .required("full_name")
            .required("email")
            .required("service")
            .required("condition")
            .required("terms_accepted")
            .build();
        let body = openapi
            .paths
            .paths
            .get_mut("/api/v1/requests")
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.request_body.as_mut())
            .and_then(|body| body.content.get_mut("multipart/form-data"));
        if let Some(content) = body {
            content.schema = Some(form.into());
        }
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
    modifiers(&BearerAuth, &PartnerKeyAuth, &RequestForm, &ProblemResponses)
)]
pub struct ApiDoc;

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

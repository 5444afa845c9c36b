//! A link in use: its token verified, its row checked (revoked, locked, expired) and audited when
//! refused, its scopes, and the case behind it opened when a request needs it.

use super::open_recipient;
use crate::crypto::{CaseKey, decrypt_field, verify_link_token};
use crate::db::{CaseRecord, DocumentRecord, LinkRecord};
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, DocumentId, LinkId, LinkRole, LinkScope,
};
use crate::services::{ServiceError, Services};

/// A link whose token verified and whose row allows it to be used now.
pub struct LiveLink {
    pub token: String,
    pub link: LinkRecord,
    pub case: CaseRecord,
    pub case_key: CaseKey,
    pub recipient: String,
}

/// An audit event of `link` acting on its case.
fn link_event(
    link: &LinkRecord,
    action: AuditAction,
    outcome: AuditOutcome,
    client: Option<String>,
) -> AuditEvent {
    AuditEvent::new(AuditActor::Link(link.id.to_string()), action, outcome)
        .case(link.case_id)
        .link(link.id)
        .client(client)
}

/// Audits and returns `forbidden` when `link` lacks `scope`.
pub async fn require_scope(
    services: &Services,
    link: &LinkRecord,
    scope: LinkScope,
    client: Option<String>,
) -> Result<(), ServiceError> {
    if link.scopes.contains(&scope) {
        return Ok(());
    }
    services
        .repo
        .append_audit(&link_event(
            link,
            AuditAction::LinkDenied,
            AuditOutcome::Forbidden,
            client,
        ))
        .await?;
    Err(ServiceError::Forbidden)
}

/// The document `document` of `link`'s case; `not-found` for a document of another case.
pub async fn link_document(
    services: &Services,
    link: &LinkRecord,
    document: DocumentId,
) -> Result<DocumentRecord, ServiceError> {
    services
        .repo
        .get_document(document)
        .await?
        .filter(|d| d.case_id == link.case_id)
        .ok_or(ServiceError::NotFound)
}

impl LiveLink {
    pub fn allows(&self, scope: LinkScope) -> bool {
        self.link.scopes.contains(&scope)
    }

    pub fn actor(&self) -> AuditActor {
        AuditActor::Link(self.link.id.to_string())
    }

    pub(super) fn event(
        &self,
        action: AuditAction,
        outcome: AuditOutcome,
        client: Option<String>,
    ) -> AuditEvent {
        link_event(&self.link, action, outcome, client)
    }

    /// The patient's name and question, for the roles that need them.
    pub fn clinical_details(&self) -> Result<Option<(String, String)>, ServiceError> {
        if !matches!(self.link.role, LinkRole::Consultant | LinkRole::Radiologist) {
            return Ok(None);
        }
        let open = |column: &str, sealed: &[u8]| {
            decrypt_field(
                &self.case_key,
                &crate::services::submit::field_context(self.case.id, column),
                sealed,
            )
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(ServiceError::Integrity)
        };
        Ok(Some((
            open("full_name", &self.case.full_name_enc)?,
            open("condition", &self.case.condition_enc)?,
        )))
    }

    /// The document `document` of this link's case; `not-found` for a document of another case.
    pub async fn document(
        &self,
        services: &Services,
        document: DocumentId,
    ) -> Result<DocumentRecord, ServiceError> {
        link_document(services, &self.link, document).await
    }

    /// Audits a read of the case page (`case.viewed`, the link as actor).
    pub async fn viewed(
        &self,
        services: &Services,
        client: Option<String>,
    ) -> Result<(), ServiceError> {
        services
            .repo
            .append_audit(&self.event(AuditAction::CaseViewed, AuditOutcome::Success, client))
            .await?;
        Ok(())
    }

    /// Audits and returns `forbidden` when the link lacks `scope`.
    pub async fn require(
        &self,
        services: &Services,
        scope: LinkScope,
        client: Option<String>,
    ) -> Result<(), ServiceError> {
        require_scope(services, &self.link, scope, client).await
    }
}

/// A token whose MAC verified: the link it names, before anything is read.
pub struct VerifiedToken {
    token: String,
    link: LinkId,
    expires_at: i64,
}

impl VerifiedToken {
    pub fn link(&self) -> LinkId {
        self.link
    }
}

/// Checks the token's MAC (constant time, no database work); `None` for a token that does not
/// verify.
pub fn verify_token(services: &Services, token: &str) -> Option<VerifiedToken> {
    let claims = verify_link_token(&services.keys, token)?;
    Some(VerifiedToken {
        token: token.to_owned(),
        link: LinkId::from(uuid::Uuid::from_bytes(claims.link_id)),
        expires_at: claims.expires_at,
    })
}

/// Reads the link row of a verified token: `not-found` for a link that does not exist; 410s for
/// expired, revoked or locked links (audited). Uses are not checked here: an open session outlives
/// the last use.
pub async fn resolve(
    services: &Services,
    token: &VerifiedToken,
    client: Option<String>,
) -> Result<LiveLink, ServiceError> {
    let link = services
        .repo
        .get_link(token.link)
        .await?
        .ok_or(ServiceError::NotFound)?;
    check_usable(services, token, &link, client).await?;
    open_case(services, token, link).await
}

/// Refuses a link that cannot be used now: `link-revoked` (withdrawn, or locked after wrong
/// passcodes) or `link-expired`, each audited as `link.denied`.
pub async fn check_usable(
    services: &Services,
    token: &VerifiedToken,
    link: &LinkRecord,
    client: Option<String>,
) -> Result<(), ServiceError> {
    let now = services.clock.now();
    let refusal = if link.revoked_at.is_some() {
        Some((
            ServiceError::LinkRevoked { locked: false },
            AuditOutcome::Revoked,
        ))
    } else if link.locked_at.is_some() {
        Some((
            ServiceError::LinkRevoked { locked: true },
            AuditOutcome::Locked,
        ))
    } else if now >= link.expires_at || now.timestamp() >= token.expires_at {
        Some((ServiceError::LinkExpired, AuditOutcome::Expired))
    } else {
        None
    };
    let Some((error, outcome)) = refusal else {
        return Ok(());
    };
    let event = AuditEvent::new(
        AuditActor::Link(link.id.to_string()),
        AuditAction::LinkDenied,
        outcome,
    )
    .case(link.case_id)
    .link(link.id)
    .client(client);
    services.repo.append_audit(&event).await?;
    Err(error)
}

/// The case behind a usable link, its key unwrapped and the recipient's name opened.
pub async fn open_case(
    services: &Services,
    token: &VerifiedToken,
    link: LinkRecord,
) -> Result<LiveLink, ServiceError> {
    let case = services
        .repo
        .get_case(link.case_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let case_key = services.case_key(case.id, &case.kek_id, &case.wrapped_key)?;
    let recipient = open_recipient(&case_key, &link)?;
    Ok(LiveLink {
        token: token.token.clone(),
        link,
        case,
        case_key,
        recipient,
    })
}

/// Whether a landing page should still offer to open the link (uses left).
pub fn has_uses_left(link: &LinkRecord) -> bool {
    link.max_uses.is_none_or(|max| link.uses < max)
}

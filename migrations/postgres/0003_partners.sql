-- Partner organisations (embassies, insurers) and their API keys. Only a SHA-256 of each key is kept.
CREATE TABLE partner_keys (
    name          TEXT PRIMARY KEY NOT NULL,
    organisation  TEXT NOT NULL,
    kind          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
);

-- Cases created through the partner API: the owning organisation, the key that created it, the
-- partner's own reference (encrypted under the case key), and document counters that quota checks
-- move with one conditional UPDATE (which also serialises claims on one case).
CREATE TABLE partner_cases (
    case_id             TEXT PRIMARY KEY NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    organisation        TEXT NOT NULL,
    key_name            TEXT NOT NULL,
    external_reference  BYTEA,
    documents           BIGINT NOT NULL DEFAULT 0,
    images              BIGINT NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL
);
CREATE INDEX partner_cases_organisation ON partner_cases (organisation, created_at);

-- Idempotency keys of case creation, per organisation. `case_id` is NULL while a create is in
-- progress: the claim (claim_token) holds until lease_until, after which another request may take it.
CREATE TABLE partner_idempotency (
    organisation     TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    case_id          TEXT REFERENCES cases (id) ON DELETE CASCADE,
    claim_token      TEXT NOT NULL,
    lease_until      TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (organisation, idempotency_key)
);

-- Documents by the partner's own id within a case, with the SHA-256 of their bytes. `document_id`
-- is NULL while the upload is in progress (claimed until lease_until).
CREATE TABLE partner_documents (
    case_id             TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    client_document_id  TEXT NOT NULL,
    sha256              TEXT NOT NULL,
    category            TEXT NOT NULL,
    document_id         TEXT REFERENCES documents (id) ON DELETE CASCADE,
    claim_token         TEXT NOT NULL,
    lease_until         TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    PRIMARY KEY (case_id, client_document_id)
);
CREATE INDEX partner_documents_document ON partner_documents (document_id);

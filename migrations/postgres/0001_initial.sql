-- Consilium schema (PostgreSQL). Personal data is stored only as field-encrypted bytes under the case key.
CREATE TABLE cases (
    id                 TEXT PRIMARY KEY NOT NULL,
    reference          TEXT NOT NULL UNIQUE,
    status             TEXT NOT NULL,
    service            TEXT NOT NULL,
    contact_preference TEXT NOT NULL,
    sponsor            TEXT NOT NULL,
    received_at        TEXT NOT NULL,
    contact_by         TEXT NOT NULL,
    kek_id             TEXT NOT NULL,
    wrapped_key        BYTEA NOT NULL,
    full_name          BYTEA NOT NULL,
    email              BYTEA NOT NULL,
    phone              BYTEA,
    condition          BYTEA NOT NULL,
    sponsor_reference  BYTEA
);
CREATE INDEX cases_received_at ON cases (received_at DESC);
CREATE INDEX cases_status ON cases (status, received_at DESC);

CREATE TABLE documents (
    id          TEXT PRIMARY KEY NOT NULL,
    case_id     TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    category    TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    filename    BYTEA NOT NULL,
    object_key  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
CREATE INDEX documents_case ON documents (case_id, created_at);

CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    case_id     TEXT,
    document_id TEXT,
    link_id     TEXT,
    client      TEXT,
    outcome     TEXT NOT NULL,
    hash        BYTEA NOT NULL
);
CREATE INDEX audit_events_case ON audit_events (case_id, seq);

-- One row: the chain's head. Appends update it first, which serialises them.
CREATE TABLE audit_head (
    id        SMALLINT PRIMARY KEY NOT NULL CHECK (id = 1),
    seq       BIGINT NOT NULL,
    last_hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, last_hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE admin_tokens (
    name        TEXT PRIMARY KEY NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

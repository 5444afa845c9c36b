-- Links issued to consultants, radiologists, patients and partners, one case each. The row is the
-- authority: revocation, uses and lock-out are read from here on every request.
CREATE TABLE links (
    id               TEXT PRIMARY KEY NOT NULL,
    case_id          TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    recipient        BLOB NOT NULL,
    role             TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    max_uses         INTEGER,
    uses             INTEGER NOT NULL DEFAULT 0,
    passcode_hash    TEXT,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_at        TEXT,
    revoked_at       TEXT
);
CREATE INDEX links_case ON links (case_id, created_at);

-- Sessions started by opening a link; only a hash of the cookie value is kept.
CREATE TABLE link_sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    link_id     TEXT NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX link_sessions_link ON link_sessions (link_id);

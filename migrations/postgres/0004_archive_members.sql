-- Members of an image archive are documents of their own, linked to the archive they came from;
-- DICOM documents carry their index (UIDs, modality, descriptions…) sealed under the case key.
ALTER TABLE documents ADD COLUMN parent_id TEXT REFERENCES documents (id) ON DELETE CASCADE;
ALTER TABLE documents ADD COLUMN dicom_index BYTEA;
CREATE INDEX documents_parent ON documents (parent_id);

-- Today's (issue 4) accounts and contacts tables, verbatim from the migrations
-- m0001_sales and m0005_matching_keys as they stood before m0006_lean_indexes, with the two
-- tables they refer to: the reference schema floor `bench/import.sh` measures beside the
-- new one. Written into an empty database.
CREATE TABLE workspaces (id blob PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL, created_at text NOT NULL);
CREATE TABLE users (id blob PRIMARY KEY, email text NOT NULL UNIQUE, display_name text NOT NULL, password_hash text NOT NULL, is_active integer NOT NULL, created_at text NOT NULL, updated_at text NOT NULL);
INSERT INTO workspaces VALUES (randomblob(16), 'bench', 'bench', '2026-12-01T00:00:00.000000+00:00');
CREATE TABLE accounts (
    id blob PRIMARY KEY,
    workspace_id blob NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name text NOT NULL,
    domain text,
    industry text,
    company_size text,
    annual_revenue_micros integer,
    location text,
    fit_score real,
    intent_score real,
    status text NOT NULL,
    owner_id blob REFERENCES users(id) ON DELETE SET NULL,
    crm_ids text NOT NULL,
    metadata text NOT NULL,
    search_text text NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE UNIQUE INDEX accounts_domain ON accounts (workspace_id, domain);
CREATE INDEX accounts_created ON accounts (workspace_id, created_at, id);
CREATE INDEX accounts_updated ON accounts (workspace_id, updated_at, id);
CREATE INDEX accounts_name ON accounts (workspace_id, name, id);
CREATE INDEX accounts_owner ON accounts (workspace_id, owner_id, status, created_at, id);
CREATE TABLE contacts (
    rid integer PRIMARY KEY, id blob NOT NULL UNIQUE,
    workspace_id blob NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    account_id blob REFERENCES accounts(id) ON DELETE SET NULL,
    owner_id blob REFERENCES users(id) ON DELETE SET NULL,
    first_name text,
    last_name text,
    email text,
    phone text,
    linkedin_url text,
    title text,
    seniority text,
    company text,
    status text NOT NULL,
    tier integer,
    engagement_score integer NOT NULL,
    intent_score integer NOT NULL,
    timezone text,
    country text,
    city text,
    source text,
    consent_basis text,
    consent_at text,
    consent_source text,
    do_not_contact integer NOT NULL,
    custom_fields text NOT NULL,
    crm_ids text NOT NULL,
    search_text text NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE UNIQUE INDEX contacts_email ON contacts (workspace_id, email);
CREATE INDEX contacts_created ON contacts (workspace_id, created_at, id);
CREATE INDEX contacts_updated ON contacts (workspace_id, updated_at, id);
CREATE INDEX contacts_status ON contacts (workspace_id, status, created_at, id);
CREATE INDEX contacts_owner ON contacts (workspace_id, owner_id, status, created_at, id);
CREATE INDEX contacts_tier ON contacts (workspace_id, tier, created_at, id);
CREATE INDEX contacts_account ON contacts (workspace_id, account_id, created_at, id);
CREATE INDEX contacts_engagement ON contacts (workspace_id, engagement_score, id);
CREATE VIRTUAL TABLE contacts_fts USING fts5(search_text, content='contacts', content_rowid='rid', tokenize='trigram');
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
  INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rid, new.search_text);
END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
  INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts BEGIN
  INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
  INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rid, new.search_text);
END;
ALTER TABLE contacts ADD COLUMN tags text NOT NULL DEFAULT '[]';
ALTER TABLE contacts ADD COLUMN name_key text;
CREATE INDEX contacts_name_key ON contacts (workspace_id, name_key);
ALTER TABLE accounts ADD COLUMN name_key text;
CREATE INDEX accounts_name_key ON accounts (workspace_id, name_key);
CREATE TABLE search_backlog (low integer PRIMARY KEY, high integer NOT NULL);
DROP TRIGGER contacts_fts_insert;
DROP TRIGGER contacts_fts_delete;
DROP TRIGGER contacts_fts_update;
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts WHEN NOT EXISTS (SELECT 1 FROM search_backlog WHERE new.rid BETWEEN low AND high) BEGIN INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rid, new.search_text); END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts WHEN NOT EXISTS (SELECT 1 FROM search_backlog WHERE old.rid BETWEEN low AND high) BEGIN INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text); END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts WHEN NOT EXISTS (SELECT 1 FROM search_backlog WHERE old.rid BETWEEN low AND high) BEGIN INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text); INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rid, new.search_text); END;

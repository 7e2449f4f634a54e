-- Today's (issue 4) accounts and contacts tables, verbatim from the migrations
-- m0001_sales and m0005_matching_keys as they stood before m0006_lean_indexes, with the two
-- tables they refer to: the reference schema floor `bench/import.sh` measures beside the
-- new one. Written into an empty database.
CREATE TABLE workspaces (id uuid PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, display_name text NOT NULL, password_hash text NOT NULL, is_active boolean NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO workspaces VALUES (gen_random_uuid(), 'bench', 'bench', now());
CREATE TABLE accounts (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name text NOT NULL,
    domain text,
    industry text,
    company_size text,
    annual_revenue_micros bigint,
    location text,
    fit_score double precision,
    intent_score double precision,
    status text NOT NULL,
    owner_id uuid REFERENCES users(id) ON DELETE SET NULL,
    crm_ids jsonb NOT NULL,
    metadata jsonb NOT NULL,
    search_text text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX accounts_domain ON accounts (workspace_id, domain);
CREATE INDEX accounts_created ON accounts (workspace_id, created_at, id);
CREATE INDEX accounts_updated ON accounts (workspace_id, updated_at, id);
CREATE INDEX accounts_name ON accounts (workspace_id, name, id);
CREATE INDEX accounts_owner ON accounts (workspace_id, owner_id, status, created_at, id);
CREATE TABLE contacts (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    account_id uuid REFERENCES accounts(id) ON DELETE SET NULL,
    owner_id uuid REFERENCES users(id) ON DELETE SET NULL,
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
    consent_at timestamptz,
    consent_source text,
    do_not_contact boolean NOT NULL,
    custom_fields jsonb NOT NULL,
    crm_ids jsonb NOT NULL,
    search_text text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX contacts_email ON contacts (workspace_id, email);
CREATE INDEX contacts_created ON contacts (workspace_id, created_at, id);
CREATE INDEX contacts_updated ON contacts (workspace_id, updated_at, id);
CREATE INDEX contacts_status ON contacts (workspace_id, status, created_at, id);
CREATE INDEX contacts_owner ON contacts (workspace_id, owner_id, status, created_at, id);
CREATE INDEX contacts_tier ON contacts (workspace_id, tier, created_at, id);
CREATE INDEX contacts_account ON contacts (workspace_id, account_id, created_at, id);
CREATE INDEX contacts_engagement ON contacts (workspace_id, engagement_score, id);
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX contacts_search ON contacts USING gin (search_text gin_trgm_ops);
CREATE INDEX accounts_search ON accounts USING gin (search_text gin_trgm_ops);
ALTER TABLE contacts ADD COLUMN tags jsonb NOT NULL DEFAULT '[]';
ALTER TABLE contacts ADD COLUMN name_key text;
CREATE INDEX contacts_name_key ON contacts (workspace_id, name_key);
ALTER TABLE accounts ADD COLUMN name_key text;
CREATE INDEX accounts_name_key ON accounts (workspace_id, name_key);

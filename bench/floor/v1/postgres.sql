-- The reference schema floor on PostgreSQL (the tables before m0006_lean_indexes): the benchmark file's rows written by PostgreSQL itself
-- into SalesOS's own accounts and contacts tables (every index, the trigram search index,
-- keys and foreign keys), in one transaction, from the plain table `raw` that `\copy`
-- loaded. Duplicates of an email are left out as the import merges them. Ids are
-- time-ordered as UUIDv7 ids are. Run against a database made by `v1/postgres_schema.sql`.
BEGIN;
INSERT INTO accounts (id, workspace_id, name, domain, status, crm_ids, metadata, search_text,
    created_at, updated_at, name_key)
SELECT lpad(to_hex(row_number() OVER ()), 32, '0')::uuid, (SELECT id FROM workspaces), company,
    lower(replace(replace(replace(min(website), 'https://', ''), 'www.', ''), '/', '')),
    'active', '{}', '{}', lower(company), now(), now(), lower(company)
FROM raw WHERE company <> '' GROUP BY company
ON CONFLICT DO NOTHING;
INSERT INTO contacts (id, workspace_id, account_id, first_name, last_name, email, phone,
    linkedin_url, title, company, status, engagement_score, intent_score, country, city, source,
    do_not_contact, custom_fields, crm_ids, search_text, created_at, updated_at, tags, name_key)
SELECT lpad(to_hex(1000000000 + r.n), 32, '0')::uuid, a.workspace_id, a.id, r.first_name,
    r.last_name, NULLIF(lower(r.email), ''), r.phone, r.linkedin, r.title, r.company, 'new', 0, 0,
    r.country, r.city, 'import', false, jsonb_build_object('lead_source', r.source, 'region', r.state),
    '{}', lower(concat_ws(' ', r.first_name, r.last_name, r.email, r.company, r.title)), now(), now(),
    '[]', lower(r.first_name) || '|' || lower(r.last_name) || '|' || a.id
FROM (SELECT *, row_number() OVER () AS n FROM raw) r
LEFT JOIN accounts a ON a.workspace_id = (SELECT id FROM workspaces) AND a.name = r.company
ON CONFLICT DO NOTHING;
COMMIT;
SELECT json_build_object('contacts', (SELECT count(*) FROM contacts), 'accounts', (SELECT count(*) FROM accounts));

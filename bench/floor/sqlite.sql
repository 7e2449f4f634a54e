-- The schema floor on SQLite: the benchmark file's rows written by SQLite itself into
-- SalesOS's own accounts and contacts tables (every index, key and foreign key), in one
-- transaction, from the plain table `sqlite3 .import` loaded (attached as `f`). Search
-- indexing is deferred as the import defers it. Duplicates of an email are left out as the
-- import merges them. Run against a freshly migrated data directory. SQLite has no hash
-- function: the name hash is a multiplicative hash of the row number, as wide and in as
-- random an order as the import's 64-bit FNV-1a of the name key.
PRAGMA foreign_keys = ON;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -65536;
BEGIN;
INSERT INTO search_backlog (low, high) VALUES (1, 9223372036854775807);
INSERT OR IGNORE INTO accounts (id, workspace_id, name, domain, status, crm_ids, metadata,
    search_text, created_at, updated_at, name_key)
SELECT CAST(printf('a%015d', min(rowid)) AS BLOB), (SELECT id FROM workspaces), company,
    lower(replace(replace(replace(min(website), 'https://', ''), 'www.', ''), '/', '')),
    'active', '{}', '{}', lower(company),
    strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'),
    lower(company)
FROM f.raw WHERE company <> '' GROUP BY company;
INSERT OR IGNORE INTO contacts (rid, id, workspace_id, account_id, first_name, last_name, email,
    phone, linkedin_url, title, company, status, engagement_score, intent_score, country, city,
    source, do_not_contact, custom_fields, crm_ids, search_text, created_at, updated_at, tags,
    name_hash)
SELECT r.rowid, CAST(printf('c%015d', r.rowid) AS BLOB), a.workspace_id, a.id, r.first_name,
    r.last_name, NULLIF(lower(r.email), ''), r.phone, r.linkedin, r.title, r.company, 'new', 0, 0,
    r.country, r.city, 'import', 0, json_object('lead_source', r.source, 'region', r.state), '{}',
    lower(r.first_name || ' ' || r.last_name || ' ' || r.email || ' ' || r.company || ' ' || r.title),
    strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'),
    '[]', ((r.rowid * 2654435761) % 4294967291) * 1000003 + r.rowid
FROM f.raw r
LEFT JOIN accounts a ON a.workspace_id = (SELECT id FROM workspaces) AND a.name = r.company;
COMMIT;
SELECT json_object('contacts', (SELECT count(*) FROM contacts), 'accounts', (SELECT count(*) FROM accounts));

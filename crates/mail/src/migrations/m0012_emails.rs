//! Emails: one row per message, what it says (rendered once, so a retry sends the same
//! bytes), where it stands, and the server's answer; and the counters each mailbox's
//! caps are taken from; the links of tracked emails and every hit on them, raw and
//! classified; one row per mailbox and hour or day; and each workspace's key
//! for the links in its mail and its sender settings (the postal address every email
//! carries) (sealed; it outlives master key rotations, so old links work).

use salesos_platform::store::migrations::{Migration as Step, Schema};

pub struct Migration;

const EMAILS: &str = r#"
CREATE TABLE emails (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    contact_id {uuid} NOT NULL,
    mailbox_id {uuid} NOT NULL,
    template_id {uuid},
    to_address text NOT NULL,
    to_name text,
    provider text,
    from_address text NOT NULL,
    from_name text NOT NULL,
    reply_to text,
    subject text NOT NULL,
    html text NOT NULL,
    body_text text NOT NULL,
    message_id text NOT NULL,
    track_opens {bool} NOT NULL,
    track_clicks {bool} NOT NULL,
    status text NOT NULL,
    status_reason text,
    warnings text,
    scheduled_for {ts} NOT NULL,
    attempts integer NOT NULL,
    sent_at {ts},
    smtp_code integer,
    smtp_enhanced text,
    smtp_reply text,
    bounced_at {ts},
    unsubscribed_at {ts},
    opened_at {ts},
    clicked_at {ts},
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE INDEX emails_workspace ON emails (workspace_id, id);
CREATE INDEX emails_contact ON emails (workspace_id, contact_id, id);
CREATE INDEX emails_provider_sent ON emails (workspace_id, provider, sent_at);
CREATE TABLE mailbox_usage (
    mailbox_id {uuid} NOT NULL,
    period text NOT NULL,
    starts_at {ts} NOT NULL,
    used integer NOT NULL,
    PRIMARY KEY (mailbox_id, period, starts_at)
);
CREATE TABLE email_links (
    email_id {uuid} NOT NULL REFERENCES emails(id) ON DELETE CASCADE,
    idx integer NOT NULL,
    url text NOT NULL,
    PRIMARY KEY (email_id, idx)
);
CREATE TABLE email_hits (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email_id {uuid} NOT NULL REFERENCES emails(id) ON DELETE CASCADE,
    kind text NOT NULL,
    link_idx integer,
    url text,
    at {ts} NOT NULL,
    ip text NOT NULL,
    user_agent text,
    method text NOT NULL,
    class text NOT NULL,
    reason text NOT NULL
);
CREATE INDEX email_hits_email ON email_hits (email_id, at);
CREATE TABLE mail_workspace_settings (
    id {uuid} PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    postal_address text,
    updated_at {ts} NOT NULL
);
CREATE TABLE mail_link_keys (
    id {uuid} PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    secret text NOT NULL,
    created_at {ts} NOT NULL
);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0012_emails"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(EMAILS).await
    }
}

//! Email use cases: ask for one (rendered and checked now, its send job queued in the
//! same transaction), read one, list them.

use chrono::{DateTime, Utc};
use salesos_contacts::contacts;
use salesos_model::EmailAddress;
use uuid::Uuid;

use super::{
    Email, EmailDetail, EmailStatus, SendRequest,
    job::{EmailRef, SendEmail},
    links::{self, Purpose},
    provider_of,
    store::{self, EmailRow},
    tracking,
};
use crate::{
    actions::SEND_EMAILS,
    mailboxes::store as mailbox_store,
    platform::web::escape,
    platform::{
        auth::{Credential, Principal, Role},
        error::{Error, FieldError},
        runtime::jobs::{self, NewJob},
        settings::Settings,
        store::{Db, Store},
    },
    templates::{
        render::text_of_html,
        service::{EmailSource, Sender, render_email},
    },
    topics::EMAIL_SEND_REQUESTED,
};

/// How many times a send is tried before it is failed (the job's attempts).
pub const MAX_ATTEMPTS: i32 = 8;

/// The workspace acting by itself (the send job, links in mail), with an admin's reach.
pub fn system(workspace_id: Uuid) -> Principal {
    Principal {
        workspace_id,
        user_id: None,
        role: Role::Admin,
        credential: Credential::ApiKey {
            key_id: Uuid::nil(),
        },
        request_id: None,
    }
}

/// Where links in mail point: the configured public URL, else this server's address.
pub fn public_base(settings: &Settings) -> (String, Option<String>) {
    match &settings.public_url {
        Some(url) => (url.trim_end_matches('/').to_owned(), None),
        None => {
            let base = format!("http://{}", settings.bind);
            let warning = format!(
                "no public_url is set: its links point to {base}, which recipients may not reach"
            );
            (base, Some(warning))
        }
    }
}

/// The spintax seed of an email: from its id, so every retry says the same.
fn seed_of(id: Uuid) -> u64 {
    id.as_u64_pair().1
}

/// The signature, the sender's postal address and the visible unsubscribe link, under
/// the body.
fn with_footer(
    html: &str,
    text: &str,
    signature: Option<&str>,
    postal_address: Option<&str>,
    unsubscribe: &str,
) -> (String, String) {
    let mut h = html.trim_end().to_owned();
    let mut t = text.trim_end().to_owned();
    if let Some(sig) = signature {
        h.push_str("\n<div class=\"signature\">");
        h.push_str(sig);
        h.push_str("</div>");
        let sig_text = text_of_html(sig);
        if !sig_text.trim().is_empty() {
            t.push_str("\n\n--\n");
            t.push_str(sig_text.trim_end());
        }
    }
    let address_html = postal_address
        .map(|a| format!("{}<br>", escape(a)))
        .unwrap_or_default();
    h.push_str(&format!(
        "\n<p style=\"font-size:12px;color:#777\">{address_html}Not interested? <a href=\"{}\">Unsubscribe</a>.</p>\n",
        escape(unsubscribe)
    ));
    if let Some(a) = postal_address {
        t.push_str(&format!("\n\n{a}"));
    }
    t.push_str(&format!("\n\nNot interested? Unsubscribe: {unsubscribe}\n"));
    (h, t)
}

pub async fn request(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    input: SendRequest,
) -> Result<Email, Error> {
    principal.require(SEND_EMAILS)?;
    let mut errors = Vec::new();
    let source = match (input.template_id, input.subject, input.html) {
        (Some(id), None, None) if input.text.is_none() => Some(EmailSource::Saved(id)),
        (None, Some(subject), Some(html)) => Some(EmailSource::Written {
            subject,
            html,
            text: input.text,
        }),
        (Some(_), _, _) => {
            errors.push(FieldError::new(
                "template_id",
                "give a template_id or a subject and html, not both",
            ));
            None
        }
        (None, _, _) => {
            errors.push(FieldError::new(
                "template_id",
                "give a template_id, or a subject and html",
            ));
            None
        }
    };
    let contact = match contacts::service::get(store, principal, input.contact_id).await {
        Ok(c) => Some(c),
        Err(Error::NotFound(_)) => {
            errors.push(FieldError::new(
                "contact_id",
                "no contact of this workspace has this id",
            ));
            None
        }
        Err(e) => return Err(e),
    };
    let to = contact.as_ref().and_then(|c| c.email.clone());
    if contact.is_some() && to.is_none() {
        errors.push(FieldError::new(
            "contact_id",
            "the contact has no email address",
        ));
    }
    let mailbox =
        mailbox_store::get(store.conn(), principal.workspace_id, input.mailbox_id).await?;
    if mailbox.is_none() {
        errors.push(FieldError::new(
            "mailbox_id",
            "no mailbox of this workspace has this id",
        ));
    }
    let (Some(source), Some(contact), Some(to), Some(mailbox)) = (source, contact, to, mailbox)
    else {
        return Err(Error::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let to = EmailAddress::parse(&to)
        .map_err(|why| Error::invalid("contact_id", format!("the contact's address: {why}")))?;
    let now = store.now();
    let id = store.clock().new_id();
    let sender = Sender {
        name: Some(mailbox.from_name.clone()),
        email: Some(mailbox.from_address.clone()),
        signature: mailbox.signature.clone(),
    };
    let rendered = render_email(
        store,
        principal,
        source,
        &contact,
        &sender,
        input.variables.unwrap_or_default(),
        seed_of(id),
    )
    .await?;
    let (base, warning) = public_base(settings);
    let mut warnings: Vec<String> = warning.into_iter().collect();
    let txn = store.write().await?;
    let key = links::key(&txn, store, principal.workspace_id)
        .await
        .map_err(Error::Internal)?;
    let unsubscribe = format!("{base}/u/{}", links::token(&key, Purpose::Unsubscribe, id));
    let track_opens = input.track_opens.unwrap_or(false);
    let track_clicks = input.track_clicks.unwrap_or(false);
    let (mut body, tracked_links) = if track_clicks {
        tracking::rewrite_links(&rendered.html, &base, |n| {
            links::token(&key, Purpose::Click(n), id)
        })
    } else {
        (rendered.html.clone(), Vec::new())
    };
    if track_opens {
        let url = format!("{base}/t/o/{}", links::token(&key, Purpose::Open, id));
        body = tracking::with_pixel(&body, &url);
    }
    let profile = super::profile::get(&txn, principal.workspace_id).await?;
    if profile.postal_address.is_none() {
        warnings.push(
            "no postal address in the footer: US law (CAN-SPAM) asks commercial email for \
             one; set it with PUT /api/v1/mail-settings"
                .to_owned(),
        );
    }
    let (html, text) = with_footer(
        &body,
        &rendered.text,
        mailbox.signature.as_deref(),
        profile.postal_address.as_deref(),
        &unsubscribe,
    );
    let from_domain = mailbox
        .from_address
        .rsplit_once('@')
        .map_or("localhost", |(_, d)| d)
        .to_owned();
    let scheduled_for: DateTime<Utc> = input.scheduled_for.filter(|t| *t > now).unwrap_or(now);
    let row = EmailRow {
        id,
        workspace_id: principal.workspace_id,
        contact_id: contact.id,
        mailbox_id: mailbox.id,
        template_id: input.template_id,
        to_address: to.as_str().to_owned(),
        to_name: Some(contact.display_name.clone()).filter(|n| !n.trim().is_empty()),
        provider: provider_of(to.domain()).map(str::to_owned),
        from_address: mailbox.from_address.clone(),
        from_name: mailbox.from_name.clone(),
        reply_to: mailbox.reply_to.clone(),
        subject: rendered.subject,
        html,
        body_text: text,
        message_id: format!("{}@{from_domain}", id.simple()),
        track_opens,
        track_clicks,
        status: EmailStatus::Scheduled.as_str().to_owned(),
        status_reason: None,
        warnings: (!warnings.is_empty()).then(|| serde_json::json!(warnings).to_string()),
        scheduled_for,
        attempts: 0,
        sent_at: None,
        smtp_code: None,
        smtp_enhanced: None,
        smtp_reply: None,
        bounced_at: None,
        unsubscribed_at: None,
        opened_at: None,
        clicked_at: None,
        created_at: now,
        updated_at: now,
    };
    store::insert(&txn, &row).await?;
    tracking::insert_links(&txn, id, &tracked_links).await?;
    let mut job = NewJob::of::<SendEmail>(&EmailRef { email_id: id });
    job.workspace_id = Some(principal.workspace_id);
    job.run_at = Some(scheduled_for);
    job.max_attempts = MAX_ATTEMPTS;
    job.unique_key = Some(id.to_string());
    jobs::enqueue(&txn, job).await?;
    let shown = row.shown();
    crate::changes::record(
        &txn,
        principal,
        &EMAIL_SEND_REQUESTED,
        "email",
        id,
        None,
        Some(&shown),
    )
    .await?;
    txn.commit().await?;
    Ok(shown)
}

async fn find<C: Db>(conn: &C, principal: &Principal, id: Uuid) -> Result<EmailRow, Error> {
    store::get(conn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("email"))
}

pub async fn get(store: &Store, principal: &Principal, id: Uuid) -> Result<EmailDetail, Error> {
    Ok(find(store.conn(), principal, id).await?.detail())
}

/// Where an email stands after it went, with every hit and its classification.
pub async fn tracking(
    store: &Store,
    principal: &Principal,
    id: Uuid,
) -> Result<super::Tracking, Error> {
    let row = find(store.conn(), principal, id).await?;
    let hits = tracking::hits(store.conn(), id).await?;
    let human = |kind: &str| {
        hits.iter()
            .filter(|h| h.kind == kind && h.class == "human")
            .count()
    };
    let bounced = row.bounced_at.is_some();
    Ok(super::Tracking {
        email_id: row.id,
        status: row.status(),
        sent_at: row.sent_at,
        opened_at: row.opened_at,
        clicked_at: row.clicked_at,
        unsubscribed: row.unsubscribed_at.is_some(),
        unsubscribed_at: row.unsubscribed_at,
        bounced,
        bounced_at: row.bounced_at,
        bounce_code: row.smtp_code.filter(|_| bounced),
        bounce_enhanced: row.smtp_enhanced.clone().filter(|_| bounced),
        bounce_reply: row.smtp_reply.clone().filter(|_| bounced),
        human_opens: human("open"),
        human_clicks: human("click"),
        machine_hits: hits.iter().filter(|h| h.class != "human").count(),
        hits,
    })
}

pub async fn list(
    store: &Store,
    principal: &Principal,
    contact_id: Option<Uuid>,
    status: Option<EmailStatus>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Email>, Error> {
    Ok(store::list(
        store.conn(),
        principal.workspace_id,
        contact_id,
        status,
        before,
        limit,
    )
    .await?
    .iter()
    .map(EmailRow::shown)
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_carries_the_signature_and_a_visible_unsubscribe_link() {
        let (h, t) = with_footer(
            "<p>Hi</p>\n\n",
            "Hi\n\n",
            Some("<p>Ada</p>"),
            Some("Acme Inc, 1 Main St, Springfield"),
            "https://x.test/u/abc?a=1&b=2",
        );
        assert!(
            h.contains("<div class=\"signature\"><p>Ada</p></div>"),
            "{h}"
        );
        assert!(
            h.contains("href=\"https://x.test/u/abc?a=1&amp;b=2\""),
            "{h}"
        );
        assert!(
            t.starts_with("Hi\n\n--\nAda\n\nAcme Inc, 1 Main St, Springfield"),
            "{t}"
        );
        assert!(
            h.contains("Acme Inc, 1 Main St, Springfield<br>Not interested?"),
            "{h}"
        );
        assert!(
            t.ends_with("Unsubscribe: https://x.test/u/abc?a=1&b=2\n"),
            "{t}"
        );
    }
}

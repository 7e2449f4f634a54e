//! What mail brings to SalesOS, declared once.

use std::sync::Arc;

use axum::Router;
use salesos_platform::{
    area::{Area, Asset, NavEntry},
    auth::Action,
    runtime::{topics::Topic, worker::JobHandler},
    secrets::SealedColumn,
    settings::{AnySection, Settings},
    state::AppState,
    store::migrations::Migration,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    actions, domains, emails, mailboxes, migrations, settings::MailSettings, suppressions,
    templates, topics, ui,
};

pub struct Mail;

/// Every sealed column of mail: mailbox passwords and tokens, domains' private keys.
const SEALED: &[SealedColumn] = &[
    mailboxes::store::SECRET,
    domains::store::DKIM_KEY,
    domains::store::ED25519_KEY,
    emails::links::LINK_KEY,
];

impl Area for Mail {
    fn name(&self) -> &'static str {
        "mail"
    }

    fn api_tags(&self) -> &'static [(&'static str, &'static str)] {
        &[
            (
                "domains",
                "Sending domains: DKIM keys, the DNS records to publish, and their check",
            ),
            (
                "emails",
                "Emails: send one, see where it stands and what the server said",
            ),
            (
                "mailboxes",
                "Mailboxes: who sends, through which server, how much per day",
            ),
            (
                "suppressions",
                "Addresses and domains never to be mailed, with why",
            ),
            (
                "templates",
                "Email templates: subject, HTML and text with variables and spintax",
            ),
        ]
    }

    fn api(&self, _settings: &Settings) -> OpenApiRouter<AppState> {
        suppressions::api::router()
            .merge(templates::api::router())
            .merge(mailboxes::api::router())
            .merge(domains::api::router())
            .merge(emails::api::router())
    }

    fn pages(&self) -> Router<AppState> {
        ui::router()
    }

    fn public(&self) -> Router<AppState> {
        emails::links::router()
    }

    fn jobs(&self, settings: &Settings) -> anyhow::Result<Vec<Arc<dyn JobHandler>>> {
        Ok(vec![Arc::new(emails::job::SendEmail::new(settings))])
    }

    fn nav(&self) -> &'static [NavEntry] {
        &[
            NavEntry {
                label: "Emails",
                href: "/app/emails",
                key: "emails",
                order: 385,
                requires: None,
            },
            NavEntry {
                label: "Mailboxes",
                href: "/app/mailboxes",
                key: "mailboxes",
                order: 390,
                requires: None,
            },
            NavEntry {
                label: "Domains",
                href: "/app/domains",
                key: "domains",
                order: 395,
                requires: None,
            },
            NavEntry {
                label: "Templates",
                href: "/app/templates",
                key: "templates",
                order: 400,
                requires: None,
            },
            NavEntry {
                label: "Suppressions",
                href: "/app/suppressions",
                key: "suppressions",
                order: 410,
                requires: None,
            },
        ]
    }

    fn templates(&self) -> &'static [(&'static str, &'static str)] {
        &[
            (
                "mail/mailboxes.html",
                include_str!("../templates/mail/mailboxes.html"),
            ),
            (
                "mail/emails.html",
                include_str!("../templates/mail/emails.html"),
            ),
            (
                "mail/domains.html",
                include_str!("../templates/mail/domains.html"),
            ),
            (
                "mail/templates.html",
                include_str!("../templates/mail/templates.html"),
            ),
            (
                "mail/suppressions.html",
                include_str!("../templates/mail/suppressions.html"),
            ),
        ]
    }

    fn assets(&self) -> &'static [Asset] {
        &[Asset {
            name: "mail.js",
            content_type: "text/javascript",
            bytes: include_bytes!("../assets/mail.js"),
        }]
    }

    fn migrations(&self) -> Vec<Box<dyn Migration>> {
        migrations::all()
    }

    fn actions(&self) -> &'static [Action] {
        &[
            actions::MANAGE_SUPPRESSIONS,
            actions::WRITE_TEMPLATES,
            actions::MANAGE_MAILBOXES,
            actions::MANAGE_DOMAINS,
            actions::SEND_EMAILS,
        ]
    }

    fn settings(&self) -> Option<Box<dyn AnySection>> {
        Some(Box::new(MailSettings::default()))
    }

    fn sealed_columns(&self) -> &'static [SealedColumn] {
        SEALED
    }

    fn topics(&self) -> &'static [Topic] {
        &[
            topics::SUPPRESSION_ADDED,
            topics::SUPPRESSION_REMOVED,
            topics::TEMPLATE_CREATED,
            topics::TEMPLATE_UPDATED,
            topics::TEMPLATE_DELETED,
            topics::MAILBOX_CREATED,
            topics::MAILBOX_UPDATED,
            topics::MAILBOX_DELETED,
            topics::DOMAIN_CREATED,
            topics::DOMAIN_CHECKED,
            topics::DOMAIN_DELETED,
            topics::EMAIL_SEND_REQUESTED,
            topics::EMAIL_SENT,
            topics::EMAIL_FAILED,
            topics::EMAIL_UNSUBSCRIBED,
            topics::EMAIL_OPENED,
            topics::EMAIL_CLICKED,
        ]
    }
}

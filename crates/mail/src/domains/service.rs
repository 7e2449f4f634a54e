//! Sending domain use cases: add one (its DKIM keys are made and sealed), show what to
//! publish, check it against DNS, delete it; and for the send job, the signers of a
//! sender's domain and whether the gate lets its mail through.

use chrono::Datelike;
use uuid::Uuid;

use super::{
    Domain, NewDomain, check_host, check_selector,
    checks::{self, Outcome},
    dns::Resolver,
    keys,
    store::{self, Checked, DOMAIN_KEY, DomainRow},
};
use crate::{
    actions::MANAGE_DOMAINS,
    dkim::Signer,
    platform::{
        auth::Principal,
        error::Error,
        runtime::topics::Topic,
        settings::Settings,
        store::{Db, Store, broken_key},
    },
    settings::MailSettings,
    topics::{DOMAIN_CHECKED, DOMAIN_CREATED, DOMAIN_DELETED},
};

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("{what}: {e}"))
}

async fn emit<C: Db>(
    conn: &C,
    principal: &Principal,
    topic: &Topic,
    before: Option<&Domain>,
    after: Option<&Domain>,
) -> Result<(), Error> {
    let Some(id) = after.or(before).map(|d| d.id) else {
        return Ok(());
    };
    crate::changes::record(conn, principal, topic, "sending_domain", id, before, after).await
}

pub async fn create(
    store: &Store,
    principal: &Principal,
    input: NewDomain,
) -> Result<Domain, Error> {
    principal.require(MANAGE_DOMAINS)?;
    let mut errors = Vec::new();
    let domain = check_host("domain", &input.domain, false, &mut errors);
    let now = store.now();
    let selector = match &input.dkim_selector {
        Some(s) => check_selector(s, &mut errors),
        None => format!("so{:04}{:02}", now.year(), now.month()),
    };
    let spf_include = input
        .spf_include
        .as_deref()
        .map(|s| check_host("spf_include", s, true, &mut errors));
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    if store::by_name(store.conn(), principal.workspace_id, &domain)
        .await?
        .is_some()
    {
        return Err(taken(&domain));
    }
    let ed25519 = input.ed25519.unwrap_or(false);
    // RSA key generation takes a moment of CPU: off the async threads.
    let (rsa, ed) = tokio::task::spawn_blocking(move || {
        let rsa = keys::rsa()?;
        let ed = ed25519.then(keys::ed25519).transpose()?;
        Ok::<_, crate::dkim::DkimError>((rsa, ed))
    })
    .await
    .map_err(|e| internal("key generation stopped", e))?
    .map_err(|e| internal("cannot make the DKIM key", e))?;
    let unchecked = super::CheckStatus::Unchecked.as_str().to_owned();
    let mut row = DomainRow {
        id: store.clock().new_id(),
        workspace_id: principal.workspace_id,
        domain,
        ed25519_selector: ed.as_ref().map(|_| format!("{selector}e")),
        dkim_selector: selector,
        dkim_key: String::new(),
        dkim_public: rsa.public_b64,
        ed25519_key: None,
        ed25519_public: ed.as_ref().map(|k| k.public_b64.clone()),
        spf_include,
        dkim_status: unchecked.clone(),
        dkim_detail: None,
        ed25519_status: unchecked.clone(),
        ed25519_detail: None,
        spf_status: unchecked.clone(),
        spf_detail: None,
        dmarc_status: unchecked.clone(),
        dmarc_detail: None,
        mx_status: unchecked,
        mx_detail: None,
        checked_at: None,
        created_at: now,
        updated_at: now,
    };
    let ring = store.keyring();
    row.dkim_key = row
        .seal(ring, &rsa.private_b64)
        .map_err(|e| internal("cannot seal the DKIM key", e))?;
    if let Some(k) = &ed {
        row.ed25519_key = Some(
            row.seal(ring, &k.private_b64)
                .map_err(|e| internal("cannot seal the DKIM key", e))?,
        );
    }
    let txn = store.write().await?;
    store::insert(&txn, &row)
        .await
        .map_err(|e| match broken_key(&e, &[DOMAIN_KEY]) {
            Some(_) => taken(&row.domain),
            None => e.into(),
        })?;
    let shown = row.shown();
    emit(&txn, principal, &DOMAIN_CREATED, None, Some(&shown)).await?;
    txn.commit().await?;
    Ok(shown)
}

fn taken(domain: &str) -> Error {
    Error::conflict("domain", format!("`{domain}` is a sending domain already"))
}

async fn find<C: Db>(conn: &C, principal: &Principal, id: Uuid) -> Result<DomainRow, Error> {
    store::get(conn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("sending domain"))
}

pub async fn get(store: &Store, principal: &Principal, id: Uuid) -> Result<Domain, Error> {
    Ok(find(store.conn(), principal, id).await?.shown())
}

pub async fn list(
    store: &Store,
    principal: &Principal,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Domain>, Error> {
    Ok(
        store::list(store.conn(), principal.workspace_id, before, limit)
            .await?
            .iter()
            .map(DomainRow::shown)
            .collect(),
    )
}

pub async fn delete(store: &Store, principal: &Principal, id: Uuid) -> Result<(), Error> {
    principal.require(MANAGE_DOMAINS)?;
    let txn = store.write().await?;
    let row = find(&txn, principal, id).await?;
    store::delete(&txn, principal.workspace_id, id).await?;
    emit(&txn, principal, &DOMAIN_DELETED, Some(&row.shown()), None).await?;
    txn.commit().await?;
    Ok(())
}

/// Ask DNS for every record of the domain, all at once, and judge each.
async fn look_up(resolver: &Resolver, row: &DomainRow) -> Checked {
    let txt = |name: String| async move { (resolver.txt(&name).await, name) };
    let dkim_host = row.dkim_host();
    let ed_host = row.ed25519_host();
    let (dkim, ed, spf, dmarc, mx) = tokio::join!(
        txt(dkim_host),
        async {
            match ed_host {
                Some(h) => Some(txt(h).await),
                None => None,
            }
        },
        resolver.txt(&row.domain),
        dmarc(resolver, &row.domain),
        resolver.mx(&row.domain),
    );
    let judged =
        |(answer, host): (Result<Vec<String>, _>, String), kind: &str, key: &str| match answer {
            Ok(records) => checks::dkim(&host, &records, kind, key),
            Err(e) => Outcome::error(format!("{host}: {e}")),
        };
    Checked {
        dkim: judged(dkim, "rsa", &row.dkim_public),
        ed25519: ed.map(|answer| {
            judged(
                answer,
                "ed25519",
                row.ed25519_public.as_deref().unwrap_or(""),
            )
        }),
        spf: match spf {
            Ok(records) => checks::spf(&row.domain, &records, row.spf_include.as_deref()),
            Err(e) => Outcome::error(e.to_string()),
        },
        dmarc,
        mx: match mx {
            Ok(records) => checks::mx(&row.domain, &records),
            Err(e) => Outcome::error(e.to_string()),
        },
    }
}

/// The DMARC record that applies: the domain's own, else the nearest parent's.
async fn dmarc(resolver: &Resolver, domain: &str) -> Outcome {
    for at in checks::dmarc_names(domain) {
        match resolver.txt(&format!("_dmarc.{at}")).await {
            Ok(records) if records.iter().any(|r| checks::is_dmarc(r)) => {
                return checks::dmarc(domain, &at, &records);
            }
            Ok(_) => continue,
            Err(e) => return Outcome::error(format!("_dmarc.{at}: {e}")),
        }
    }
    checks::dmarc(domain, domain, &[])
}

/// Check the domain's DKIM, SPF, DMARC and MX against DNS now and record what each said.
pub async fn verify(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    id: Uuid,
) -> Result<Domain, Error> {
    principal.require(MANAGE_DOMAINS)?;
    let before = find(store.conn(), principal, id).await?;
    let mail = settings.section::<MailSettings>();
    let resolver = Resolver::configured(mail.dns_server, mail.dns_timeout);
    let checked = look_up(&resolver, &before).await;
    let txn = store.write().await?;
    // Still there? It may have been deleted while DNS answered.
    let mut row = find(&txn, principal, id).await?;
    row.set_checked(checked, store.now());
    store::update(&txn, &row).await?;
    let (b, a) = (before.shown(), row.shown());
    emit(&txn, principal, &DOMAIN_CHECKED, Some(&b), Some(&a)).await?;
    txn.commit().await?;
    Ok(a)
}

/// The sending domain of `address` in the workspace, if it has one.
pub async fn of_address<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    address: &str,
) -> Result<Option<DomainRow>, Error> {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Ok(None);
    };
    Ok(store::by_name(conn, workspace_id, &domain.to_ascii_lowercase()).await?)
}

/// What signs mail from `row`: its RSA key, then its Ed25519 key if it has one.
pub fn signers(store: &Store, row: &DomainRow) -> Result<Vec<Signer>, Error> {
    let ring = store.keyring();
    let open = |sealed: &str| {
        row.open(ring, sealed)
            .map_err(|e| internal("cannot open the DKIM key", e))
    };
    let mut out = vec![Signer {
        key: keys::load(true, &open(&row.dkim_key)?).map_err(|e| internal("DKIM key", e))?,
        domain: row.domain.clone(),
        selector: row.dkim_selector.clone(),
    }];
    if let (Some(sealed), Some(selector)) = (&row.ed25519_key, &row.ed25519_selector) {
        out.push(Signer {
            key: keys::load(false, &open(sealed)?).map_err(|e| internal("DKIM key", e))?,
            domain: row.domain.clone(),
            selector: selector.clone(),
        });
    }
    Ok(out)
}

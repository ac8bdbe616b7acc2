//! Moving a mailbox from Exchange Web Services to Microsoft Graph with no resync, no duplicate and
//! no write: [`ews_to_graph`].
//!
//! Exchange Online serves one mailbox over both APIs; only the ids differ. The store holds the EWS
//! ids of the user's paired items; Graph translates them (`translateExchangeIds`, `ewsId` →
//! `restImmutableEntryId`, one call per 1000 ids) and the engine re-points the pairs
//! ([`Engine::repoint_mailbox`]). The next cycle, run with the Graph connector as the user's
//! mailbox side, reads the mailbox in full, finds every item already paired, and writes nothing
//! where nothing changed. See `docs/connectors/exchange-ews.md`, "Migration to Graph".

use std::collections::HashMap;

use tandem_core::state::RecordId;
use tandem_engine::{Engine, EngineError, RepointReport};
use tandem_graph::GraphConnector;

/// What [`ews_to_graph`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    /// Distinct ids sent to Graph.
    pub translated: usize,
    /// `translateExchangeIds` calls made (one per 1000 ids).
    pub translate_calls: usize,
    /// What the engine re-pointed.
    pub repointed: RepointReport,
}

/// Re-points `user`'s pairs from the EWS ids the store holds to the ids `graph` (the Graph
/// connector of the same mailbox) uses. Reads the pairs, asks Graph to translate every mailbox id,
/// and calls [`Engine::repoint_mailbox`]; nothing is written to the mailbox or the CRM.
/// Afterwards, sync the user with `graph` as the mailbox connector.
///
/// # Errors
///
/// [`EngineError::Connector`] when the translation fails as a whole; [`EngineError::Config`] when
/// some id cannot be translated (nothing is changed then) or writes are still unsettled;
/// [`EngineError::Store`] when the store fails.
pub async fn ews_to_graph(engine: &Engine, user: &str, graph: &GraphConnector) -> Result<Migration, EngineError> {
    let mut ids: Vec<String> =
        engine.mailbox_record_ids(user).await?.into_iter().map(|(_, id)| id.0.to_string()).collect();
    ids.sort();
    ids.dedup();
    let translated = graph
        .translate_exchange_ids(&ids)
        .await
        .map_err(|error| EngineError::Connector { side: tandem_core::state::Side::Mailbox, error })?;
    let map: HashMap<RecordId, RecordId> = translated
        .into_iter()
        .filter_map(|(old, new)| new.map(|new| (RecordId::from(old), RecordId::from(new))))
        .collect();
    let repointed = engine
        .repoint_mailbox(user, &map, &format!("migration from EWS to Microsoft Graph ({} ids translated)", ids.len()))
        .await?;
    Ok(Migration {
        translated: ids.len(),
        translate_calls: ids.len().div_ceil(tandem_graph::MAX_TRANSLATE_IDS),
        repointed,
    })
}

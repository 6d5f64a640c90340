-- privacy: what stays of an erased person (a keyed hash, never an address) and the audit of erasures.
create schema if not exists privacy;

-- one row per keyed hash (HMAC-SHA256, leadflow.privacy.keys) of an erased person's normalised address
-- (kind 'email') or CRM id (kind 'crm_id'): staging never takes a CRM row that matches one again,
-- and m.consented never plans or sends to one (docs/adr/0014)
create table if not exists privacy.suppressions (
    key_hash text primary key,
    kind text not null,
    erasure_id text not null,
    created_at timestamptz not null
);

-- one row per erasure request, without personal data: the request's keyed hash, why, when it was asked
-- and applied, and how many rows and files of each table or folder it removed (a JSON object)
create table if not exists ops.erasures (
    erasure_id text primary key,
    key_hash text not null,
    key_kind text not null,
    reason text not null,
    source text not null,
    requested_at timestamptz not null,
    applied_at timestamptz,
    counts text
);

//! Who may see what, as pure rules: no database, no GraphQL. The read side applies them in two places
//! only: [`scope`](crate::service::scope) turns [`rows`] into SQL, and the GraphQL guards
//! (`graphql::guard`) turn [`personal`] and [`free_text`] into field errors. Writes are checked by the
//! command table of [`access`](crate::service).
//!
//! # Rows each role sees
//!
//! | entity | STAFF | VOLUNTEER | PARTNER | DASHBOARD | ADMIN |
//! |---|---|---|---|---|---|
//! | regions, organisations, programmes | all | all | all | all | all |
//! | volunteers, their trainings and awards | all | themself | none | none | all |
//! | cases, categories, status history | all | reported by them | of referrals it holds | none | all |
//! | persons | all | of their cases | of referrals it holds | none | all |
//! | consents | all | of their persons | its persons' consents to share with it | none | all |
//! | referrals, their events | all | of their cases | addressed to it and held | none | all |
//! | enrollments | all | of their cases | none | none | all |
//! | outcomes | all | of their cases | on referrals it holds | none | all |
//! | audit trail | none | none | none | none | all |
//!
//! A partner *holds* a referral when the last entry of its feed about that referral is an `UPSERT`:
//! after a `TOMBSTONE` (withdrawn, consent revoked or lapsed) the referral, its case, person, events and
//! outcomes are gone for the partner, in the API exactly as in the feed.
//!
//! A DASHBOARD key is aggregate-only: reference data as rows, everything else only as statistics. Row
//! lists would undo any disclosure control of the statistics (`totalCount` of a filtered list is an
//! exact count), and even without names a case row (age band, sex, kelurahan, categories, the instant it
//! opened) singles a person out. Volunteer rows are no exception: without a name, a PSM's kelurahan,
//! gender, first day of service, trainings and awards still point at one neighbour everybody knows.
//!
//! # Rows each role's statistics count
//!
//! Statistics ([`counted`]) are city-wide: the roles that read them ([`statistics`]) count every row of
//! every kind but the audit trail, and the figures leave only through disclosure control (see
//! [`perturbation`](crate::service::perturbation)), unless a STAFF key asks for exact figures
//! ([`exact_statistics`]). Filters in statistics requests match through the same counted rows.
//!
//! # Personal data and free text
//!
//! | what | STAFF | VOLUNTEER | PARTNER | DASHBOARD, ADMIN |
//! |---|---|---|---|---|
//! | person fields (name, NIK masked, birth date, phone, address, disability) | yes | of their persons | under a live consent to share with it | no |
//! | full NIK | yes | no | no | no |
//! | case summary, referral note, referral-event notes, outcome notes, enrollment exit reason | yes | of their persons | of its own referrals, under live consent | no |
//! | case status-history notes (internal to Dinsos; may name other partners) | yes | of their persons | no | no |
//! | consent override reason | yes | no | no | no |
//! | actor labels (key prefixes and names) | yes | role only | role only | role only (ADMIN: yes) |

use entity::enums::Role;

/// Which rows of an entity a role sees (rendered as SQL by [`scope`](crate::service::scope)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Every row.
    All,
    /// No row.
    None,
    /// Rows tied to the caller: its own profile, the cases it reported, the referrals it holds.
    Own,
}

/// The kinds of rows the policy distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Regions, organisations, programmes and their categories: published reference data.
    Reference,
    /// Volunteers, their trainings and awards.
    Volunteer,
    /// Cases, persons, consents, referrals, events and outcomes.
    CaseFile,
    /// Programme enrollments.
    Enrollment,
    /// The audit trail.
    Audit,
}

/// Which rows of `kind` a caller of `role` sees.
pub const fn rows(role: Role, kind: Kind) -> Rows {
    use Kind as K;
    use Role as R;
    match (kind, role) {
        (K::Reference, _) => Rows::All,
        (K::Audit, R::Admin) => Rows::All,
        (K::Audit, _) => Rows::None,
        (K::Volunteer, R::Volunteer) => Rows::Own,
        (K::Volunteer, R::Partner) => Rows::None,
        (K::CaseFile, R::Volunteer | R::Partner) => Rows::Own,
        (K::Enrollment, R::Volunteer) => Rows::Own,
        (K::Enrollment, R::Partner) => Rows::None,
        (K::Volunteer | K::CaseFile | K::Enrollment, R::Dashboard) => Rows::None,
        (K::Volunteer | K::CaseFile | K::Enrollment, R::Staff | R::Admin) => Rows::All,
    }
}

/// Whether a caller of `role` reads statistics: city-wide figures are for STAFF, DASHBOARD and ADMIN
/// keys; volunteers and partners work from their own lists.
pub const fn statistics(role: Role) -> bool {
    matches!(role, Role::Staff | Role::Dashboard | Role::Admin)
}

/// Which rows of `kind` the statistics of a caller of `role` count (rendered as SQL by
/// [`scope`](crate::service::scope) for the statistics engine only).
pub const fn counted(role: Role, kind: Kind) -> Rows {
    match kind {
        Kind::Audit => Rows::None,
        _ if statistics(role) => Rows::All,
        _ => Rows::None,
    }
}

/// Whether a caller of `role` may ask for exact statistics (true counts, nothing perturbed or
/// suppressed): STAFF only, who may read the rows behind every figure anyway.
pub const fn exact_statistics(role: Role) -> bool {
    matches!(role, Role::Staff)
}

/// Whether the statistics a caller of `role` reads count against a daily budget of its key: every
/// role but STAFF.
pub const fn budgeted(role: Role) -> bool {
    !matches!(role, Role::Staff)
}

/// How much of a person's personal data a caller may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing personal.
    None,
    /// Every personal field, the NIK masked.
    Masked,
    /// Every personal field, the full NIK included (STAFF).
    Full,
}

/// What a caller of `role` may read of a person whose row it sees; `shares` tells whether the person's
/// live consent covers sharing with the caller's organisation (only asked for partners).
pub fn personal(role: Role, shares: impl FnOnce() -> bool) -> Access {
    match role {
        Role::Staff => Access::Full,
        Role::Volunteer => Access::Masked,
        Role::Partner if shares() => Access::Masked,
        Role::Partner | Role::Admin | Role::Dashboard => Access::None,
    }
}

/// Kinds of free text. Free text is personal data: it names people, their health and their families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// The case summary, a referral's note, referral-event notes, outcome notes, an enrollment's exit
    /// reason: the narrative of the person's case, shared with whoever may read the person's data.
    Narrative,
    /// Notes of the case's status history: Dinsos' internal working notes, which may name other
    /// partners involved; never shown to partners.
    Internal,
    /// Why STAFF sent a referral without consent: a judgement about the person, STAFF only.
    OverrideReason,
}

/// Whether a caller of `role` with `access` to the person may read free text of `kind` about them.
pub fn free_text(role: Role, access: Access, kind: Text) -> bool {
    match kind {
        Text::OverrideReason => role == Role::Staff,
        Text::Internal => role != Role::Partner && access != Access::None,
        Text::Narrative => access != Access::None,
    }
}

/// Whether a caller of `role` may read actor labels in full (they name API keys and staff members);
/// others see only the kind of actor ([`actor_kind`]).
pub const fn full_actor_labels(role: Role) -> bool {
    matches!(role, Role::Staff | Role::Admin)
}

/// The kind of actor behind a stored actor label, safe to show to any caller that sees the record:
/// `Dinsos staff`, `PSM volunteer`, `partner organisation`, `system`.
pub fn actor_kind(label: &str) -> &'static str {
    let upper = label.trim().to_ascii_uppercase();
    if upper == "SYSTEM" {
        "system"
    } else if upper.starts_with("VOLUNTEER") {
        "PSM volunteer"
    } else if upper.starts_with("PARTNER") || (upper.starts_with("STAFF:") && !upper.starts_with("STAFF:DINSOS")) {
        // The demo data labels partner staff `staff:<organisation code>`.
        "partner organisation"
    } else {
        "Dinsos staff"
    }
}

/// Personal inputs of a query (filters and orderings): which rows match, or how they sort, would reveal
/// the personal data itself. `Full` needs STAFF; `Masked` needs STAFF or VOLUNTEER (whose rows are all
/// theirs to read).
pub fn may_use_personal_input(role: Role, needed: Access) -> bool {
    match needed {
        Access::Full => role == Role::Staff,
        Access::Masked | Access::None => matches!(role, Role::Staff | Role::Volunteer),
    }
}

/// Columns of stored rows that hold personal data or free text, by audit subject type; the audit
/// trail's before and after values are served with these withheld (see [`redact`]). Key hashes are
/// secrets, not personal data, but are withheld the same way.
pub const PERSONAL_COLUMNS: &[(&str, &[&str])] = &[
    ("Person", &["full_name", "nik", "birth_date", "sex", "disability", "address", "phone"]),
    ("Volunteer", &["full_name", "phone", "birth_year"]),
    ("Case", &["summary"]),
    ("Referral", &["note", "consent_override_reason"]),
    ("ReferralEvent", &["note", "actor"]),
    ("CaseStatusChange", &["note", "changed_by"]),
    ("Outcome", &["note", "recorded_by"]),
    ("Enrollment", &["exit_reason"]),
    ("Consent", &["given_by"]),
    ("ApiKey", &["secret_hash"]),
];

/// The marker that replaces a withheld value.
pub const WITHHELD: &str = "<withheld: personal data>";

/// `snapshot` (a stored row as a JSON object) with the personal columns of `subject_type` replaced by
/// [`WITHHELD`]. A column named `note` is withheld whatever the type, so that a note added to a new
/// table is not served by default. Null values stay null, so that "was it set" remains visible.
pub fn redact(subject_type: &str, snapshot: &mut serde_json::Value) {
    let Some(object) = snapshot.as_object_mut() else { return };
    let personal = PERSONAL_COLUMNS.iter().find(|(name, _)| *name == subject_type).map_or(&[][..], |(_, c)| *c);
    for (column, value) in object.iter_mut() {
        if (personal.contains(&column.as_str()) || column == "note") && !value.is_null() {
            *value = serde_json::Value::String(WITHHELD.to_owned());
        }
    }
}

//! The domain's enumerations as documented GraphQL enums (mirrors of `entity::enums`).

use async_graphql::Enum;
use entity::enums as db;

/// One of the 26 PPKS categories (Pemerlu Pelayanan Kesejahteraan Sosial: people in need of social
/// welfare services) of Permensos 8/2012, plus uninhabitable housing. A case carries one or more.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::PpksCategory")]
pub enum PpksCategory {
    /// Anak balita terlantar: a neglected child under five.
    NeglectedToddler,
    /// Anak terlantar: a neglected child.
    NeglectedChild,
    /// Anak berhadapan dengan hukum: a child in conflict with the law.
    ChildInConflictWithLaw,
    /// Anak jalanan: a street child.
    StreetChild,
    /// Anak dengan disabilitas: a child with a disability.
    ChildWithDisability,
    /// Anak korban tindak kekerasan: a child victim of violence.
    ChildVictimOfViolence,
    /// Anak memerlukan perlindungan khusus: a child needing special protection.
    ChildNeedingSpecialProtection,
    /// Lanjut usia terlantar: a neglected elderly person.
    NeglectedElderly,
    /// Penyandang disabilitas: a person with a disability.
    PersonWithDisability,
    /// Tuna susila: a sex worker.
    SexWorker,
    /// Gelandangan: a homeless person.
    Homeless,
    /// Pengemis: a beggar.
    Beggar,
    /// Pemulung: a scavenger.
    Scavenger,
    /// Kelompok minoritas: a member of a vulnerable minority group.
    MinorityGroup,
    /// Bekas warga binaan lembaga pemasyarakatan: a former prisoner.
    FormerPrisoner,
    /// ODHA: a person living with HIV.
    PersonLivingWithHiv,
    /// Korban penyalahgunaan NAPZA: a victim of substance abuse.
    SubstanceAbuseVictim,
    /// Korban trafficking: a victim of human trafficking.
    TraffickingVictim,
    /// Korban tindak kekerasan: a victim of violence.
    ViolenceVictim,
    /// Pekerja migran bermasalah sosial: a migrant worker in social difficulty.
    TroubledMigrantWorker,
    /// Korban bencana alam: a victim of a natural disaster.
    NaturalDisasterVictim,
    /// Korban bencana sosial: a victim of a social disaster (conflict, unrest).
    SocialDisasterVictim,
    /// Perempuan rawan sosial ekonomi: a socially and economically vulnerable woman.
    EconomicallyVulnerableWoman,
    /// Fakir miskin: the poor.
    Poor,
    /// Keluarga bermasalah sosial psikologis: a family with psychosocial problems.
    PsychosocialFamilyProblem,
    /// Komunitas adat terpencil: a remote indigenous community.
    RemoteIndigenousCommunity,
    /// Rumah tidak layak huni (RTLH): uninhabitable housing, addressed by house-rehabilitation programmes.
    UninhabitableHouse,
}

/// Where a case is in its lifecycle: NEW -> ASSESSMENT -> IN_SERVICE or REFERRED -> CLOSED, and a
/// closed case may be REOPENED.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::CaseStatus")]
pub enum CaseStatus {
    /// Reported, not yet looked at by Dinsos.
    New,
    /// Dinsos is assessing the person's situation.
    Assessment,
    /// The person is receiving a service or programme.
    InService,
    /// The case was referred to a partner organisation.
    Referred,
    /// The case is closed (see `closureReason`; closed is not the same as helped: see outcomes).
    Closed,
    /// A closed case that was opened again.
    Reopened,
}

/// How quickly a case needs attention.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::Urgency")]
pub enum Urgency {
    /// Can wait for the next routine visit.
    Low,
    /// Ordinary priority.
    Normal,
    /// Needs attention within days.
    High,
    /// Life, health or shelter at immediate risk.
    Emergency,
}

/// How a case came to the social service's attention.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::CaseSource")]
pub enum CaseSource {
    /// Found by a PSM volunteer on a neighbourhood visit.
    PsmVisit,
    /// The person came to the Dinsos office.
    WalkIn,
    /// Reported through the social service hotline.
    Hotline,
    /// Raised at a kelurahan meeting (musyawarah).
    KelurahanMeeting,
}

/// Why a case was closed.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::ClosureReason")]
pub enum ClosureReason {
    /// The person's need was met.
    Resolved,
    /// Handed over to another service, which now owns it.
    Referred,
    /// The person did not qualify for any service.
    NotEligible,
    /// The person could not be reached.
    CouldNotContact,
    /// The person moved out of Banjarmasin.
    MovedAway,
    /// The person died.
    Deceased,
    /// The case duplicated another one.
    Duplicate,
}

/// Where a referral is: SENT -> ACCEPTED, DECLINED, WITHDRAWN or EXPIRED; ACCEPTED -> COMPLETED or
/// WITHDRAWN.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::ReferralStatus")]
pub enum ReferralStatus {
    /// Sent, waiting for the receiving organisation to answer.
    Sent,
    /// The receiving organisation took the case on.
    Accepted,
    /// The receiving organisation declined (see `reason`).
    Declined,
    /// The receiving organisation finished its work on the case.
    Completed,
    /// The sender took the referral back (see `reason`).
    Withdrawn,
    /// Nobody answered before the response deadline.
    Expired,
}

/// Coded reason for a declined, withdrawn or expired referral.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::ReferralReason")]
pub enum ReferralReason {
    /// The person does not meet the partner's criteria.
    NotEligible,
    /// The partner has no room or staff for the case.
    NoCapacity,
    /// The person could not be reached.
    CouldNotContact,
    /// The person refused the service.
    ClientDeclined,
    /// The referral duplicated another one.
    Duplicate,
    /// The person lives outside the partner's area.
    OutOfArea,
    /// The person was referred to another organisation instead.
    ReferredElsewhere,
    /// No answer before the response deadline (the reason of every expired referral).
    NoResponse,
    /// Anything else; see the note.
    Other,
}

/// What actually happened for the person.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::OutcomeType")]
pub enum OutcomeType {
    /// The person received help.
    GotHelp,
    /// A specific service was delivered.
    ServiceDelivered,
    /// The person's house was rehabilitated (RTLH programme).
    HouseRehabilitated,
    /// The person was enrolled in a programme.
    EnrolledInProgramme,
    /// The person was proposed for the national welfare registry (DTSEN).
    ProposedToDtsen,
    /// The person did not qualify.
    NotEligible,
    /// The person could not be reached.
    CouldNotContact,
    /// The person moved away.
    MovedAway,
    /// The person died.
    Deceased,
    /// Anything else; see the note.
    Other,
}

/// The broad group an outcome type belongs to.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::OutcomeGroup")]
pub enum OutcomeGroup {
    /// The person was helped: GOT_HELP, SERVICE_DELIVERED, HOUSE_REHABILITATED, ENROLLED_IN_PROGRAMME.
    Success,
    /// More work is needed: PROPOSED_TO_DTSEN, COULD_NOT_CONTACT, OTHER.
    NeedsFollowUp,
    /// Neither success nor failure of the service: NOT_ELIGIBLE, MOVED_AWAY, DECEASED.
    Neutral,
}

/// The 12 kinds of PSKS (Potensi dan Sumber Kesejahteraan Sosial: social welfare resources) of
/// Permensos 8/2012. Most volunteers here are PSM.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::PsksType")]
pub enum PsksType {
    /// Pekerja Sosial Masyarakat (PSM): community social worker.
    CommunitySocialWorker,
    /// Tenaga Kesejahteraan Sosial Kecamatan (TKSK): district social welfare worker.
    SubdistrictSocialWelfareWorker,
    /// Karang Taruna: youth organisation.
    YouthOrganisation,
    /// Lembaga Kesejahteraan Sosial (LKS): social welfare institution.
    SocialWelfareInstitution,
    /// Wanita Pemimpin Kesejahteraan Sosial (WPKS): women welfare leader.
    WomenWelfareLeader,
    /// Penyuluh Sosial Masyarakat: community social counsellor.
    CommunitySocialCounsellor,
    /// Lembaga Konsultasi Kesejahteraan Keluarga (LK3): family consultation institution.
    FamilyConsultationInstitution,
    /// Keluarga Pioneer: pioneer family.
    PioneerFamily,
    /// Wahana Kesejahteraan Sosial Berbasis Masyarakat (WKSBM): community welfare forum.
    CommunityWelfareForum,
    /// Dunia Usaha: business community.
    BusinessCommunity,
    /// Pekerja Sosial Profesional: professional social worker.
    ProfessionalSocialWorker,
    /// Taruna Siaga Bencana (Tagana): disaster preparedness cadet.
    DisasterPreparednessCadet,
}

/// What kind of organisation takes part in the programme.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::OrganisationKind")]
pub enum OrganisationKind {
    /// Dinas Sosial: the city social service.
    SocialService,
    /// A non-governmental organisation.
    Ngo,
    /// Lembaga Kesejahteraan Sosial: a social welfare institution.
    Lks,
    /// Karang Taruna: a youth organisation.
    KarangTaruna,
    /// Pusat Kesehatan Masyarakat: a public health centre.
    Puskesmas,
    /// A kelurahan (urban village) office.
    KelurahanOffice,
    /// A kecamatan (district) office.
    KecamatanOffice,
    /// Any other organisation.
    Other,
}

/// Whether a volunteer currently serves.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::VolunteerStatus")]
pub enum VolunteerStatus {
    /// Serving now.
    Active,
    /// Registered but not serving at present.
    Inactive,
    /// Stopped serving for good.
    Retired,
}

/// Sex as recorded on the national identity card.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::Sex")]
pub enum Sex {
    /// Male (laki-laki).
    Male,
    /// Female (perempuan).
    Female,
}

/// What a programme does.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::ProgrammeKind")]
pub enum ProgrammeKind {
    /// Rehabilitation of uninhabitable houses (RTLH, "rehab rumah").
    HouseRehabilitation,
    /// Accompaniment of elderly people (pendampingan lansia).
    ElderlyAccompaniment,
    /// Proposals to the national welfare registry (DTSEN).
    DtsenProposal,
    /// Local social assistance (bantuan sosial).
    SocialAssistance,
    /// Training (Bimtek).
    Training,
    /// Support for people with disabilities.
    DisabilitySupport,
    /// Child protection.
    ChildProtection,
}

/// Where a case's enrollment in a programme stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::EnrollmentStatus")]
pub enum EnrollmentStatus {
    /// Enrolled and not yet finished.
    Enrolled,
    /// Went through the programme to its end.
    Completed,
    /// Left the programme before its end (see `exitReason`).
    Exited,
}

/// What a consent allows.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::ConsentScope")]
pub enum ConsentScope {
    /// Dinsos may use the person's data to provide services.
    Services,
    /// The person's data may be shared with partner organisations (one, or all).
    ShareWithPartners,
    /// The person's case may be counted in published reports.
    Reporting,
}

/// Who gave a consent.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::ConsentGiver")]
pub enum ConsentGiver {
    /// The person themself.
    DataSubject,
    /// A parent or guardian (required for children's and health data under UU PDP 27/2022).
    Guardian,
}

/// The level of a region in the Kemendagri hierarchy.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::RegionLevel")]
pub enum RegionLevel {
    /// Provinsi: Kalimantan Selatan (63).
    Province,
    /// Kota: Kota Banjarmasin (63.71).
    City,
    /// Kecamatan: one of Banjarmasin's 5 districts (63.71.01 ...).
    District,
    /// Kelurahan: one of Banjarmasin's 52 urban villages (63.71.01.1001 ...).
    Subdistrict,
}

/// Sort direction.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OrderDirection {
    /// Smallest, earliest or A first.
    #[default]
    Asc,
    /// Largest, latest or Z first.
    Desc,
}

/// Converts a list of GraphQL enum values into stored values.
pub fn stored<G: Copy, D>(values: &[G]) -> Vec<D>
where
    D: From<G>,
{
    values.iter().map(|value| D::from(*value)).collect()
}

/// What an API key may do.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "db::Role")]
pub enum Role {
    /// Manages API keys and reads the audit trail; sees no personal data (data-subject exports aside).
    Admin,
    /// A Dinsos caseworker: reads and writes everything, the full NIK included.
    Staff,
    /// A PSM volunteer: reports cases, and sees and updates the cases they reported.
    Volunteer,
    /// A partner organisation: sees and answers the referrals addressed to it, with the personal data
    /// the citizen consented to share with it.
    Partner,
    /// A dashboard: aggregates and lists, without personal data.
    Dashboard,
}

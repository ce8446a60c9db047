//! The enumerations of the PSM domain, stored as short upper-case strings.
//!
//! Each is a SeaORM active enum; the database enforces the same value lists with CHECK constraints
//! (see the migration crate). The GraphQL layer mirrors them with documented enums of its own.

use sea_orm::entity::prelude::*;

/// Declares a string-valued active enum whose stored value is the SCREAMING_SNAKE_CASE variant name,
/// plus `ALL` (every variant, in declaration order) and `as_str`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $(
                #[sea_orm(string_value = $value)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)+
                }
            }

            /// Parses a stored value.
            pub fn parse(value: &str) -> Option<Self> {
                match value {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

string_enum! {
    /// The 26 PPKS categories (Pemerlu Pelayanan Kesejahteraan Sosial) of Permensos 8/2012, plus
    /// uninhabitable housing (RTLH), which house-rehabilitation programmes address.
    PpksCategory {
        NeglectedToddler = "NEGLECTED_TODDLER",
        NeglectedChild = "NEGLECTED_CHILD",
        ChildInConflictWithLaw = "CHILD_IN_CONFLICT_WITH_LAW",
        StreetChild = "STREET_CHILD",
        ChildWithDisability = "CHILD_WITH_DISABILITY",
        ChildVictimOfViolence = "CHILD_VICTIM_OF_VIOLENCE",
        ChildNeedingSpecialProtection = "CHILD_NEEDING_SPECIAL_PROTECTION",
        NeglectedElderly = "NEGLECTED_ELDERLY",
        PersonWithDisability = "PERSON_WITH_DISABILITY",
        SexWorker = "SEX_WORKER",
        Homeless = "HOMELESS",
        Beggar = "BEGGAR",
        Scavenger = "SCAVENGER",
        MinorityGroup = "MINORITY_GROUP",
        FormerPrisoner = "FORMER_PRISONER",
        PersonLivingWithHiv = "PERSON_LIVING_WITH_HIV",
        SubstanceAbuseVictim = "SUBSTANCE_ABUSE_VICTIM",
        TraffickingVictim = "TRAFFICKING_VICTIM",
        ViolenceVictim = "VIOLENCE_VICTIM",
        TroubledMigrantWorker = "TROUBLED_MIGRANT_WORKER",
        NaturalDisasterVictim = "NATURAL_DISASTER_VICTIM",
        SocialDisasterVictim = "SOCIAL_DISASTER_VICTIM",
        EconomicallyVulnerableWoman = "ECONOMICALLY_VULNERABLE_WOMAN",
        Poor = "POOR",
        PsychosocialFamilyProblem = "PSYCHOSOCIAL_FAMILY_PROBLEM",
        RemoteIndigenousCommunity = "REMOTE_INDIGENOUS_COMMUNITY",
        UninhabitableHouse = "UNINHABITABLE_HOUSE",
    }
}

string_enum! {
    /// Where a case is in its lifecycle: NEW -> ASSESSMENT -> IN_SERVICE / REFERRED -> CLOSED (-> REOPENED).
    CaseStatus {
        New = "NEW",
        Assessment = "ASSESSMENT",
        InService = "IN_SERVICE",
        Referred = "REFERRED",
        Closed = "CLOSED",
        Reopened = "REOPENED",
    }
}

string_enum! {
    /// How quickly a case needs attention.
    Urgency {
        Low = "LOW",
        Normal = "NORMAL",
        High = "HIGH",
        Emergency = "EMERGENCY",
    }
}

string_enum! {
    /// How a case came to the social service's attention.
    CaseSource {
        PsmVisit = "PSM_VISIT",
        WalkIn = "WALK_IN",
        Hotline = "HOTLINE",
        KelurahanMeeting = "KELURAHAN_MEETING",
    }
}

string_enum! {
    /// Why a case was closed.
    ClosureReason {
        Resolved = "RESOLVED",
        Referred = "REFERRED_ELSEWHERE",
        NotEligible = "NOT_ELIGIBLE",
        CouldNotContact = "COULD_NOT_CONTACT",
        MovedAway = "MOVED_AWAY",
        Deceased = "DECEASED",
        Duplicate = "DUPLICATE",
    }
}

string_enum! {
    /// Where a referral is in its lifecycle: SENT -> ACCEPTED | DECLINED | WITHDRAWN | EXPIRED;
    /// ACCEPTED -> COMPLETED | WITHDRAWN.
    ReferralStatus {
        Sent = "SENT",
        Accepted = "ACCEPTED",
        Declined = "DECLINED",
        Completed = "COMPLETED",
        Withdrawn = "WITHDRAWN",
        Expired = "EXPIRED",
    }
}

string_enum! {
    /// The coded reason given when a referral is declined, withdrawn or expires.
    ReferralReason {
        NotEligible = "NOT_ELIGIBLE",
        NoCapacity = "NO_CAPACITY",
        CouldNotContact = "COULD_NOT_CONTACT",
        ClientDeclined = "CLIENT_DECLINED",
        Duplicate = "DUPLICATE",
        OutOfArea = "OUT_OF_AREA",
        ReferredElsewhere = "REFERRED_ELSEWHERE",
        NoResponse = "NO_RESPONSE",
        Other = "OTHER",
    }
}

string_enum! {
    /// What actually happened for the person.
    OutcomeType {
        GotHelp = "GOT_HELP",
        ServiceDelivered = "SERVICE_DELIVERED",
        HouseRehabilitated = "HOUSE_REHABILITATED",
        EnrolledInProgramme = "ENROLLED_IN_PROGRAMME",
        ProposedToDtsen = "PROPOSED_TO_DTSEN",
        NotEligible = "NOT_ELIGIBLE",
        CouldNotContact = "COULD_NOT_CONTACT",
        MovedAway = "MOVED_AWAY",
        Deceased = "DECEASED",
        Other = "OTHER",
    }
}

string_enum! {
    /// The broad group an outcome type belongs to.
    OutcomeGroup {
        Success = "SUCCESS",
        NeedsFollowUp = "NEEDS_FOLLOW_UP",
        Neutral = "NEUTRAL",
    }
}

impl OutcomeType {
    /// The group this outcome type is reported under.
    pub fn group(self) -> OutcomeGroup {
        match self {
            OutcomeType::GotHelp
            | OutcomeType::ServiceDelivered
            | OutcomeType::HouseRehabilitated
            | OutcomeType::EnrolledInProgramme => OutcomeGroup::Success,
            OutcomeType::ProposedToDtsen | OutcomeType::CouldNotContact | OutcomeType::Other => {
                OutcomeGroup::NeedsFollowUp
            }
            OutcomeType::NotEligible | OutcomeType::MovedAway | OutcomeType::Deceased => OutcomeGroup::Neutral,
        }
    }
}

string_enum! {
    /// The 12 kinds of PSKS (Potensi dan Sumber Kesejahteraan Sosial) of Permensos 8/2012.
    PsksType {
        CommunitySocialWorker = "PSM",
        SubdistrictSocialWelfareWorker = "TKSK",
        YouthOrganisation = "KARANG_TARUNA",
        SocialWelfareInstitution = "LKS",
        WomenWelfareLeader = "WPKS",
        CommunitySocialCounsellor = "PENYULUH_SOSIAL",
        FamilyConsultationInstitution = "LK3",
        PioneerFamily = "KELUARGA_PIONEER",
        CommunityWelfareForum = "WKSBM",
        BusinessCommunity = "DUNIA_USAHA",
        ProfessionalSocialWorker = "PEKSOS_PROFESIONAL",
        DisasterPreparednessCadet = "TAGANA",
    }
}

string_enum! {
    /// What kind of organisation takes part in the programme.
    OrganisationKind {
        SocialService = "DINSOS",
        Ngo = "NGO",
        Lks = "LKS",
        KarangTaruna = "KARANG_TARUNA",
        Puskesmas = "PUSKESMAS",
        KelurahanOffice = "KELURAHAN_OFFICE",
        KecamatanOffice = "KECAMATAN_OFFICE",
        Other = "OTHER",
    }
}

string_enum! {
    /// Whether a volunteer currently serves.
    VolunteerStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
        Retired = "RETIRED",
    }
}

string_enum! {
    /// Sex as recorded on the national identity card.
    Sex {
        Male = "MALE",
        Female = "FEMALE",
    }
}

string_enum! {
    /// What a programme does.
    ProgrammeKind {
        HouseRehabilitation = "HOUSE_REHABILITATION",
        ElderlyAccompaniment = "ELDERLY_ACCOMPANIMENT",
        DtsenProposal = "DTSEN_PROPOSAL",
        SocialAssistance = "SOCIAL_ASSISTANCE",
        Training = "TRAINING",
        DisabilitySupport = "DISABILITY_SUPPORT",
        ChildProtection = "CHILD_PROTECTION",
    }
}

string_enum! {
    /// Where a case's enrollment in a programme stands.
    EnrollmentStatus {
        Enrolled = "ENROLLED",
        Completed = "COMPLETED",
        Exited = "EXITED",
    }
}

string_enum! {
    /// What a consent allows.
    ConsentScope {
        Services = "SERVICES",
        ShareWithPartners = "SHARE_WITH_PARTNERS",
        Reporting = "REPORTING",
    }
}

string_enum! {
    /// Who gave a consent.
    ConsentGiver {
        DataSubject = "DATA_SUBJECT",
        Guardian = "GUARDIAN",
    }
}

string_enum! {
    /// The level of a region in the Kemendagri hierarchy.
    RegionLevel {
        Province = "PROVINCE",
        City = "CITY",
        District = "DISTRICT",
        Subdistrict = "SUBDISTRICT",
    }
}

string_enum! {
    /// What an API key may do. ADMIN manages keys and reads the audit trail; STAFF (Dinsos caseworkers)
    /// read and write everything; VOLUNTEER (a PSM) reports cases and follows the ones they reported;
    /// PARTNER (an organisation) sees and answers the referrals addressed to it; DASHBOARD reads
    /// aggregates and lists without personal data.
    Role {
        Admin = "ADMIN",
        Staff = "STAFF",
        Volunteer = "VOLUNTEER",
        Partner = "PARTNER",
        Dashboard = "DASHBOARD",
    }
}

string_enum! {
    /// What an audit event records.
    AuditAction {
        Read = "READ",
        Create = "CREATE",
        Update = "UPDATE",
        Export = "EXPORT",
        Denied = "DENIED",
        Refused = "REFUSED",
    }
}

string_enum! {
    /// What a partner's feed entry tells it to do with a referral.
    ChangeKind {
        Upsert = "UPSERT",
        Tombstone = "TOMBSTONE",
    }
}

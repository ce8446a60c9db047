//! Aggregate statistics for dashboards: counts grouped in the database, published through disclosure
//! control (perturbed, small cells suppressed) unless STAFF ask for exact figures.

use async_graphql::{Enum, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::types::enums::{
    CaseSource, CaseStatus, OutcomeGroup, OutcomeType, PpksCategory, ReferralReason, ReferralStatus, Sex, Urgency,
    VolunteerStatus,
};
use crate::graphql::types::organisation::Organisation;
use crate::graphql::types::programme::Programme;
use crate::graphql::types::region::Region;
use crate::graphql::types::volunteer::Volunteer;
use crate::service::statistics;

/// A published count. Unless the request is exact (STAFF with `exact: true`), every count is perturbed:
/// a small adjustment (at most 2 either way with the default table, 0 on average) fixed by the records
/// it counts, so the same records always give the same figure, however the request is phrased, and
/// subtracting one figure from another no longer recovers a small count. Perturbed counts from 1 to
/// `minimumCellSize - 1` are then hidden (`value` null, `suppressed` true), and now and then one more
/// where the published figures would otherwise pin a small one down. A 0 means none or very few (a
/// true 1 or 2 can come out as 0); a true zero is never published as anything but 0 (rarely hidden
/// along with a small count). Because each count is perturbed on its own, groups need not add up
/// exactly to their total, nor parts to their whole: add them up yourself only for display, and show
/// the published total as the total.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// The count, or null when it is suppressed.
    pub value: Option<i64>,
    /// True when the count is hidden: almost always a count from 1 to `minimumCellSize - 1` after
    /// perturbation, now and then another one hidden so that it cannot be worked out.
    pub suppressed: bool,
}

impl From<statistics::Cell> for Cell {
    fn from(cell: statistics::Cell) -> Cell {
        Cell { value: cell.value, suppressed: cell.suppressed }
    }
}

/// A dimension cases can be grouped by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseDimension {
    /// The kecamatan (district) of the case's kelurahan.
    District,
    /// The kelurahan (urban village) of the case.
    Kelurahan,
    /// The PPKS category. A case with several categories counts once in each, so category groups can
    /// add up to more than the total.
    Category,
    /// The case's current status.
    Status,
    /// The case's urgency.
    Urgency,
    /// How the case came in.
    Source,
    /// The PSM volunteer who reported the case (null in the key: reported by staff).
    ReportingVolunteer,
    /// The programme the case is enrolled in. A case in several programmes counts once in each, and
    /// cases in none are not counted.
    Programme,
    /// The day the case was opened, in the city's time zone (WITA).
    OpenedDay,
    /// The ISO week (Monday to Sunday) the case was opened, in the city's time zone.
    OpenedWeek,
    /// The calendar month the case was opened, in the city's time zone.
    OpenedMonth,
    /// The calendar quarter the case was opened, in the city's time zone.
    OpenedQuarter,
    /// The calendar year the case was opened, in the city's time zone.
    OpenedYear,
}

/// The span of time a time dimension covers. Both instants carry their offset; every bucket between them
/// is returned, with zero counts where nothing happened.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatsPeriod {
    /// First instant included; it should be the start of a bucket in the city's time zone, and unless the
    /// request is exact it must be a midnight there (`2025-01-01T00:00:00+08:00`).
    pub from: DateTime<Utc>,
    /// First instant no longer included; unless the request is exact, a midnight in the city.
    pub before: DateTime<Utc>,
}

impl From<StatsPeriod> for statistics::Period {
    fn from(period: StatsPeriod) -> statistics::Period {
        statistics::Period { from: period.from, before: period.before }
    }
}

/// The values of the grouping dimensions of one group; fields of dimensions not grouped by are null.
#[derive(SimpleObject, Clone, Default)]
pub struct CaseStatsKey {
    /// The kecamatan, when grouped by DISTRICT.
    pub district: Option<Region>,
    /// The kelurahan, when grouped by KELURAHAN.
    pub kelurahan: Option<Region>,
    /// The category, when grouped by CATEGORY.
    pub category: Option<PpksCategory>,
    /// The status, when grouped by STATUS.
    pub status: Option<CaseStatus>,
    /// The urgency, when grouped by URGENCY.
    pub urgency: Option<Urgency>,
    /// The source, when grouped by SOURCE.
    pub source: Option<CaseSource>,
    /// The reporting volunteer, when grouped by REPORTING_VOLUNTEER.
    pub reporting_volunteer: Option<Volunteer>,
    /// The programme, when grouped by PROGRAMME.
    pub programme: Option<Programme>,
    /// The time bucket, when grouped by a time dimension: `2025-03-07` (day), `2025-W10` (ISO week),
    /// `2025-03` (month), `2025-Q1` (quarter) or `2025` (year), in the city's time zone.
    pub period: Option<String>,
}

/// Case counts for one group (or for all cases matching the filter).
#[derive(SimpleObject, Clone)]
pub struct CaseStatsGroup {
    /// Which group this is.
    pub key: CaseStatsKey,
    /// Cases in the group.
    pub count: Cell,
    /// Cases in the group that are not closed.
    pub open: Cell,
    /// Cases in the group that are closed.
    pub closed: Cell,
    /// Closed cases as a share of all cases in the group (0 to 1), from the published counts (at most 1);
    /// null when either count is suppressed or the group is empty.
    pub closure_rate: Option<f64>,
    /// Median days from opening to closing over the group's closed cases (interpolated, as
    /// `percentile_cont`); null when the closed count is suppressed or zero. Unless exact: whole days,
    /// and only for groups of at least `--percentile-minimum-count` (20) closed cases.
    pub median_days_to_close: Option<f64>,
    /// 90th percentile of days from opening to closing over the group's closed cases; published as the
    /// median is.
    pub p90_days_to_close: Option<f64>,
}

/// Case counts grouped by up to two dimensions, with small cells suppressed.
#[derive(SimpleObject, Clone)]
pub struct CaseStats {
    /// k: published (perturbed) counts from 1 to k-1 are suppressed; 1 for exact figures.
    pub minimum_cell_size: i32,
    /// The instant the figures describe (the moment the request ran).
    pub as_of: DateTime<Utc>,
    /// All cases matching the filter (not the sum of the groups when grouping by category).
    pub total: CaseStatsGroup,
    /// One entry per group, ordered by the grouping values; time buckets in order, none missing. Unless
    /// exact, a group whose every count comes out 0 is left out, like an empty one.
    pub groups: Vec<CaseStatsGroup>,
}

/// A dimension referrals can be grouped by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferralDimension {
    /// The organisation the referral was sent to: the partner funnel.
    ReceivingOrganisation,
    /// The organisation that sent the referral.
    SendingOrganisation,
    /// The referral's current status.
    Status,
    /// The coded reason of a decline, withdrawal or expiry (null in the key: no reason).
    Reason,
    /// The kecamatan of the referred case.
    District,
    /// The kelurahan of the referred case.
    Kelurahan,
    /// The day the referral was sent, in the city's time zone (WITA).
    SentDay,
    /// The ISO week the referral was sent, in the city's time zone.
    SentWeek,
    /// The calendar month the referral was sent, in the city's time zone.
    SentMonth,
    /// The calendar quarter the referral was sent, in the city's time zone.
    SentQuarter,
    /// The calendar year the referral was sent, in the city's time zone.
    SentYear,
}

/// The values of the grouping dimensions of one referral group; fields not grouped by are null.
#[derive(SimpleObject, Clone, Default)]
pub struct ReferralStatsKey {
    /// The receiving organisation, when grouped by RECEIVING_ORGANISATION.
    pub receiving_organisation: Option<Organisation>,
    /// The sending organisation, when grouped by SENDING_ORGANISATION.
    pub sending_organisation: Option<Organisation>,
    /// The status, when grouped by STATUS.
    pub status: Option<ReferralStatus>,
    /// The reason, when grouped by REASON.
    pub reason: Option<ReferralReason>,
    /// The kecamatan, when grouped by DISTRICT.
    pub district: Option<Region>,
    /// The kelurahan, when grouped by KELURAHAN.
    pub kelurahan: Option<Region>,
    /// The time bucket, when grouped by a time dimension (labels as in `CaseStatsKey.period`).
    pub period: Option<String>,
}

/// Referral counts for one group (or for all referrals matching the filter): the funnel from sent to
/// completed. Each referral counts in exactly one of pending, accepted, declined, completed, withdrawn
/// and expired, by its current status.
#[derive(SimpleObject, Clone)]
pub struct ReferralStatsGroup {
    /// Which group this is.
    pub key: ReferralStatsKey,
    /// Referrals sent.
    pub sent: Cell,
    /// Sent and not yet answered (status SENT).
    pub pending: Cell,
    /// Accepted and not yet completed (status ACCEPTED).
    pub accepted: Cell,
    /// Declined by the receiver.
    pub declined: Cell,
    /// Completed by the receiver.
    pub completed: Cell,
    /// Taken back by the sender.
    pub withdrawn: Cell,
    /// Not answered before the response deadline.
    pub expired: Cell,
    /// Referrals the receiver answered (accepted or declined), whatever happened next.
    pub responded: Cell,
    /// (accepted + completed) / (accepted + completed + declined) of the published counts (at most 1):
    /// the share of answered referrals the receiver took on; null when a count it needs is suppressed
    /// or nothing was answered.
    pub acceptance_rate: Option<f64>,
    /// Median hours from sending to the receiver's answer; null when `responded` is suppressed or zero.
    /// Unless exact: whole hours, and only for at least `--percentile-minimum-count` (20) answers.
    pub median_hours_to_respond: Option<f64>,
    /// Median hours from sending to completion; null when `completed` is suppressed or zero. Unless
    /// exact: whole hours, and only for at least `--percentile-minimum-count` (20) completions.
    pub median_hours_to_complete: Option<f64>,
}

/// Referral counts grouped by up to two dimensions, with small cells suppressed.
#[derive(SimpleObject, Clone)]
pub struct ReferralStats {
    /// k: published (perturbed) counts from 1 to k-1 are suppressed; 1 for exact figures.
    pub minimum_cell_size: i32,
    /// The instant the figures describe: the `asOf` asked for, or the moment the request ran.
    pub as_of: DateTime<Utc>,
    /// All referrals matching the filter.
    pub total: ReferralStatsGroup,
    /// One entry per group, ordered by the grouping values; time buckets in order, none missing.
    pub groups: Vec<ReferralStatsGroup>,
}

/// A dimension volunteers can be grouped by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolunteerDimension {
    /// The kecamatan of the kelurahan the volunteer covers.
    District,
    /// The kelurahan the volunteer covers.
    Kelurahan,
    /// Whether the volunteer serves now.
    Status,
    /// Years served, in bands, as of today in Banjarmasin.
    TenureBand,
    /// Gender.
    Gender,
}

/// Years of service, in bands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenureBand {
    /// Less than 5 years.
    Under5Years,
    /// 5 to 9 years.
    From5To9Years,
    /// 10 to 19 years.
    From10To19Years,
    /// 20 to 29 years.
    From20To29Years,
    /// 30 years or more.
    AtLeast30Years,
}

/// The values of the grouping dimensions of one volunteer group; fields not grouped by are null.
#[derive(SimpleObject, Clone, Default)]
pub struct VolunteerStatsKey {
    /// The kecamatan, when grouped by DISTRICT.
    pub district: Option<Region>,
    /// The kelurahan, when grouped by KELURAHAN.
    pub kelurahan: Option<Region>,
    /// The status, when grouped by STATUS.
    pub status: Option<VolunteerStatus>,
    /// The tenure band, when grouped by TENURE_BAND.
    pub tenure_band: Option<TenureBand>,
    /// The gender, when grouped by GENDER.
    pub gender: Option<Sex>,
}

/// Volunteer counts for one group (or for all volunteers matching the filter).
#[derive(SimpleObject, Clone)]
pub struct VolunteerStatsGroup {
    /// Which group this is.
    pub key: VolunteerStatsKey,
    /// Volunteers on record, whatever their status.
    pub volunteers: Cell,
    /// Volunteers serving now (status ACTIVE).
    pub active: Cell,
    /// Active volunteers who attended a training (Bimtek) within the last `trainedWithinMonths` months.
    pub trained: Cell,
    /// Cases the group's volunteers reported, ever.
    pub cases_reported: Cell,
    /// `trained / active` of the published counts (at most 1); null when either is suppressed or no one
    /// is active.
    pub share_trained: Option<f64>,
    /// `casesReported / volunteers` of the published counts; null when either is suppressed or the group
    /// is empty.
    pub cases_per_volunteer: Option<f64>,
}

/// Volunteer counts grouped by up to two dimensions, with small cells suppressed.
#[derive(SimpleObject, Clone)]
pub struct VolunteerStats {
    /// k: published (perturbed) counts from 1 to k-1 are suppressed; 1 for exact figures.
    pub minimum_cell_size: i32,
    /// The instant the figures describe (the moment the request ran).
    pub as_of: DateTime<Utc>,
    /// All volunteers matching the filter.
    pub total: VolunteerStatsGroup,
    /// One entry per group, ordered by the grouping values.
    pub groups: Vec<VolunteerStatsGroup>,
}

/// PSM coverage of one kelurahan: who serves it, and how much open work is there.
#[derive(SimpleObject, Clone)]
pub struct KelurahanCoverage {
    /// The kelurahan.
    pub kelurahan: Region,
    /// Active volunteers covering it. 0: no active PSM (exact figures), or none or very few (published
    /// figures, where a 1 or 2 can come out as 0).
    pub active_volunteers: Cell,
    /// Cases in it that are not closed.
    pub open_cases: Cell,
    /// `openCases / activeVolunteers` of the published counts; null when either is suppressed or 0.
    pub open_cases_per_active_volunteer: Option<f64>,
}

/// A dimension outcomes can be grouped by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeDimension {
    /// What happened (got help, house rehabilitated, moved away, ...).
    Type,
    /// The group of the outcome type: success, needs follow-up, or neutral.
    Group,
    /// The programme that delivered the outcome (null in the key: no programme did).
    Programme,
    /// A PPKS category of the outcome's case. A case with several categories counts its outcomes once in
    /// each, so category groups can add up to more than the total.
    Category,
    /// The kecamatan (district) of the outcome's case.
    District,
    /// The kelurahan (urban village) of the outcome's case.
    Kelurahan,
    /// The day the outcome was recorded (`recordedAt`), in the city's time zone (WITA).
    RecordedDay,
    /// The ISO week (Monday to Sunday) the outcome was recorded, in the city's time zone.
    RecordedWeek,
    /// The calendar month the outcome was recorded, in the city's time zone.
    RecordedMonth,
    /// The calendar quarter the outcome was recorded, in the city's time zone.
    RecordedQuarter,
    /// The calendar year the outcome was recorded, in the city's time zone.
    RecordedYear,
}

/// The values of the grouping dimensions of one outcome group; fields not grouped by are null.
#[derive(SimpleObject, Clone, Default)]
pub struct OutcomeStatsKey {
    /// The outcome type, when grouped by TYPE.
    pub outcome_type: Option<OutcomeType>,
    /// The outcome group, when grouped by GROUP.
    pub outcome_group: Option<OutcomeGroup>,
    /// The programme, when grouped by PROGRAMME (null also for the outcomes no programme delivered).
    pub programme: Option<Programme>,
    /// The category, when grouped by CATEGORY.
    pub category: Option<PpksCategory>,
    /// The kecamatan, when grouped by DISTRICT.
    pub district: Option<Region>,
    /// The kelurahan, when grouped by KELURAHAN.
    pub kelurahan: Option<Region>,
    /// The time bucket, when grouped by a time dimension (labels as in `CaseStatsKey.period`).
    pub period: Option<String>,
}

/// Outcome counts for one group (or for all outcomes matching the filter). Each outcome counts in
/// exactly one of success, needs follow-up and neutral, by its group.
#[derive(SimpleObject, Clone)]
pub struct OutcomeStatsGroup {
    /// Which group this is.
    pub key: OutcomeStatsKey,
    /// Outcomes recorded.
    pub count: Cell,
    /// Outcomes in the SUCCESS group (got help, service delivered, house rehabilitated, enrolled).
    pub success: Cell,
    /// Outcomes in the NEEDS_FOLLOW_UP group (proposed to DTSEN, could not contact, other).
    pub needs_follow_up: Cell,
    /// Outcomes in the NEUTRAL group (not eligible, moved away, deceased).
    pub neutral: Cell,
    /// Outcomes Dinsos verified.
    pub verified: Cell,
    /// `verified / count` of the published counts (0 to 1); null when either is suppressed or the group is
    /// empty.
    pub share_verified: Option<f64>,
}

/// Outcome counts grouped by up to two dimensions, with small cells suppressed.
#[derive(SimpleObject, Clone)]
pub struct OutcomeStats {
    /// k: published (perturbed) counts from 1 to k-1 are suppressed; 1 for exact figures.
    pub minimum_cell_size: i32,
    /// The instant the figures describe: the `asOf` asked for, or the moment the request ran.
    pub as_of: DateTime<Utc>,
    /// All outcomes matching the filter (not the sum of the groups when grouping by category).
    pub total: OutcomeStatsGroup,
    /// One entry per group, ordered by the grouping values; time buckets in order, none missing.
    pub groups: Vec<OutcomeStatsGroup>,
}

/// A dimension programmes can be grouped by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgrammeDimension {
    /// The programme itself.
    Programme,
    /// The organisation that owns and runs the programme.
    OwnerOrganisation,
    /// The kecamatan (district) of the enrolled case, or of the case an outcome belongs to. A programme's
    /// target and budget cannot be split by district: they are null in these groups (the total has them).
    District,
    /// The day the programme starts (`startsOn`): programmes are counted by when they start, so that
    /// targets and budgets add up per period.
    StartedDay,
    /// The ISO week the programme starts.
    StartedWeek,
    /// The calendar month the programme starts.
    StartedMonth,
    /// The calendar quarter the programme starts.
    StartedQuarter,
    /// The calendar year the programme starts, e.g. the 2025 programmes.
    StartedYear,
}

/// The values of the grouping dimensions of one programme group; fields not grouped by are null.
#[derive(SimpleObject, Clone, Default)]
pub struct ProgrammeStatsKey {
    /// The programme, when grouped by PROGRAMME.
    pub programme: Option<Programme>,
    /// The owner organisation, when grouped by OWNER_ORGANISATION.
    pub owner_organisation: Option<Organisation>,
    /// The kecamatan, when grouped by DISTRICT.
    pub district: Option<Region>,
    /// The time bucket of the programme's start, when grouped by a time dimension (labels as in
    /// `CaseStatsKey.period`).
    pub period: Option<String>,
}

/// Programme figures for one group (or for all programmes matching the filter). Enrollments and
/// outcomes are counts of people, published as in `caseStats`; target and budget are the programmes'
/// own figures, summed over the group's programmes once each, and published as they are.
#[derive(SimpleObject, Clone)]
pub struct ProgrammeStatsGroup {
    /// Which group this is.
    pub key: ProgrammeStatsKey,
    /// Cases ever enrolled in the group's programmes, whatever the enrollment's status now (enrolled,
    /// completed or exited). A case in two programmes counts in each.
    pub enrolled: Cell,
    /// The number of people the group's programmes aim to reach, summed over the programmes; null in
    /// groups by DISTRICT, which a target does not split into.
    pub target: Option<i64>,
    /// `enrolled / target` from the published `enrolled` (1 means the target is met; it can exceed 1);
    /// null when `enrolled` is suppressed, or the target is null or zero.
    pub reach: Option<f64>,
    /// Outcomes the group's programmes delivered (outcomes that name the programme).
    pub outcomes: Cell,
    /// Of those, outcomes in the SUCCESS group.
    pub success: Cell,
    /// Of those, outcomes in the NEEDS_FOLLOW_UP group.
    pub needs_follow_up: Cell,
    /// Of those, outcomes in the NEUTRAL group.
    pub neutral: Cell,
    /// The budget of the group's programmes in whole rupiah (IDR), summed over the programmes; a 64-bit
    /// number, as `Programme.budgetIdr`. Null in groups by DISTRICT, which a budget does not split into.
    pub budget_idr: Option<i64>,
}

/// Programme figures grouped by up to two dimensions, with small counts suppressed.
#[derive(SimpleObject, Clone)]
pub struct ProgrammeStats {
    /// k: published (perturbed) counts from 1 to k-1 are suppressed; 1 for exact figures.
    pub minimum_cell_size: i32,
    /// The instant the figures describe (the moment the request ran).
    pub as_of: DateTime<Utc>,
    /// All programmes matching the filter, with their whole target and budget.
    pub total: ProgrammeStatsGroup,
    /// One entry per group, ordered by the grouping values; time buckets in order, none missing.
    pub groups: Vec<ProgrammeStatsGroup>,
}

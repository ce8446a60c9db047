//! Cases, in chunks: each with its status history, referrals, enrollments, outcomes and consents.

use super::*;

/// The random stream, the world and "now", shared by everything the generator does.
pub(super) struct Gen {
    pub(super) rng: Rng,
    /// The stream the record keys are drawn from.
    pub(super) keys: Rng,
    pub(super) world: World,
    pub(super) now: i64,
    /// Every NIK drawn so far, as a number (see [`nik`]).
    pub(super) niks: HashSet<u64>,
}

impl Gen {
    /// The first office moment (08:00-16:00 WITA, Monday to Friday) at or after `t`.
    pub(super) fn office(&mut self, t: i64) -> i64 {
        let local = t + WITA;
        let mut day = local.div_euclid(DAY);
        let mut second = local.rem_euclid(DAY);
        if second < 8 * HOUR {
            second = 8 * HOUR + self.rng.i64(0..2 * HOUR);
        } else if second >= 16 * HOUR {
            day += 1;
            second = 8 * HOUR + self.rng.i64(0..2 * HOUR);
        }
        match weekday(day) {
            5 => {
                day += 2;
                second = 8 * HOUR + self.rng.i64(0..2 * HOUR);
            }
            6 => {
                day += 1;
                second = 8 * HOUR + self.rng.i64(0..2 * HOUR);
            }
            _ => {}
        }
        day * DAY + second - WITA
    }

    /// The first office moment after a delay of `low` to `high` seconds from `t`.
    pub(super) fn office_after(&mut self, t: i64, low: i64, high: i64) -> i64 {
        let delay = between(&mut self.rng, low, high);
        self.office(t + delay)
    }

    /// A kelurahan, the busy ones far more often.
    pub(super) fn kelurahan(&mut self) -> usize {
        let total = self.world.cumulative.last().copied().unwrap_or(0.0);
        let roll = self.rng.f64() * total;
        self.world.cumulative.partition_point(|&c| c <= roll).min(self.world.kelurahan.len() - 1)
    }

    /// The partner a case of `primary` category in kecamatan `district` is referred to.
    pub(super) fn partner(&mut self, primary: PpksCategory, district: &str) -> usize {
        let puskesmas = if matches!(district, "01" | "02" | "05") { ORG_PKM_PEKAUMAN } else { ORG_PKM_TELUK_TIRAM };
        // The kecamatan and kelurahan offices among the partners take cases of their own area only.
        let local_office = match district {
            "04" => ORG_KECAMATAN,
            "01" => ORG_KELURAHAN,
            _ => ORG_YBP,
        };
        let rng = &mut self.rng;
        match primary {
            PpksCategory::NeglectedElderly => weighted(rng, &[(ORG_LKS_ELDERLY, 5), (puskesmas, 2), (ORG_YBP, 1)]),
            PpksCategory::PersonWithDisability | PpksCategory::ChildWithDisability => {
                weighted(rng, &[(ORG_YSDB, 5), (puskesmas, 2)])
            }
            PpksCategory::NeglectedToddler
            | PpksCategory::NeglectedChild
            | PpksCategory::StreetChild
            | PpksCategory::ChildVictimOfViolence
            | PpksCategory::ChildNeedingSpecialProtection
            | PpksCategory::ChildInConflictWithLaw => weighted(rng, &[(ORG_LKSA, 5), (ORG_YBP, 1)]),
            PpksCategory::UninhabitableHouse => {
                weighted(rng, &[(ORG_PRLB, 4), (ORG_KARANG_TARUNA, 2), (ORG_BAZNAS, 2)])
            }
            PpksCategory::Poor | PpksCategory::EconomicallyVulnerableWoman => {
                weighted(rng, &[(ORG_BAZNAS, 4), (ORG_YBP, 2), (local_office, 2)])
            }
            PpksCategory::PersonLivingWithHiv | PpksCategory::SubstanceAbuseVictim => {
                weighted(rng, &[(puskesmas, 4), (ORG_YBP, 2)])
            }
            PpksCategory::NaturalDisasterVictim | PpksCategory::SocialDisasterVictim => {
                weighted(rng, &[(ORG_KARANG_TARUNA, 3), (ORG_BAZNAS, 2), (ORG_YBP, 1)])
            }
            _ => weighted(rng, &[(ORG_YBP, 4), (local_office, 2)]),
        }
    }

    /// A programme running at `t`, open to one of `categories`, owned by `owner`, not in `taken`.
    pub(super) fn programme(
        &mut self,
        categories: &[PpksCategory],
        t: i64,
        owner: usize,
        taken: &[usize],
    ) -> Option<usize> {
        let fits = |(index, p): &(usize, &ProgrammeRef)| {
            p.owner == owner
                && p.from <= t
                && p.until.is_none_or(|until| t <= until)
                && !taken.contains(index)
                && p.categories.iter().any(|c| categories.contains(c))
        };
        let count = self.world.programmes.iter().enumerate().filter(fits).count();
        if count == 0 {
            return None;
        }
        let chosen = self.rng.usize(..count);
        self.world.programmes.iter().enumerate().filter(fits).nth(chosen).map(|(index, _)| index)
    }

    /// Appends a consent row; sometimes it expires, sometimes it was revoked. True when it was not revoked.
    pub(super) fn consent(&mut self, rows: &mut ChunkRows, draft: ConsentDraft) -> Result<bool, DbErr> {
        let given = draft.given;
        let expires = if self.rng.u8(..100) < draft.expiry_percent {
            let days = if self.rng.bool() { 365 } else { 730 };
            Some(given + days * DAY)
        } else {
            None
        };
        let revoked = if self.rng.u8(..100) < draft.revoked_percent {
            let latest = expires.unwrap_or(self.now).min(self.now);
            Some(between(&mut self.rng, given, latest))
        } else {
            None
        };
        rows.consents.push([
            new_id(&mut self.rng, given).into(),
            draft.person.into(),
            draft.scope.as_str().into(),
            draft.partner.map(|p| self.world.organisations[p]).into(),
            draft.given_by.as_str().into(),
            at(given)?,
            at_opt(expires)?,
            at_opt(revoked)?,
            at(given)?,
            at(revoked.unwrap_or(given))?,
        ])?;
        Ok(revoked.is_none())
    }
}

/// A consent to record: whose, for what, for which partner (`None`: every partner), by whom, when, and the
/// chances (in percent) that it has an expiry and that it was revoked.
pub(super) struct ConsentDraft {
    pub(super) person: Uuid,
    pub(super) scope: ConsentScope,
    pub(super) partner: Option<usize>,
    pub(super) given_by: ConsentGiver,
    pub(super) given: i64,
    pub(super) expiry_percent: u8,
    pub(super) revoked_percent: u8,
}

/// One chunk of generated cases, ready to load in foreign-key order.
pub(super) struct Chunk {
    pub(super) load: Load,
    pub(super) report: SeedReport,
    pub(super) cases: u64,
}

/// The rows of one chunk, per table.
pub(super) struct ChunkRows {
    pub(super) persons: Rows,
    pub(super) cases: Rows,
    pub(super) case_categories: Rows,
    pub(super) status_changes: Rows,
    pub(super) referrals: Rows,
    pub(super) referral_events: Rows,
    pub(super) enrollments: Rows,
    pub(super) outcomes: Rows,
    pub(super) consents: Rows,
}

impl ChunkRows {
    /// Empty rows, sized for `cases` cases.
    pub(super) fn new(cases: usize) -> Self {
        ChunkRows {
            persons: Rows::new(&PERSONS, cases),
            cases: Rows::new(&CASES, cases),
            case_categories: Rows::new(&CASE_CATEGORIES, cases * 3 / 2),
            status_changes: Rows::new(&CASE_STATUS_CHANGES, cases * 4),
            referrals: Rows::new(&REFERRALS, cases / 3),
            referral_events: Rows::new(&REFERRAL_EVENTS, cases * 2 / 3),
            enrollments: Rows::new(&ENROLLMENTS, cases / 2),
            outcomes: Rows::new(&OUTCOMES, cases * 3 / 4),
            consents: Rows::new(&CONSENTS, cases * 2),
        }
    }

    /// What loads these rows, parents before children (COPY on PostgreSQL, INSERTs on SQLite), and their
    /// counts.
    pub(super) fn into_chunk(self, sql: &mut InsertSql, cases: u64) -> Result<Chunk, DbErr> {
        let report = SeedReport {
            persons: self.persons.len(),
            cases: self.cases.len(),
            referrals: self.referrals.len(),
            enrollments: self.enrollments.len(),
            outcomes: self.outcomes.len(),
            consents: self.consents.len(),
            status_changes: self.status_changes.len(),
            referral_events: self.referral_events.len(),
            ..SeedReport::default()
        };
        let tables = [
            self.persons,
            self.cases,
            self.case_categories,
            self.status_changes,
            self.referrals,
            self.referral_events,
            self.enrollments,
            self.outcomes,
            self.consents,
        ];
        let load = if sql.backend == DbBackend::Postgres {
            Load::Copies(tables.into_iter().map(Rows::into_copy).collect::<Result<_, _>>()?)
        } else {
            let mut statements = Vec::new();
            for rows in tables {
                rows.into_statements(sql, &mut statements)?;
            }
            Load::Statements(statements)
        };
        Ok(Chunk { load, report, cases })
    }
}

/// A person of the current chunk (a few persons come back with a second case).
pub(super) struct PersonInfo {
    pub(super) id: Uuid,
    pub(super) birth: NaiveDate,
    pub(super) sex: Sex,
    pub(super) kelurahan: usize,
    /// Whether the person consented to sharing with every partner (and has not revoked it).
    pub(super) shares_with_partners: bool,
}

/// Generates the cases, chunk by chunk, on a blocking thread.
pub(super) struct CaseGenerator {
    pub(super) state: Gen,
    /// INSERT statements already built, by table and row count.
    pub(super) sql: InsertSql,
    pub(super) total: u64,
    pub(super) done: u64,
    /// The last reference number used per (WITA) year.
    pub(super) year_sequence: HashMap<i32, u32>,
}

impl CaseGenerator {
    /// Sends chunks until every case is generated, the receiver is gone, or generation failed.
    pub(super) fn run(mut self, sender: &tokio::sync::mpsc::Sender<Result<Chunk, DbErr>>) {
        while self.done < self.total {
            let chunk = self.chunk();
            let failed = chunk.is_err();
            if sender.blocking_send(chunk).is_err() || failed {
                return;
            }
        }
    }

    /// The next chunk of cases, in the order they were opened.
    pub(super) fn chunk(&mut self) -> Result<Chunk, DbErr> {
        let count = CHUNK_CASES.min(self.total - self.done);
        let mut opened: Vec<i64> = (self.done..self.done + count).map(|index| self.opened_at(index)).collect();
        opened.sort_unstable();
        let mut rows = ChunkRows::new(count as usize);
        let mut persons: Vec<PersonInfo> = Vec::with_capacity(count as usize);
        for t in opened {
            self.case(t, &mut persons, &mut rows)?;
        }
        self.done += count;
        rows.into_chunk(&mut self.sql, count)
    }

    /// When case number `index` (of `total`, in time order) was opened: more cases every year, mostly on
    /// weekdays in office hours.
    pub(super) fn opened_at(&mut self, index: u64) -> i64 {
        let g = &mut self.state;
        let quantile = (index as f64 + g.rng.f64()) / self.total as f64;
        // Density growing linearly from 1 to 2 over the window: F(x) = (x + x^2 / 2) / 1.5.
        let x = (1.0 + 3.0 * quantile).sqrt() - 1.0;
        let mut day = local_day(g.world.start) + (x * CASE_WINDOW_DAYS as f64) as i64;
        // Most weekend reports are filed on a weekday of the same week instead.
        let weekday_of_day = weekday(day);
        if weekday_of_day >= 5 && g.rng.u8(..100) < 75 {
            day -= weekday_of_day - g.rng.i64(0..5);
        }
        let second = if g.rng.u8(..100) < 88 { 8 * HOUR + g.rng.i64(0..8 * HOUR) } else { g.rng.i64(0..DAY) };
        (day_start(day) + second).max(g.world.start).min(g.now - 60)
    }

    /// Generates one case opened at `opened`, with its person (new, or one from earlier in the chunk) and
    /// everything that happened to it up to "now".
    pub(super) fn case(
        &mut self,
        opened: i64,
        persons: &mut Vec<PersonInfo>,
        rows: &mut ChunkRows,
    ) -> Result<(), DbErr> {
        let g = &mut self.state;
        let returning = !persons.is_empty() && g.rng.u8(..100) < 6;
        let (person, categories_now) = if returning {
            let index = g.rng.usize(..persons.len());
            let person = &persons[index];
            let age = age_on(person.birth, date(local_day(opened))?);
            (index, categories(&mut g.rng, age, person.sex)?)
        } else {
            (persons.len(), new_person(g, opened, persons, rows)?)
        };
        self.case_of(opened, person, categories_now, persons, rows)
    }

    /// Generates the case of `persons[person]` in `categories`, opened at `opened`.
    pub(super) fn case_of(
        &mut self,
        opened: i64,
        person: usize,
        categories: Vec<PpksCategory>,
        persons: &mut [PersonInfo],
        rows: &mut ChunkRows,
    ) -> Result<(), DbErr> {
        let g = &mut self.state;
        let info = persons.get_mut(person).ok_or_else(|| DbErr::Custom("seed: person of a case is missing".into()))?;
        let kelurahan = info.kelurahan;
        let primary = categories[0];
        let age = age_on(info.birth, date(local_day(opened))?);
        let id = new_id(&mut g.rng, opened);

        // Who reported it: a volunteer covering the kelurahan, for PSM visits; staff otherwise, mostly.
        let k = &g.world.kelurahan[kelurahan];
        let on_record = k.volunteers.partition_point(|&v| g.world.volunteers[v].from <= opened);
        let mut source = weighted(
            &mut g.rng,
            &[
                (CaseSource::PsmVisit, 60),
                (CaseSource::WalkIn, 14),
                (CaseSource::Hotline, 12),
                (CaseSource::KelurahanMeeting, 14),
            ],
        );
        if source == CaseSource::PsmVisit && on_record == 0 {
            source = weighted(
                &mut g.rng,
                &[(CaseSource::WalkIn, 40), (CaseSource::Hotline, 30), (CaseSource::KelurahanMeeting, 30)],
            );
        }
        let volunteer_share = match source {
            CaseSource::PsmVisit => 100,
            CaseSource::KelurahanMeeting => 50,
            CaseSource::WalkIn => 15,
            CaseSource::Hotline => 0,
        };
        let reporter = (on_record > 0 && g.rng.u8(..100) < volunteer_share)
            .then(|| g.world.volunteers[k.volunteers[g.rng.usize(..on_record)]].id);
        let urgent = categories.iter().any(|c| {
            matches!(
                c,
                PpksCategory::NaturalDisasterVictim
                    | PpksCategory::SocialDisasterVictim
                    | PpksCategory::ChildVictimOfViolence
                    | PpksCategory::ViolenceVictim
                    | PpksCategory::TraffickingVictim
            )
        });
        let urgency = if urgent {
            weighted(
                &mut g.rng,
                &[(Urgency::Low, 3), (Urgency::Normal, 27), (Urgency::High, 45), (Urgency::Emergency, 25)],
            )
        } else {
            weighted(
                &mut g.rng,
                &[(Urgency::Low, 16), (Urgency::Normal, 59), (Urgency::High, 21), (Urgency::Emergency, 4)],
            )
        };
        let year = date(local_day(opened))?.year();
        let sequence = self.year_sequence.entry(year).or_insert(0);
        *sequence += 1;
        let reference = format!("PSM-{year}-{sequence:06}");
        let summary = summary(&mut g.rng, primary, age, &k.name);
        let kelurahan_code = k.code.clone();
        let district = k.district.clone();

        let mut sim = CaseSim {
            id,
            person: info.id,
            opened,
            primary,
            categories: &categories,
            district,
            reporter,
            elderly: age >= 60,
            status: CaseStatus::New,
            version: 0,
            last_change: opened,
            closed: None,
            referrals: 0,
            reopened: false,
            enrollments: Vec::new(),
            completed_referral: None,
            shares_with_partners: info.shares_with_partners,
        };
        sim.run(g, rows)?;
        info.shares_with_partners = sim.shares_with_partners;
        for enrollment in &sim.enrollments {
            let programme = &g.world.programmes[enrollment.programme];
            let (status, exited, reason) = match enrollment.exit {
                Some((exited, status, reason)) => (status, Some(exited), reason),
                None => (EnrollmentStatus::Enrolled, None, None),
            };
            rows.enrollments.push([
                enrollment.id.into(),
                programme.id.into(),
                id.into(),
                status.as_str().into(),
                at(enrollment.enrolled)?,
                at_opt(exited)?,
                reason.map(str::to_owned).into(),
                at(enrollment.enrolled)?,
                at(exited.unwrap_or(enrollment.enrolled))?,
                record_key(&mut g.keys),
            ])?;
        }
        rows.cases.push([
            id.into(),
            reference.into(),
            sim.person.into(),
            reporter.into(),
            kelurahan_code.into(),
            urgency.as_str().into(),
            source.as_str().into(),
            sim.status.as_str().into(),
            summary.into(),
            at(opened)?,
            at_opt(sim.closed.map(|(t, _)| t))?,
            sim.closed.map(|(_, reason)| reason.as_str().to_owned()).into(),
            sim.version.into(),
            at(opened)?,
            at(sim.last_change)?,
            record_key(&mut g.keys),
        ])?;
        for category in &categories {
            rows.case_categories.push([id.into(), category.as_str().into()])?;
        }
        Ok(())
    }
}

/// Appends a new person, first seen in a case opened at `opened`, with the consents they gave then;
/// returns the categories of that case.
pub(super) fn new_person(
    g: &mut Gen,
    opened: i64,
    persons: &mut Vec<PersonInfo>,
    rows: &mut ChunkRows,
) -> Result<Vec<PpksCategory>, DbErr> {
    let kelurahan = g.kelurahan();
    let band = weighted(&mut g.rng, &[(0u8, 15), (1, 55), (2, 30)]);
    let target_age = match band {
        0 => g.rng.i64(0..18),
        1 => g.rng.i64(18..60),
        _ => 60 + (35.0 * g.rng.f64().powf(1.6)) as i64,
    };
    let sex = match (band, g.rng.u8(..100)) {
        (2, roll) if roll < 60 => Sex::Female,
        (2, _) => Sex::Male,
        (_, roll) if roll < 52 => Sex::Female,
        _ => Sex::Male,
    };
    // Far enough back for exactly `target_age` whole years on the day the case opened.
    let birth = date(local_day(opened) - (target_age * 365 + target_age / 4 + 2 + g.rng.i64(0..=358)))?;
    let age = age_on(birth, date(local_day(opened))?);
    let id = new_id(&mut g.rng, opened);
    let k = &g.world.kelurahan[kelurahan];
    let nik = (g.rng.u8(..100) >= 3).then(|| nik(&mut g.rng, &mut g.niks, &k.district, birth, sex));
    let phone = (age >= 17 && g.rng.u8(..100) < 55).then(|| phone(&mut g.rng));
    let name = full_name(&mut g.rng, sex);
    let address = address(&mut g.rng, &k.name);
    let code = k.code.clone();
    let categories = categories(&mut g.rng, age, sex)?;
    let disability = disability(&mut g.rng, &categories, age);
    rows.persons.push([
        id.into(),
        name.into(),
        nik.into(),
        birth.into(),
        sex.as_str().into(),
        disability.map(str::to_owned).into(),
        address.into(),
        phone.into(),
        code.into(),
        at(opened)?,
        at(opened)?,
    ])?;

    let given_by = if age < 18 || (age >= 75 && g.rng.u8(..100) < 20) {
        ConsentGiver::Guardian
    } else {
        ConsentGiver::DataSubject
    };
    let draft = |scope, expiry_percent, revoked_percent| ConsentDraft {
        person: id,
        scope,
        partner: None,
        given_by,
        given: opened,
        expiry_percent,
        revoked_percent,
    };
    if g.rng.u8(..100) < 92 {
        g.consent(rows, draft(ConsentScope::Services, 0, 1))?;
    }
    if g.rng.u8(..100) < 70 {
        g.consent(rows, draft(ConsentScope::Reporting, 0, 1))?;
    }
    let shares_with_partners =
        g.rng.u8(..100) < 35 && g.consent(rows, draft(ConsentScope::ShareWithPartners, 40, 3))?;
    persons.push(PersonInfo { id, birth, sex, kelurahan, shares_with_partners });
    Ok(categories)
}

/// What a case does next in the simulation of its life.
pub(super) enum Next {
    /// Starts (or resumes) service by Dinsos at the instant.
    Serve(i64),
    /// Is referred to a partner at the instant.
    Refer(i64),
    /// Is closed at the instant, for the reason.
    Close(i64, ClosureReason),
    /// Nothing more happens before "now".
    Done,
}

/// An enrollment of the case being simulated.
pub(super) struct EnrollmentDraft {
    pub(super) id: Uuid,
    pub(super) programme: usize,
    pub(super) enrolled: i64,
    /// Exit instant, status and reason, once it ended.
    pub(super) exit: Option<(i64, EnrollmentStatus, Option<&'static str>)>,
    /// Whether it ends when the case closes (Dinsos's own), or with the referral (a partner's).
    pub(super) ends_with_case: bool,
}

/// The life of one case, simulated from its opening up to "now".
pub(super) struct CaseSim<'a> {
    pub(super) id: Uuid,
    pub(super) person: Uuid,
    pub(super) opened: i64,
    pub(super) primary: PpksCategory,
    pub(super) categories: &'a [PpksCategory],
    pub(super) district: String,
    pub(super) reporter: Option<Uuid>,
    pub(super) elderly: bool,
    pub(super) status: CaseStatus,
    pub(super) version: i32,
    pub(super) last_change: i64,
    pub(super) closed: Option<(i64, ClosureReason)>,
    pub(super) referrals: u32,
    pub(super) reopened: bool,
    pub(super) enrollments: Vec<EnrollmentDraft>,
    /// The referral that completed, and the partner that completed it.
    pub(super) completed_referral: Option<(Uuid, usize)>,
    pub(super) shares_with_partners: bool,
}

impl CaseSim<'_> {
    /// Runs the case's life: opening, assessment, then service, referral and closing until "now".
    pub(super) fn run(&mut self, g: &mut Gen, rows: &mut ChunkRows) -> Result<(), DbErr> {
        let opener = match self.reporter {
            Some(volunteer) => format!("volunteer:{volunteer}"),
            None => DINSOS_ACTOR.to_owned(),
        };
        self.change(g, rows, CaseStatus::New, self.opened, opener, None)?;
        let delay = skewed(&mut g.rng, 2 * HOUR, 10 * DAY, 2.0);
        let assessed = g.office(self.opened + delay);
        if assessed > g.now {
            return Ok(());
        }
        self.change(g, rows, CaseStatus::Assessment, assessed, DINSOS_ACTOR.to_owned(), None)?;
        let mut next = self.after_assessment(g, assessed);
        loop {
            next = match next {
                Next::Done => return Ok(()),
                Next::Serve(t) => self.serve(g, rows, t)?,
                Next::Refer(t) => self.refer(g, rows, t)?,
                Next::Close(t, reason) => self.close(g, rows, t, reason)?,
            };
        }
    }

    /// What follows an assessment finished at `t`.
    pub(super) fn after_assessment(&mut self, g: &mut Gen, t: i64) -> Next {
        let roll = g.rng.u8(..100);
        if roll < 14 {
            let reason = weighted(
                &mut g.rng,
                &[
                    (ClosureReason::NotEligible, 40),
                    (ClosureReason::CouldNotContact, 25),
                    (ClosureReason::Duplicate, 15),
                    (ClosureReason::MovedAway, 12),
                    (ClosureReason::Deceased, if self.elderly { 24 } else { 3 }),
                ],
            );
            Next::Close(t + between(&mut g.rng, DAY, 20 * DAY), reason)
        } else if roll < 34 {
            Next::Refer(t + between(&mut g.rng, DAY, 14 * DAY))
        } else {
            Next::Serve(t + between(&mut g.rng, DAY, 21 * DAY))
        }
    }

    /// Appends a status change to `to` at `t`.
    pub(super) fn change(
        &mut self,
        g: &mut Gen,
        rows: &mut ChunkRows,
        to: CaseStatus,
        t: i64,
        by: String,
        note: Option<String>,
    ) -> Result<(), DbErr> {
        let from = (self.version > 0).then_some(self.status);
        // The demo data obeys the same lifecycle as every write: a generator bug fails the seed.
        if let Some(from) = from {
            crate::service::workflow::check_case(from, to).map_err(|e| DbErr::Custom(e.detail()))?;
        }
        rows.status_changes.push([
            new_id(&mut g.rng, t).into(),
            self.id.into(),
            from.map(|s| s.as_str().to_owned()).into(),
            to.as_str().into(),
            at(t)?,
            by.into(),
            note.into(),
        ])?;
        self.status = to;
        self.version += 1;
        self.last_change = t;
        Ok(())
    }

    /// Dinsos serves the case from `t` (maybe enrolling it in one of its programmes); then it is referred or
    /// closed.
    pub(super) fn serve(&mut self, g: &mut Gen, rows: &mut ChunkRows, t: i64) -> Result<Next, DbErr> {
        let t = g.office(t);
        if t > g.now {
            return Ok(Next::Done);
        }
        self.change(g, rows, CaseStatus::InService, t, DINSOS_ACTOR.to_owned(), None)?;
        let open_enrollment = self.enrollments.iter().any(|e| e.ends_with_case && e.exit.is_none());
        if !open_enrollment && g.rng.u8(..100) < 55 {
            let enrolled = t + between(&mut g.rng, HOUR, 3 * DAY);
            let taken: Vec<usize> = self.enrollments.iter().map(|e| e.programme).collect();
            if enrolled <= g.now
                && let Some(programme) = g.programme(self.categories, enrolled, ORG_DINSOS, &taken)
            {
                self.enrollments.push(EnrollmentDraft {
                    id: new_id(&mut g.rng, enrolled),
                    programme,
                    enrolled,
                    exit: None,
                    ends_with_case: true,
                });
            }
        }
        if self.referrals == 0 && g.rng.u8(..100) < 10 {
            return Ok(Next::Refer(t + between(&mut g.rng, 7 * DAY, 60 * DAY)));
        }
        let duration = if g.rng.u8(..100) < 5 {
            // Stalled cases: the backlog a dashboard should show.
            between(&mut g.rng, 300 * DAY, 1_000 * DAY)
        } else if self.primary == PpksCategory::UninhabitableHouse {
            skewed(&mut g.rng, 45 * DAY, 300 * DAY, 1.3)
        } else {
            skewed(&mut g.rng, 14 * DAY, 200 * DAY, 1.5)
        };
        let reason = weighted(
            &mut g.rng,
            &[
                (ClosureReason::Resolved, 84),
                (ClosureReason::Deceased, if self.elderly { 12 } else { 2 }),
                (ClosureReason::MovedAway, 4),
                (ClosureReason::CouldNotContact, 4),
                (ClosureReason::NotEligible, 2),
            ],
        );
        Ok(Next::Close(t + duration, reason))
    }

    /// Refers the case from Dinsos to a partner at `t`, and plays the referral out up to "now".
    pub(super) fn refer(&mut self, g: &mut Gen, rows: &mut ChunkRows, t: i64) -> Result<Next, DbErr> {
        let sent = g.office(t);
        if sent > g.now {
            return Ok(Next::Done);
        }
        let to = g.partner(self.primary, &self.district);
        let partner_code = ORGANISATION_SPECS.get(to).map(|spec| spec.code).unwrap_or("MITRA");
        self.change(
            g,
            rows,
            CaseStatus::Referred,
            sent,
            DINSOS_ACTOR.to_owned(),
            Some("Rujukan ke lembaga mitra".to_owned()),
        )?;
        self.referrals += 1;
        let partner_actor = format!("staff:{partner_code}");
        let id = new_id(&mut g.rng, sent);
        let respond_by = sent + 14 * DAY;

        // The partner sees personal data only with consent: ask for it for this partner if not given to all.
        if !self.shares_with_partners {
            let given = (sent - between(&mut g.rng, 0, 2 * DAY)).max(self.opened);
            let giver =
                if self.categories.iter().any(|c| CHILDREN.contains(c) || *c == PpksCategory::ChildWithDisability) {
                    ConsentGiver::Guardian
                } else {
                    ConsentGiver::DataSubject
                };
            g.consent(
                rows,
                ConsentDraft {
                    person: self.person,
                    scope: ConsentScope::ShareWithPartners,
                    partner: Some(to),
                    given_by: giver,
                    given,
                    expiry_percent: 50,
                    revoked_percent: 4,
                },
            )?;
        }

        let mut events: Vec<(ReferralStatus, Option<ReferralReason>, String, i64)> =
            vec![(ReferralStatus::Sent, None, DINSOS_ACTOR.to_owned(), sent)];
        let mut responded = None;
        let mut completed = None;
        let now = g.now;
        let roll = g.rng.u8(..100);
        let next = if roll < 65 {
            let accepted = g.office_after(sent, HOUR, 10 * DAY);
            if accepted > now {
                Next::Done
            } else {
                events.push((ReferralStatus::Accepted, None, partner_actor.clone(), accepted));
                responded = Some(accepted);
                let enrolled = accepted + between(&mut g.rng, DAY, 5 * DAY);
                if enrolled <= now && g.rng.u8(..100) < 70 {
                    let taken: Vec<usize> = self.enrollments.iter().map(|e| e.programme).collect();
                    if let Some(programme) = g.programme(self.categories, enrolled, to, &taken) {
                        self.enrollments.push(EnrollmentDraft {
                            id: new_id(&mut g.rng, enrolled),
                            programme,
                            enrolled,
                            exit: None,
                            ends_with_case: false,
                        });
                    }
                }
                let then = g.rng.u8(..100);
                if then < 80 {
                    let done = g.office_after(accepted, 14 * DAY, 120 * DAY);
                    if done > now {
                        Next::Done
                    } else {
                        events.push((ReferralStatus::Completed, None, partner_actor.clone(), done));
                        completed = Some(done);
                        self.end_partner_enrollments(done, EnrollmentStatus::Completed, None);
                        self.completed_referral = Some((id, to));
                        let reason =
                            if g.rng.u8(..100) < 60 { ClosureReason::Resolved } else { ClosureReason::Referred };
                        Next::Close(done + between(&mut g.rng, HOUR, 10 * DAY), reason)
                    }
                } else if then < 88 {
                    let withdrawn = g.office_after(accepted, 5 * DAY, 40 * DAY);
                    if withdrawn > now {
                        Next::Done
                    } else {
                        let reason = weighted(
                            &mut g.rng,
                            &[
                                (ReferralReason::ClientDeclined, 4),
                                (ReferralReason::ReferredElsewhere, 3),
                                (ReferralReason::CouldNotContact, 2),
                                (ReferralReason::Other, 1),
                            ],
                        );
                        events.push((ReferralStatus::Withdrawn, Some(reason), DINSOS_ACTOR.to_owned(), withdrawn));
                        self.end_partner_enrollments(withdrawn, EnrollmentStatus::Exited, Some("Rujukan ditarik"));
                        Next::Serve(withdrawn + between(&mut g.rng, DAY, 7 * DAY))
                    }
                } else {
                    // The partner keeps serving; Dinsos closes its side.
                    Next::Close(accepted + between(&mut g.rng, 3 * DAY, 30 * DAY), ClosureReason::Referred)
                }
            }
        } else if roll < 83 {
            let declined = g.office_after(sent, HOUR, 10 * DAY);
            if declined > now {
                Next::Done
            } else {
                let reason = weighted(
                    &mut g.rng,
                    &[
                        (ReferralReason::NoCapacity, 30),
                        (ReferralReason::NotEligible, 25),
                        (ReferralReason::OutOfArea, 10),
                        (ReferralReason::CouldNotContact, 12),
                        (ReferralReason::ClientDeclined, 10),
                        (ReferralReason::Duplicate, 5),
                        (ReferralReason::Other, 8),
                    ],
                );
                events.push((ReferralStatus::Declined, Some(reason), partner_actor.clone(), declined));
                responded = Some(declined);
                Next::Serve(declined + between(&mut g.rng, DAY, 7 * DAY))
            }
        } else if roll < 94 {
            if respond_by > now {
                Next::Done
            } else {
                events.push((
                    ReferralStatus::Expired,
                    Some(ReferralReason::NoResponse),
                    "system".to_owned(),
                    respond_by,
                ));
                Next::Serve(respond_by + between(&mut g.rng, DAY, 5 * DAY))
            }
        } else {
            let withdrawn = g.office_after(sent, HOUR, 10 * DAY);
            if withdrawn > now {
                Next::Done
            } else {
                let reason = weighted(
                    &mut g.rng,
                    &[
                        (ReferralReason::ReferredElsewhere, 4),
                        (ReferralReason::ClientDeclined, 3),
                        (ReferralReason::Duplicate, 1),
                        (ReferralReason::Other, 2),
                    ],
                );
                events.push((ReferralStatus::Withdrawn, Some(reason), DINSOS_ACTOR.to_owned(), withdrawn));
                Next::Serve(withdrawn + between(&mut g.rng, DAY, 7 * DAY))
            }
        };

        let Some(&(status, reason, _, last)) = events.last() else {
            return Err(DbErr::Custom("seed: a referral without events".into()));
        };
        let note = match g.rng.u8(..3) {
            0 => Some(format!("Mohon tindak lanjut: {}", category_label(self.primary).to_lowercase())),
            1 => Some("Data lengkap terlampir, mohon konfirmasi penerimaan.".to_owned()),
            _ => None,
        };
        rows.referrals.push([
            id.into(),
            self.id.into(),
            g.world.organisations[ORG_DINSOS].into(),
            g.world.organisations[to].into(),
            status.as_str().into(),
            reason.map(|r| r.as_str().to_owned()).into(),
            note.into(),
            at(sent)?,
            at(respond_by)?,
            at_opt(responded)?,
            at_opt(completed)?,
            (events.len() as i32).into(),
            at(sent)?,
            at(last)?,
            record_key(&mut g.keys),
        ])?;
        let mut from = None;
        for (to_status, reason, actor, occurred) in events {
            if let Some(from) = from {
                crate::service::workflow::check_referral(from, to_status).map_err(|e| DbErr::Custom(e.detail()))?;
            }
            rows.referral_events.push([
                new_id(&mut g.rng, occurred).into(),
                id.into(),
                from.map(|s: ReferralStatus| s.as_str().to_owned()).into(),
                to_status.as_str().into(),
                reason.map(|r| r.as_str().to_owned()).into(),
                actor.into(),
                at(occurred)?,
                Option::<String>::None.into(),
            ])?;
            from = Some(to_status);
        }
        Ok(next)
    }

    /// Ends the partner's enrollments that are still running.
    pub(super) fn end_partner_enrollments(&mut self, t: i64, status: EnrollmentStatus, reason: Option<&'static str>) {
        for enrollment in self.enrollments.iter_mut().filter(|e| !e.ends_with_case && e.exit.is_none()) {
            enrollment.exit = Some((t.max(enrollment.enrolled), status, reason));
        }
    }

    /// Closes the case at `t` for `reason`, records an outcome (mostly), and sometimes reopens it later.
    pub(super) fn close(
        &mut self,
        g: &mut Gen,
        rows: &mut ChunkRows,
        t: i64,
        reason: ClosureReason,
    ) -> Result<Next, DbErr> {
        let t = g.office(t);
        if t > g.now {
            return Ok(Next::Done);
        }
        let note = match reason {
            ClosureReason::Resolved => "Layanan selesai diberikan",
            ClosureReason::Referred => "Ditangani oleh lembaga mitra",
            ClosureReason::NotEligible => "Tidak memenuhi kriteria program",
            ClosureReason::CouldNotContact => "Tidak dapat ditemui setelah tiga kali kunjungan",
            ClosureReason::MovedAway => "Pindah domisili ke luar Kota Banjarmasin",
            ClosureReason::Deceased => "Meninggal dunia",
            ClosureReason::Duplicate => "Duplikat laporan sebelumnya",
        };
        self.change(g, rows, CaseStatus::Closed, t, DINSOS_ACTOR.to_owned(), Some(note.to_owned()))?;
        self.closed = Some((t, reason));
        let (status, exit_reason) = match reason {
            ClosureReason::Resolved => (EnrollmentStatus::Completed, None),
            ClosureReason::Deceased => (EnrollmentStatus::Exited, Some("Meninggal dunia")),
            ClosureReason::MovedAway => (EnrollmentStatus::Exited, Some("Pindah domisili")),
            ClosureReason::NotEligible => (EnrollmentStatus::Exited, Some("Tidak memenuhi syarat")),
            ClosureReason::CouldNotContact => (EnrollmentStatus::Exited, Some("Tidak dapat dihubungi")),
            ClosureReason::Referred | ClosureReason::Duplicate => (EnrollmentStatus::Exited, Some("Kasus ditutup")),
        };
        let mut programme = None;
        for enrollment in self.enrollments.iter_mut().filter(|e| e.ends_with_case && e.exit.is_none()) {
            enrollment.exit = Some((t.max(enrollment.enrolled), status, exit_reason));
            programme = Some(enrollment.programme);
        }
        if reason != ClosureReason::Duplicate && g.rng.u8(..100) < 85 {
            self.outcome(g, rows, t, reason, programme)?;
        }
        let may_reopen =
            matches!(reason, ClosureReason::Resolved | ClosureReason::Referred | ClosureReason::CouldNotContact);
        if self.reopened || !may_reopen || g.rng.u8(..100) >= 5 {
            return Ok(Next::Done);
        }
        let reopened = g.office_after(t, 7 * DAY, 180 * DAY);
        if reopened > g.now {
            return Ok(Next::Done);
        }
        self.change(
            g,
            rows,
            CaseStatus::Reopened,
            reopened,
            DINSOS_ACTOR.to_owned(),
            Some("Dilaporkan kembali oleh PSM".to_owned()),
        )?;
        self.closed = None;
        self.reopened = true;
        let assessed = g.office_after(reopened, DAY, 10 * DAY);
        if assessed > g.now {
            return Ok(Next::Done);
        }
        self.change(g, rows, CaseStatus::Assessment, assessed, DINSOS_ACTOR.to_owned(), None)?;
        Ok(Next::Serve(assessed + between(&mut g.rng, 2 * DAY, 14 * DAY)))
    }

    /// Records what happened for the person when the case closed at `t`.
    pub(super) fn outcome(
        &mut self,
        g: &mut Gen,
        rows: &mut ChunkRows,
        t: i64,
        reason: ClosureReason,
        programme: Option<usize>,
    ) -> Result<(), DbErr> {
        let mut referral = None;
        let mut recorded_by = DINSOS_ACTOR.to_owned();
        let mut linked_programme = None;
        let outcome_type = match reason {
            ClosureReason::Resolved => {
                if let Some(p) = programme {
                    linked_programme = Some(p);
                    match g.world.programmes[p].kind {
                        ProgrammeKind::HouseRehabilitation => OutcomeType::HouseRehabilitated,
                        ProgrammeKind::DtsenProposal => OutcomeType::ProposedToDtsen,
                        _ if g.rng.bool() => OutcomeType::EnrolledInProgramme,
                        _ => OutcomeType::ServiceDelivered,
                    }
                } else if let Some((id, partner)) = self.completed_referral {
                    referral = Some(id);
                    recorded_by = format!("staff:{}", ORGANISATION_SPECS.get(partner).map_or("MITRA", |s| s.code));
                    OutcomeType::ServiceDelivered
                } else if g.rng.u8(..100) < 55 {
                    OutcomeType::GotHelp
                } else {
                    OutcomeType::ServiceDelivered
                }
            }
            ClosureReason::Referred => match self.completed_referral {
                Some((id, partner)) => {
                    referral = Some(id);
                    recorded_by = format!("staff:{}", ORGANISATION_SPECS.get(partner).map_or("MITRA", |s| s.code));
                    OutcomeType::ServiceDelivered
                }
                None => OutcomeType::Other,
            },
            ClosureReason::NotEligible => OutcomeType::NotEligible,
            ClosureReason::CouldNotContact => OutcomeType::CouldNotContact,
            ClosureReason::MovedAway => OutcomeType::MovedAway,
            ClosureReason::Deceased => OutcomeType::Deceased,
            ClosureReason::Duplicate => OutcomeType::Other,
        };
        if referral.is_none()
            && g.rng.u8(..100) < 25
            && let Some(volunteer) = self.reporter
        {
            recorded_by = format!("volunteer:{volunteer}");
        }
        let verified_at =
            if g.rng.u8(..100) < 65 { Some(g.office_after(t, DAY, 45 * DAY)).filter(|&v| v <= g.now) } else { None };
        let note = match outcome_type {
            OutcomeType::HouseRehabilitated => Some("Rumah selesai direhabilitasi dan diserahterimakan"),
            OutcomeType::ProposedToDtsen => Some("Diusulkan, menunggu hasil verifikasi pusat"),
            OutcomeType::Other => Some("Perlu tindak lanjut oleh lembaga mitra"),
            _ => None,
        };
        rows.outcomes.push([
            new_id(&mut g.rng, t).into(),
            self.id.into(),
            referral.into(),
            linked_programme.map(|p| g.world.programmes[p].id).into(),
            outcome_type.as_str().into(),
            outcome_type.group().as_str().into(),
            recorded_by.into(),
            at(t)?,
            verified_at.is_some().into(),
            at_opt(verified_at)?,
            note.map(str::to_owned).into(),
            at(t)?,
            at(verified_at.unwrap_or(t))?,
            record_key(&mut g.keys),
        ])?;
        Ok(())
    }
}

//! The world: regions, organisations, volunteers and programmes the cases refer to.

use super::*;

/// A kelurahan (urban village, the level below the kecamatan) and who covers it.
pub(super) struct Kelurahan {
    pub(super) code: String,
    pub(super) name: String,
    /// The kecamatan's two digits, as in the NIK (`01` for `63.71.01`).
    pub(super) district: String,
    /// How busy it is, relative to the others.
    pub(super) weight: f64,
    /// Volunteers covering it, by the instant they are on record from.
    pub(super) volunteers: Vec<usize>,
}

/// What cases need to know about a volunteer.
pub(super) struct VolunteerRef {
    pub(super) id: Uuid,
    /// The instant the volunteer is on record (and may report cases) from.
    pub(super) from: i64,
}

/// What cases need to know about a programme.
pub(super) struct ProgrammeRef {
    pub(super) id: Uuid,
    pub(super) kind: ProgrammeKind,
    pub(super) owner: usize,
    /// First and last instant of the programme's period.
    pub(super) from: i64,
    pub(super) until: Option<i64>,
    pub(super) categories: &'static [PpksCategory],
}

/// Everything the case generator refers to.
pub(super) struct World {
    pub(super) start: i64,
    pub(super) kelurahan: Vec<Kelurahan>,
    /// Cumulative kelurahan weights, for picking a case's kelurahan.
    pub(super) cumulative: Vec<f64>,
    pub(super) volunteers: Vec<VolunteerRef>,
    pub(super) organisations: Vec<Uuid>,
    pub(super) programmes: Vec<ProgrammeRef>,
}

/// An organisation of the demo data.
pub(super) struct OrganisationSpec {
    pub(super) code: &'static str,
    pub(super) name: &'static str,
    pub(super) kind: OrganisationKind,
    pub(super) kelurahan: Option<&'static str>,
}

// Indexes into `ORGANISATION_SPECS`.

pub(super) const ORG_DINSOS: usize = 0;
pub(super) const ORG_YBP: usize = 1;
pub(super) const ORG_YSDB: usize = 2;
pub(super) const ORG_PRLB: usize = 3;
pub(super) const ORG_LKS_ELDERLY: usize = 4;
pub(super) const ORG_LKSA: usize = 5;
pub(super) const ORG_KARANG_TARUNA: usize = 6;
pub(super) const ORG_PKM_PEKAUMAN: usize = 7;
pub(super) const ORG_PKM_TELUK_TIRAM: usize = 8;
pub(super) const ORG_KELURAHAN: usize = 9;
pub(super) const ORG_KECAMATAN: usize = 10;
pub(super) const ORG_BAZNAS: usize = 11;

/// Dinsos first, then its partners; the indexes above point into this table.
pub(super) const ORGANISATION_SPECS: &[OrganisationSpec] = &[
    OrganisationSpec {
        code: "DINSOS-BJM",
        name: "Dinas Sosial Kota Banjarmasin",
        kind: OrganisationKind::SocialService,
        kelurahan: None,
    },
    OrganisationSpec {
        code: "YBP",
        name: "Yayasan Banua Peduli",
        kind: OrganisationKind::Ngo,
        kelurahan: Some("Sungai Baru"),
    },
    OrganisationSpec {
        code: "YSDB",
        name: "Yayasan Sahabat Difabel Banjarmasin",
        kind: OrganisationKind::Ngo,
        kelurahan: Some("Teluk Dalam"),
    },
    OrganisationSpec {
        code: "PRLB",
        name: "Perkumpulan Rumah Layak Banua",
        kind: OrganisationKind::Ngo,
        kelurahan: Some("Kuin Cerucuk"),
    },
    OrganisationSpec {
        code: "LKS-KB",
        name: "LKS Lanjut Usia Kayuh Baimbai",
        kind: OrganisationKind::Lks,
        kelurahan: Some("Sungai Jingah"),
    },
    OrganisationSpec {
        code: "LKSA-HB",
        name: "LKSA Harapan Bangsa",
        kind: OrganisationKind::Lks,
        kelurahan: Some("Kelayan Tengah"),
    },
    OrganisationSpec {
        code: "KT-BJM",
        name: "Karang Taruna Kota Banjarmasin",
        kind: OrganisationKind::KarangTaruna,
        kelurahan: None,
    },
    OrganisationSpec {
        code: "PKM-PEKAUMAN",
        name: "Puskesmas Pekauman",
        kind: OrganisationKind::Puskesmas,
        kelurahan: Some("Pekauman"),
    },
    OrganisationSpec {
        code: "PKM-TELUKTIRAM",
        name: "Puskesmas Teluk Tiram",
        kind: OrganisationKind::Puskesmas,
        kelurahan: Some("Teluk Tiram"),
    },
    OrganisationSpec {
        code: "KEL-KLS",
        name: "Kantor Kelurahan Kelayan Selatan",
        kind: OrganisationKind::KelurahanOffice,
        kelurahan: Some("Kelayan Selatan"),
    },
    OrganisationSpec {
        code: "KEC-BJU",
        name: "Kantor Kecamatan Banjarmasin Utara",
        kind: OrganisationKind::KecamatanOffice,
        kelurahan: None,
    },
    OrganisationSpec {
        code: "BAZNAS-BJM",
        name: "BAZNAS Kota Banjarmasin",
        kind: OrganisationKind::Other,
        kelurahan: None,
    },
];

/// Dense riverside kelurahan that report far more cases than the others.
pub(super) const BUSY_KELURAHAN: &[&str] = &[
    "Pelambuan",
    "Kelayan Selatan",
    "Kelayan Barat",
    "Kelayan Timur",
    "Alalak Utara",
    "Sungai Jingah",
    "Pemurus Dalam",
    "Basirih",
    "Teluk Dalam",
];

/// A programme of the demo data, before it gets an id.
pub(super) struct ProgrammeSpec {
    pub(super) code: String,
    pub(super) name: String,
    pub(super) kind: ProgrammeKind,
    pub(super) description: &'static str,
    pub(super) owner: usize,
    pub(super) starts: i64,
    pub(super) ends: Option<i64>,
    pub(super) target: i32,
    pub(super) budget_idr: i64,
    pub(super) categories: &'static [PpksCategory],
}

/// A training (Bimtek) volunteers attended.
pub(super) struct CourseSpec {
    pub(super) title: String,
    pub(super) organiser: usize,
    pub(super) day: i64,
    pub(super) hours: i32,
    pub(super) attendees: usize,
    pub(super) active_only: bool,
}

/// The instants and days the reference data is laid out by.
pub(super) struct Calendar {
    pub(super) now: i64,
    /// The first instant a case may open.
    pub(super) start: i64,
    /// When the records of volunteers and partners already at work were entered: before the first case.
    pub(super) system_start: i64,
    pub(super) now_day: i64,
    pub(super) now_year: i32,
}

/// A volunteer, as training, awards and cases need to know them.
pub(super) struct VolunteerDraft {
    pub(super) id: Uuid,
    pub(super) created: i64,
    pub(super) served_day: i64,
    pub(super) psm: bool,
    pub(super) active: bool,
}

/// Builds organisations, volunteers, their trainings and awards, and programmes; returns the world the
/// cases refer to, the rows to insert (parents first) and their counts.
pub(super) fn build_reference(
    rng: &mut Rng,
    keys: &mut Rng,
    regions: &[region::Model],
    now: i64,
    cases: u64,
) -> Result<(World, Vec<Rows>, SeedReport), DbErr> {
    let start = now - CASE_WINDOW_DAYS * DAY;
    let now_day = local_day(now);
    let calendar = Calendar { now, start, system_start: start - 45 * DAY, now_day, now_year: date(now_day)?.year() };

    let mut kelurahan = kelurahan_list(rng, regions);
    let (organisations, organisation_ids) = organisations(rng, &kelurahan, &calendar)?;
    let (volunteers, drafts) = volunteers(rng, keys, &mut kelurahan, &calendar, cases)?;
    let trainings = trainings(rng, &drafts, &organisation_ids, &calendar)?;
    let awards = awards(rng, &drafts, &calendar)?;
    let (programmes, programme_categories, programme_refs) = programmes(rng, &organisation_ids, &calendar)?;
    let report = SeedReport {
        organisations: organisations.len(),
        volunteers: volunteers.len(),
        training_attendances: trainings.len(),
        awards: awards.len(),
        programmes: programmes.len(),
        ..SeedReport::default()
    };

    let mut cumulative = Vec::with_capacity(kelurahan.len());
    let mut running = 0.0;
    for k in &kelurahan {
        running += k.weight;
        cumulative.push(running);
    }
    let world = World {
        start,
        kelurahan,
        cumulative,
        volunteers: drafts.iter().map(|v| VolunteerRef { id: v.id, from: v.created }).collect(),
        organisations: organisation_ids,
        programmes: programme_refs,
    };
    Ok((world, vec![organisations, volunteers, trainings, awards, programmes, programme_categories], report))
}

/// The kelurahan of the regions table, each with how busy it is.
pub(super) fn kelurahan_list(rng: &mut Rng, regions: &[region::Model]) -> Vec<Kelurahan> {
    regions
        .iter()
        .map(|region| {
            // Trimmed: stray carriage returns from a CRLF source file must not reach addresses.
            let name = region.name.trim();
            let busy = BUSY_KELURAHAN.contains(&name);
            let weight = (0.35 + rng.f64() * 1.3) * if busy { 3.5 } else { 1.0 };
            Kelurahan {
                code: region.code.clone(),
                name: name.to_owned(),
                district: region.code.split('.').nth(2).unwrap_or("01").to_owned(),
                weight,
                volunteers: Vec::new(),
            }
        })
        .collect()
}

/// Dinsos and its partners; returns their rows and ids, in the order of [`ORGANISATION_SPECS`].
pub(super) fn organisations(
    rng: &mut Rng,
    kelurahan: &[Kelurahan],
    calendar: &Calendar,
) -> Result<(Rows, Vec<Uuid>), DbErr> {
    let code_of = |name: &str| kelurahan.iter().find(|k| k.name == name).map(|k| k.code.clone());
    let mut rows = Rows::new(&ORGANISATIONS, ORGANISATION_SPECS.len());
    let mut ids = Vec::with_capacity(ORGANISATION_SPECS.len());
    for (index, spec) in ORGANISATION_SPECS.iter().enumerate() {
        let created = calendar.system_start - 10 * DAY + index as i64 * 7 * 60;
        let id = new_id(rng, created);
        ids.push(id);
        rows.push([
            id.into(),
            spec.code.into(),
            spec.name.into(),
            spec.kind.as_str().into(),
            spec.kelurahan.and_then(code_of).into(),
            at(created)?,
            at(created)?,
        ])?;
    }
    Ok((rows, ids))
}

/// About 300 volunteers (more for very large data sets) covering every kelurahan but two or three of the
/// quieter ones, the busy ones by several; the longest-serving started thirty years ago.
pub(super) fn volunteers(
    rng: &mut Rng,
    keys: &mut Rng,
    kelurahan: &mut [Kelurahan],
    calendar: &Calendar,
    cases: u64,
) -> Result<(Rows, Vec<VolunteerDraft>), DbErr> {
    let Calendar { now, system_start, now_day, now_year, .. } = *calendar;
    let count = (300 + cases / 5_000).min(2_000) as usize;
    let mut by_weight: Vec<usize> = (0..kelurahan.len()).collect();
    by_weight.sort_by(|&a, &b| kelurahan[a].weight.total_cmp(&kelurahan[b].weight));
    let quiet = &by_weight[..kelurahan.len() / 2];
    let uncovered_count = if kelurahan.len() > 10 { 2 + rng.usize(..2) } else { 0 };
    let uncovered = rng.choose_multiple(quiet.iter().copied(), uncovered_count);
    let mut covered: Vec<usize> = (0..kelurahan.len()).filter(|k| !uncovered.contains(k)).collect();
    rng.shuffle(&mut covered);
    let mut covered_cumulative = Vec::with_capacity(covered.len());
    let mut total = 0.0;
    for &k in &covered {
        total += kelurahan[k].weight;
        covered_cumulative.push(total);
    }

    let mut rows = Rows::new(&VOLUNTEERS, count);
    let mut drafts: Vec<VolunteerDraft> = Vec::with_capacity(count);
    let longest_day = day_of(
        date(now_day)?
            .with_year(now_year - 30)
            .ok_or_else(|| DbErr::Custom("seed: no date thirty years back".into()))?,
    ) - rng.i64(0..120);
    for index in 0..count {
        let k = if index < covered.len() {
            covered[index]
        } else {
            let roll = rng.f64() * total;
            covered[covered_cumulative.partition_point(|&c| c <= roll).min(covered.len() - 1)]
        };
        let served_day = if index == 0 {
            longest_day
        } else {
            // A few recruited this year; the rest skewed to the last decade, some back to the 1990s.
            let days =
                if rng.u8(..100) < 8 { rng.i64(30..365) } else { ((1.0 + 29.0 * rng.f64().powf(2.0)) * 365.25) as i64 };
            (now_day - days).clamp(longest_day, now_day - 30)
        };
        let served = date(served_day)?;
        let tenure = now_year - served.year();
        let age_at_start = rng.i32(20..=(76 - tenure).clamp(20, 55));
        let birth_year = served.year() - age_at_start;
        let psks_type = if index == 0 {
            PsksType::CommunitySocialWorker
        } else {
            weighted(
                rng,
                &[
                    (PsksType::CommunitySocialWorker, 88),
                    (PsksType::SubdistrictSocialWelfareWorker, 3),
                    (PsksType::DisasterPreparednessCadet, 3),
                    (PsksType::YouthOrganisation, 2),
                    (PsksType::WomenWelfareLeader, 2),
                    (PsksType::CommunitySocialCounsellor, 2),
                ],
            )
        };
        let status = if index == 0 {
            VolunteerStatus::Active
        } else if tenure >= 20 {
            weighted(
                rng,
                &[(VolunteerStatus::Active, 65), (VolunteerStatus::Inactive, 10), (VolunteerStatus::Retired, 25)],
            )
        } else {
            weighted(
                rng,
                &[(VolunteerStatus::Active, 88), (VolunteerStatus::Inactive, 9), (VolunteerStatus::Retired, 3)],
            )
        };
        let served_start = day_start(served_day) + 9 * HOUR + rng.i64(0..2 * HOUR);
        let created = if served_start < system_start { system_start + rng.i64(0..14 * DAY) } else { served_start };
        let updated = if status == VolunteerStatus::Active { created } else { between(rng, created, now) };
        let gender = if rng.u8(..100) < 57 { Sex::Female } else { Sex::Male };
        let home = if rng.u8(..100) < 85 {
            k
        } else {
            let same_district: Vec<usize> =
                (0..kelurahan.len()).filter(|&other| kelurahan[other].district == kelurahan[k].district).collect();
            same_district.get(rng.usize(..same_district.len().max(1))).copied().unwrap_or(k)
        };
        let id = new_id(rng, created);
        let phone = (rng.u8(..100) < 96).then(|| phone(rng));
        rows.push([
            id.into(),
            full_name(rng, gender).into(),
            phone.into(),
            gender.as_str().into(),
            birth_year.into(),
            psks_type.as_str().into(),
            status.as_str().into(),
            served.into(),
            kelurahan[home].code.clone().into(),
            kelurahan[k].code.clone().into(),
            at(created)?,
            at(updated)?,
            record_key(keys),
        ])?;
        kelurahan[k].volunteers.push(index);
        drafts.push(VolunteerDraft {
            id,
            created,
            served_day,
            psm: psks_type == PsksType::CommunitySocialWorker,
            active: status == VolunteerStatus::Active,
        });
    }
    for k in kelurahan.iter_mut() {
        k.volunteers.sort_by_key(|&v| (drafts[v].created, v));
    }
    Ok((rows, drafts))
}

/// Attendance at the yearly Bimtek (175 PSM in November 2025) and at a few other courses.
pub(super) fn trainings(
    rng: &mut Rng,
    drafts: &[VolunteerDraft],
    organisation_ids: &[Uuid],
    calendar: &Calendar,
) -> Result<Rows, DbErr> {
    let now_year = calendar.now_year;
    let mut courses = Vec::new();
    for year in (now_year - 9)..=now_year {
        courses.push(CourseSpec {
            title: format!("Bimbingan Teknis Pekerja Sosial Masyarakat Kota Banjarmasin {year}"),
            organiser: ORG_DINSOS,
            day: ymd(year, 11, 10 + (year.rem_euclid(5) as u32) * 3)?,
            hours: 24,
            attendees: if year == 2025 { 175 } else { 60 + rng.usize(..80) },
            active_only: year >= now_year - 1,
        });
    }
    for (title, organiser, (year, month, day), hours, attendees) in [
        ("Pelatihan Pendamping Penyandang Disabilitas", ORG_YSDB, (2021, 9, 14), 12, 35),
        ("Pelatihan Kesiapsiagaan Bencana Kebakaran dan Banjir", ORG_DINSOS, (2022, 10, 4), 16, 60),
        ("Pelatihan Perlindungan Anak Berbasis Masyarakat", ORG_LKSA, (2023, 5, 16), 12, 45),
        ("Pelatihan Pertolongan Pertama pada Lanjut Usia", ORG_PKM_PEKAUMAN, (2024, 7, 23), 8, 40),
        ("Sosialisasi Data Tunggal Sosial Ekonomi Nasional (DTSEN) bagi PSM", ORG_DINSOS, (2025, 3, 12), 6, 120),
    ] {
        courses.push(CourseSpec {
            title: title.to_owned(),
            organiser,
            day: ymd(year, month, day)?,
            hours,
            attendees,
            active_only: true,
        });
    }
    let mut trainings = Rows::new(&TRAINING_ATTENDANCES, 2_000);
    for course in courses.iter().filter(|course| course.day < calendar.now_day) {
        let eligible =
            drafts.iter().filter(|v| v.psm && v.served_day <= course.day && (v.active || !course.active_only));
        let mut attendees = rng.choose_multiple(eligible, course.attendees);
        attendees.sort_by_key(|v| v.created);
        for volunteer in attendees {
            let created = (day_start(course.day) + 17 * HOUR).max(volunteer.created);
            trainings.push([
                new_id(rng, created).into(),
                volunteer.id.into(),
                course.title.clone().into(),
                Some(organisation_ids[course.organiser]).into(),
                date(course.day)?.into(),
                course.hours.into(),
                at(created)?,
                at(created)?,
            ])?;
        }
    }
    Ok(trainings)
}

/// Awards, given on National Social Solidarity Day (HKSN, 20 December) and Heroes' Day (10 November).
pub(super) fn awards(rng: &mut Rng, drafts: &[VolunteerDraft], calendar: &Calendar) -> Result<Rows, DbErr> {
    let Calendar { now_day, now_year, .. } = *calendar;
    let mut awards = Rows::new(&AWARDS, 200);
    let mut award =
        |rng: &mut Rng, volunteer: &VolunteerDraft, title: String, day: i64, by: &str| -> Result<(), DbErr> {
            let created = (day_start(day) + 14 * HOUR).max(volunteer.created);
            awards.push([
                new_id(rng, created).into(),
                volunteer.id.into(),
                title.into(),
                date(day)?.into(),
                by.into(),
                at(created)?,
                at(created)?,
            ])
        };
    for year in (now_year - 9)..=now_year {
        let hksn = ymd(year, 12, 20)?;
        if hksn < now_day {
            let eligible = drafts.iter().filter(|v| v.psm && v.active && v.served_day <= hksn - 730);
            for volunteer in rng.choose_multiple(eligible, 3) {
                award(
                    rng,
                    volunteer,
                    format!("PSM Teladan Kota Banjarmasin Tahun {year}"),
                    hksn,
                    "Wali Kota Banjarmasin",
                )?;
            }
        }
        let heroes = ymd(year, 11, 10)?;
        if year % 2 == 1 && heroes < now_day {
            let eligible = drafts.iter().filter(|v| v.psm && v.served_day <= heroes - 5 * 365);
            for volunteer in rng.choose_multiple(eligible, 1) {
                award(
                    rng,
                    volunteer,
                    format!("PSM Berprestasi Tingkat Provinsi Kalimantan Selatan Tahun {year}"),
                    heroes,
                    "Gubernur Kalimantan Selatan",
                )?;
            }
        }
    }
    for volunteer in drafts {
        // Tenure awards go out on the first HKSN after the anniversary.
        let served = date(volunteer.served_day)?;
        let first_hksn_year = served.year() + i32::from((served.month(), served.day()) > (12, 20));
        for years in [10, 20, 25] {
            let day = ymd(first_hksn_year + years, 12, 20)?;
            if day < now_day && rng.u8(..100) < 55 {
                award(
                    rng,
                    volunteer,
                    format!("Penghargaan Pengabdian {years} Tahun sebagai Pekerja Sosial Masyarakat"),
                    day,
                    "Dinas Sosial Kota Banjarmasin",
                )?;
            }
        }
    }
    Ok(awards)
}

/// The programmes that started by "now", the categories they are open to, and what cases need of them.
pub(super) fn programmes(
    rng: &mut Rng,
    organisation_ids: &[Uuid],
    calendar: &Calendar,
) -> Result<(Rows, Rows, Vec<ProgrammeRef>), DbErr> {
    let Calendar { now, start, now_day, now_year, .. } = *calendar;
    let specs = programme_specs(rng, date(local_day(start))?.year(), now_year)?;
    let mut programmes = Rows::new(&PROGRAMMES, specs.len());
    let mut programme_categories = Rows::new(&PROGRAMME_CATEGORIES, specs.len() * 4);
    let mut programme_refs = Vec::with_capacity(specs.len());
    for spec in
        specs.into_iter().filter(|spec| spec.starts <= now_day && spec.ends.is_none_or(|ends| ends >= spec.starts))
    {
        let created = (day_start(spec.starts - 21) + 2 * HOUR).min(now);
        let id = new_id(rng, created);
        programmes.push([
            id.into(),
            spec.code.into(),
            spec.name.into(),
            spec.kind.as_str().into(),
            spec.description.into(),
            organisation_ids[spec.owner].into(),
            date(spec.starts)?.into(),
            spec.ends.map(date).transpose()?.into(),
            spec.target.into(),
            spec.budget_idr.into(),
            at(created)?,
            at(created)?,
        ])?;
        for category in spec.categories {
            programme_categories.push([id.into(), category.as_str().into()])?;
        }
        programme_refs.push(ProgrammeRef {
            id,
            kind: spec.kind,
            owner: spec.owner,
            from: day_start(spec.starts),
            until: spec.ends.map(|ends| day_start(ends + 1) - 1),
            categories: spec.categories,
        });
    }
    Ok((programmes, programme_categories, programme_refs))
}

// The categories programmes are open to.

pub(super) const ELDERLY_ONLY: &[PpksCategory] = &[PpksCategory::NeglectedElderly];
pub(super) const HOUSING: &[PpksCategory] = &[PpksCategory::UninhabitableHouse];
pub(super) const DISABILITY: &[PpksCategory] = &[PpksCategory::PersonWithDisability, PpksCategory::ChildWithDisability];
pub(super) const WOMEN: &[PpksCategory] = &[PpksCategory::EconomicallyVulnerableWoman];
pub(super) const NONE: &[PpksCategory] = &[];
pub(super) const ASSISTANCE: &[PpksCategory] = &[
    PpksCategory::Poor,
    PpksCategory::NeglectedElderly,
    PpksCategory::PersonWithDisability,
    PpksCategory::EconomicallyVulnerableWoman,
    PpksCategory::NeglectedChild,
];
pub(super) const REGISTRY: &[PpksCategory] = &[
    PpksCategory::Poor,
    PpksCategory::NeglectedElderly,
    PpksCategory::PersonWithDisability,
    PpksCategory::EconomicallyVulnerableWoman,
    PpksCategory::UninhabitableHouse,
];
pub(super) const CHILDREN: &[PpksCategory] = &[
    PpksCategory::NeglectedToddler,
    PpksCategory::NeglectedChild,
    PpksCategory::StreetChild,
    PpksCategory::ChildVictimOfViolence,
    PpksCategory::ChildNeedingSpecialProtection,
    PpksCategory::ChildInConflictWithLaw,
];
pub(super) const DISASTER: &[PpksCategory] = &[PpksCategory::NaturalDisasterVictim, PpksCategory::SocialDisasterVictim];
pub(super) const ZAKAT: &[PpksCategory] = &[PpksCategory::Poor, PpksCategory::EconomicallyVulnerableWoman];
pub(super) const PSYCHOSOCIAL: &[PpksCategory] = &[
    PpksCategory::PsychosocialFamilyProblem,
    PpksCategory::ViolenceVictim,
    PpksCategory::FormerPrisoner,
    PpksCategory::SubstanceAbuseVictim,
    PpksCategory::Homeless,
    PpksCategory::Beggar,
    PpksCategory::Scavenger,
];

/// The programmes that ran from `first_year` (of the case window) to `now_year`.
pub(super) fn programme_specs(rng: &mut Rng, first_year: i32, now_year: i32) -> Result<Vec<ProgrammeSpec>, DbErr> {
    let mut specs = Vec::new();
    for year in first_year..=now_year {
        let target = 100 + rng.i32(0..=10) * 10;
        specs.push(ProgrammeSpec {
            code: format!("RTLH-{year}"),
            name: format!("Rehabilitasi Rumah Tidak Layak Huni (RTLH) {year}"),
            kind: ProgrammeKind::HouseRehabilitation,
            description: "Bedah rumah tidak layak huni milik keluarga miskin: atap, lantai, dinding dan jamban sehat, Rp 20 juta per unit.",
            owner: ORG_DINSOS,
            starts: ymd(year, 2, 1)?,
            ends: Some(ymd(year, 12, 15)?),
            target,
            budget_idr: i64::from(target) * 20_000_000,
            categories: HOUSING,
        });
        let target = 1_500 + rng.i32(0..=10) * 100;
        specs.push(ProgrammeSpec {
            code: format!("BANSOS-{year}"),
            name: format!("Bantuan Sosial Daerah Kota Banjarmasin {year}"),
            kind: ProgrammeKind::SocialAssistance,
            description: "Bantuan sembako dan uang tunai dari APBD kota bagi warga rentan yang belum menerima bantuan pusat.",
            owner: ORG_DINSOS,
            starts: ymd(year, 1, 15)?,
            ends: Some(ymd(year, 12, 31)?),
            target,
            budget_idr: i64::from(target) * 1_200_000,
            categories: ASSISTANCE,
        });
        if year >= now_year - 1 {
            let day = ymd(year, 11, 10 + (year.rem_euclid(5) as u32) * 3)?;
            specs.push(ProgrammeSpec {
                code: format!("BIMTEK-PSM-{year}"),
                name: format!("Bimbingan Teknis Pekerja Sosial Masyarakat {year}"),
                kind: ProgrammeKind::Training,
                description: "Bimtek tiga hari bagi PSM: asesmen kasus, pendataan DTSEN, rujukan dan perlindungan data pribadi.",
                owner: ORG_DINSOS,
                starts: day,
                ends: Some(day + 2),
                target: 175,
                budget_idr: 175 * 1_500_000,
                categories: NONE,
            });
        }
        if year >= now_year - 2 {
            specs.push(ProgrammeSpec {
                code: format!("PRSE-{year}"),
                name: format!("Pelatihan Keterampilan Usaha Perempuan Rawan Sosial Ekonomi {year}"),
                kind: ProgrammeKind::Training,
                description: "Pelatihan menjahit, olahan pangan khas Banjar dan pemasaran daring, dengan bantuan modal usaha.",
                owner: ORG_DINSOS,
                starts: ymd(year, 5, 1)?,
                ends: Some(ymd(year, 10, 31)?),
                target: 60,
                budget_idr: 60 * 3_500_000,
                categories: WOMEN,
            });
        }
    }
    let first = ymd(first_year, 1, 1)?;
    let dtsen_start = ymd(2025, 2, 1)?.max(first);
    specs.push(ProgrammeSpec {
        code: "USULAN-DTKS".into(),
        name: "Usulan Data Terpadu Kesejahteraan Sosial (DTKS)".into(),
        kind: ProgrammeKind::DtsenProposal,
        description: "Pengusulan warga miskin dan rentan ke DTKS melalui aplikasi SIKS-NG, diverifikasi musyawarah kelurahan.",
        owner: ORG_DINSOS,
        starts: first,
        ends: Some(ymd(2025, 1, 31)?),
        target: 5_000,
        budget_idr: 150_000_000,
        categories: REGISTRY,
    });
    specs.push(ProgrammeSpec {
        code: "USULAN-DTSEN".into(),
        name: "Usulan Data Tunggal Sosial Ekonomi Nasional (DTSEN)".into(),
        kind: ProgrammeKind::DtsenProposal,
        description: "Pengusulan dan pemutakhiran warga miskin dan rentan ke DTSEN (Inpres 4/2025), ground check oleh PSM.",
        owner: ORG_DINSOS,
        starts: dtsen_start,
        ends: None,
        target: 8_000,
        budget_idr: 250_000_000,
        categories: REGISTRY,
    });
    specs.push(ProgrammeSpec {
        code: "TANGGAP-DARURAT".into(),
        name: "Tanggap Darurat Korban Kebakaran dan Banjir".into(),
        kind: ProgrammeKind::SocialAssistance,
        description: "Makanan siap saji, perlengkapan tidur dan santunan bagi korban kebakaran permukiman dan banjir rob.",
        owner: ORG_DINSOS,
        starts: first,
        ends: None,
        target: 1_000,
        budget_idr: 750_000_000,
        categories: DISASTER,
    });
    specs.push(ProgrammeSpec {
        code: "LANSIA-KB".into(),
        name: "Pendampingan Lanjut Usia Terlantar".into(),
        kind: ProgrammeKind::ElderlyAccompaniment,
        description: "Kunjungan rumah, pemeriksaan kesehatan dan permakanan bagi lansia yang hidup sendiri.",
        owner: ORG_LKS_ELDERLY,
        starts: first,
        ends: None,
        target: 300,
        budget_idr: 900_000_000,
        categories: ELDERLY_ONLY,
    });
    specs.push(ProgrammeSpec {
        code: "ATENSI-DISABILITAS".into(),
        name: "Asistensi Rehabilitasi Sosial (ATENSI) Penyandang Disabilitas".into(),
        kind: ProgrammeKind::DisabilitySupport,
        description: "Alat bantu (kursi roda, tongkat, alat bantu dengar), terapi dan pendampingan keluarga.",
        owner: ORG_YSDB,
        starts: first + 59,
        ends: None,
        target: 200,
        budget_idr: 600_000_000,
        categories: DISABILITY,
    });
    specs.push(ProgrammeSpec {
        code: "ASUH-ANAK".into(),
        name: "Pengasuhan dan Perlindungan Anak".into(),
        kind: ProgrammeKind::ChildProtection,
        description: "Pengasuhan alternatif, pendampingan psikososial dan akses sekolah bagi anak terlantar dan korban kekerasan.",
        owner: ORG_LKSA,
        starts: first,
        ends: None,
        target: 150,
        budget_idr: 450_000_000,
        categories: CHILDREN,
    });
    specs.push(ProgrammeSpec {
        code: "BEDAH-RUMAH-KT".into(),
        name: "Bedah Rumah Gotong Royong Karang Taruna".into(),
        kind: ProgrammeKind::HouseRehabilitation,
        description: "Perbaikan rumah warga oleh pemuda karang taruna dengan material dari donatur.",
        owner: ORG_KARANG_TARUNA,
        starts: first + 151,
        ends: None,
        target: 40,
        budget_idr: 400_000_000,
        categories: HOUSING,
    });
    specs.push(ProgrammeSpec {
        code: "ZAKAT-PRODUKTIF".into(),
        name: "Bantuan Zakat Produktif".into(),
        kind: ProgrammeKind::SocialAssistance,
        description: "Modal usaha kecil dan pendampingan bagi mustahik: pedagang pasar, warung dan usaha rumahan.",
        owner: ORG_BAZNAS,
        starts: first,
        ends: None,
        target: 500,
        budget_idr: 1_500_000_000,
        categories: ZAKAT,
    });
    specs.push(ProgrammeSpec {
        code: "PSIKOSOSIAL-YBP".into(),
        name: "Pendampingan Psikososial Keluarga Rentan".into(),
        kind: ProgrammeKind::SocialAssistance,
        description: "Konseling, mediasi keluarga dan pendampingan ke layanan bagi keluarga dengan masalah psikososial.",
        owner: ORG_YBP,
        starts: first,
        ends: None,
        target: 250,
        budget_idr: 300_000_000,
        categories: PSYCHOSOCIAL,
    });
    Ok(specs)
}

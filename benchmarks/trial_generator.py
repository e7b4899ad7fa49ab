"""Generate a realistic synthetic trial quickly, straight into an event store.

The benchmarks need a trial of 2,000 subjects x 500 events (1,000,000 events). Entering it
through ``submit_form`` would take hours (one fsync'd transaction and a casebook fold per
entry), so this module appends the events directly with ``EventStore.append``, several per
commit, one stream per subject, with ``expected_version`` tracked. The events are shaped
exactly as the command layer records them (``ecrf/commands/forms.py``):

- a form entry: type ``FORMS[form].event_type``, data ``{"entry_id": <uuid hex>, "form",
  "values": <load_form output>, "derived"?: <ecrf.commands.derived.derive output>}``,
  metadata ``{"actor", "role"}``;
- a correction: ``EntryCorrected`` ``{"entry_id", "form", "changes", "reason"}``, metadata
  ``{"actor", "role", "reason"}``;
- a void: ``EntryVoided`` ``{"entry_id", "form", "reason"}``, metadata as a correction's.

Values are valid by construction: each form's template payload is validated once with
``ecrf.forms.registry.load_form`` and then only numbers and dates are varied in canonical
form (floats for measures, ISO dates, UTC date-times). ``validate_every`` re-validates every
n-th generated entry with ``load_form`` and fails loudly if the round trip changes anything;
derived values (doses per m2, flags) come from the command layer's own ``derive``.

Each subject: registration, ITP history, medical history, screening labs, the investigator's
eligibility checklist (agreeing with the data), one or two concomitant medications,
leukapheresis, three days of lymphodepletion, the CAR-T infusion, then follow-up up to the
requested number of events: mostly platelet counts (spread over ~365 days, denser early,
following a per-subject response course: complete, partial, none, or lost), vital signs,
neurological and bleeding assessments, chemistry, some adverse events, a few rescue
therapies, ~5% corrections and ~1% voids. Values stay inside the edit checks' expected
ranges, so the command path would have opened no automatic query either.

Deterministic for a given seed (entry ids included); ``recorded_at`` is the time of
generation, as it would be for any store.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ecrf.commands.derived import derive
from ecrf.forms.registry import FORMS, load_form
from events import EventStore, NewEvent, RecordedEvent
from projections.casebook import Casebook, apply
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

#: Shares of follow-up *entries* by form (corrections and voids are drawn separately).
FOLLOW_UP_MIX: tuple[tuple[str, float], ...] = (
    ("platelet_count", 0.52),
    ("vital_signs", 0.16),
    ("bleeding_assessment", 0.10),
    ("chemistry", 0.10),
    ("neuro_assessment", 0.085),
    ("adverse_event", 0.03),
    ("rescue_therapy", 0.005),
)
CORRECTION_SHARE = 0.05
VOID_SHARE = 0.01
CORRECTABLE = {  # form -> fields a correction may change
    "platelet_count": ("platelets",),
    "vital_signs": ("heart_rate", "temperature_c"),
    "chemistry": ("alt", "creatinine"),
    "bleeding_assessment": ("who_grade",),
    "neuro_assessment": ("ice_score",),
}
CORRECTION_REASONS = ("transcription error", "value re-read from the source document",
                      "unit converted wrongly", "lab report amended")
VOID_REASONS = ("entered for the wrong subject", "duplicate entry", "sample rejected by the lab")
RESPONSE_COURSES = (("CR", 0.45), ("R", 0.25), ("NR", 0.20), ("LOSS", 0.10))
AE_TERMS = (  # term, category, typical onset window (study days)
    ("Cytokine release syndrome", "crs", (0, 7)),
    ("Neutropenia", "cytopenia", (1, 40)),
    ("Anaemia", "cytopenia", (1, 60)),
    ("Pyrexia", "other", (0, 30)),
    ("Headache", "other", (1, 200)),
    ("Fatigue", "other", (1, 300)),
    ("Nausea", "other", (1, 60)),
    ("Upper respiratory tract infection", "infection", (10, 360)),
    ("Hypokalaemia", "other", (1, 90)),
)
CRITERIA = [f"IN{i:02d}" for i in range(1, 9)] + [f"EX{i:02d}" for i in range(1, 20)]
MEDICAL_HISTORY_FLAGS = (
    "hemostatic_disorder_other", "platelet_agglutination_abnormality",
    "malignancy_or_cytotoxic_treatment_history", "heart_disease_within_1y",
    "thrombosis_history_or_risk", "gi_bleeding_risk_or_acute_infection_or_respiratory_disease",
    "decompensated_disease", "severe_allergy", "mental_illness_or_addiction",
    "poor_compliance_expected", "pregnant_or_lactating",
    "exam_abnormality_clinically_significant",
)
FIXED_MIN = 12  # events before follow-up: 11 or 12 (one or two concomitant medications)


# -- canonical value helpers (what load_form would return) ------------------------------------
def _iso(day: date) -> str:
    return day.isoformat()


def _at(day: date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+00:00"


def _num(value: float, digits: int = 1) -> float:
    return float(round(value, digits))


def _templates() -> dict[str, dict[str, Any]]:
    """Validate one payload per form with load_form; generation varies these cheaply."""
    d, t = "2020-01-15", "2020-01-15T08:00:00+00:00"
    raw = {
        "registration": {"subject_id": "TPL-0001", "site_id": "SITE-01", "sex": "F",
                         "birth_date": "1980-04-02", "consent_date": d, "screening_date": d},
        "itp_history": {"visit": "SCR", "diagnosis_date": "2017-07-01", "primary_itp": True,
                        "secondary_cause_excluded": True, "refractory": True,
                        "splenectomy": False,
                        "prior_therapies": [
                            {"agent": "prednisone", "line": 1, "start_date": "2017-07-20",
                             "end_date": "2017-10-01", "best_response": "R",
                             "intolerance": False},
                            {"agent": "eltrombopag", "line": 2, "start_date": "2018-01-10",
                             "end_date": "2019-03-01", "best_response": "NR",
                             "intolerance": False}]},
        "medical_history": {"visit": "SCR", "contraception_agreed": True,
                            "last_other_trial_date": None,
                            **dict.fromkeys(MEDICAL_HISTORY_FLAGS, False)},
        "screening_labs": {"visit": "SCR", "collected_at": t, "platelets": 15,
                           "hemoglobin": 118, "hemoglobin_lln": 120, "neutrophils": 3.1,
                           "neutrophils_lln": 1.8, "alt": 30, "alt_uln": 40, "ast": 28,
                           "ast_uln": 40, "bilirubin": 9, "bilirubin_uln": 21,
                           "creatinine": 70, "creatinine_uln": 90, "hiv_antibody": "negative",
                           "hbsag": "negative", "hbcab": "negative", "hcv_antibody": "negative",
                           "pregnancy_test": "negative"},
        "ie_checklist": {"visit": "SCR",
                         "answers": {c: ("yes" if c.startswith("IN") else "no")
                                     for c in CRITERIA},
                         "investigator_confirms_eligible": True},
        "concomitant_medication": {"drug": "omeprazole", "category": "other", "dose": 20,
                                   "dose_unit": "mg", "frequency": "once daily",
                                   "start_date": d, "indication": "other",
                                   "indication_other": "gastric protection"},
        "leukapheresis": {"visit": "LEUK", "procedure_date": d, "blood_volume_processed_l": 12},
        "lymphodepletion": {"visit": "LD", "administered_on": d, "height_cm": 165,
                            "weight_kg": 60, "fludarabine_mg": 50, "cyclophosphamide_mg": 500},
        "car_t_infusion": {"visit": "D0", "infused_at": t, "product_lot": "LOT-00001",
                           "dose_cells_per_kg": 1.0e6, "weight_kg": 60},
        "platelet_count": {"visit": "UNSCHEDULED", "collected_at": t, "platelets": 40},
        "vital_signs": {"visit": "UNSCHEDULED", "measured_at": t, "temperature_c": 36.8,
                        "systolic_bp": 120, "diastolic_bp": 75, "heart_rate": 80, "spo2": 97,
                        "oxygen": "none"},
        "neuro_assessment": {"visit": "UNSCHEDULED", "assessed_at": t, "ice_score": 10,
                             "consciousness": "awake"},
        "bleeding_assessment": {"visit": "UNSCHEDULED", "assessed_on": d, "who_grade": 0},
        "chemistry": {"visit": "UNSCHEDULED", "collected_at": t, "alt": 30, "alt_uln": 40,
                      "ast": 28, "ast_uln": 40, "bilirubin": 9, "bilirubin_uln": 21,
                      "creatinine": 70, "creatinine_uln": 90},
        "adverse_event": {"term": "Headache", "category": "other", "onset_date": d,
                          "ctcae_grade": 1, "serious": False, "relatedness_car_t": "unlikely",
                          "relatedness_lymphodepletion": "unlikely", "outcome": "recovering"},
        "rescue_therapy": {"agent": "IVIG", "category": "immunoglobulin", "start_date": d},
    }
    return {name: load_form(name, payload) for name, payload in raw.items()}


@dataclass
class _Tracked:
    """An entry a later correction or void may target."""

    entry_id: str
    form: str
    values: dict[str, Any]


@dataclass
class TrialStats:
    """What was generated."""

    subjects: int
    events: int
    seconds: float
    subject_ids: list[str]
    sites: dict[str, str]  # subject id -> site id
    courses: dict[str, int] = field(default_factory=dict)
    forms: dict[str, int] = field(default_factory=dict)
    validated: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class SubjectPlan:
    """One subject's events, produced lazily in order (registration first)."""

    def __init__(self, gen: TrialGenerator, index: int, events: int) -> None:
        self.gen, self.index, self.total = gen, index, events
        self.rng = random.Random(f"{gen.seed}:{index}")
        rng = self.rng
        self.subject_id = f"{gen.prefix}-{index + 1:05d}"
        self.site_id = f"SITE-{index % gen.sites + 1:02d}"
        site_no = index % gen.sites + 1
        self.staff = {"actor": f"staff-{site_no:02d}", "role": "site_staff"}
        self.investigator = {"actor": f"inv-{site_no:02d}", "role": "investigator"}
        # Infusions spread over the 400 days before the last year of follow-up.
        self.day0 = gen.today - timedelta(days=372 + (index * 37) % 400)
        self.course = _weighted(rng, RESPONSE_COURSES)
        self.baseline = float(rng.randint(6, 25))
        self.loss_day = rng.randint(120, 250)
        self.febrile = rng.random() < 0.35  # CRS grade 1 fever in the first days
        self.sex = "F" if rng.random() < 0.6 else "M"
        self.age = rng.randint(20, 70)
        self.height = float(rng.randint(152, 192))
        self.weight = float(rng.randint(50, 105))
        self.book = Casebook(self.subject_id, self.site_id)
        self.tracked: list[_Tracked] = []
        self.used_visits: set[str] = set()
        self.emitted = 0  # events handed out so far (counted by batches())
        self.book_version = 0

    # -- helpers ----------------------------------------------------------------------------
    def on(self, day: int) -> date:
        return self.day0 + timedelta(days=day)

    def _entry_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _entry(self, form: str, values: dict[str, Any], meta: dict[str, Any],
               *, apply_to_book: bool = False) -> NewEvent:
        gen = self.gen
        gen.count_form(form)
        if gen.validate_every and gen.counter % gen.validate_every == 0:
            gen.validate(form, values)
        derived = derive(self.book, form, values, gen.config)
        data: dict[str, Any] = {"entry_id": self._entry_id(), "form": form, "values": values}
        if derived:
            data["derived"] = derived
        event = NewEvent(FORMS[form].event_type, data, meta)
        if apply_to_book:  # derive() reads the lymphodepletion days and the infusion
            self.book_version += 1
            apply(self.book, RecordedEvent(0, self.subject_id, self.book_version,
                                           event.type, 1, data, meta, gen.now, ""))
        if form in CORRECTABLE:
            self.tracked.append(_Tracked(data["entry_id"], form, values))
            if len(self.tracked) > 80:
                del self.tracked[0]
        return event

    def _visit_for(self, day: int) -> str:
        """A scheduled visit whose window holds this day (once per visit), else UNSCHEDULED."""
        for visit in self.gen.follow_up_visits:
            if (visit.code not in self.used_visits
                    and visit.day - visit.window_before <= day <= visit.day + visit.window_after):
                self.used_visits.add(visit.code)
                return visit.code
        return "UNSCHEDULED"

    # -- the subject's life ------------------------------------------------------------------
    def events(self) -> Iterator[NewEvent]:
        yield from self._screening_and_treatment()
        yield from self._follow_up()

    def _screening_and_treatment(self) -> Iterator[NewEvent]:
        tpl, rng = self.gen.templates, self.rng
        screening = self.on(-30)
        birth = date(screening.year - self.age, rng.randint(1, 12), rng.randint(1, 28))
        staff = self.staff
        yield self._entry("registration", {
            **tpl["registration"], "subject_id": self.subject_id, "site_id": self.site_id,
            "sex": self.sex, "birth_date": _iso(birth), "consent_date": _iso(screening),
            "screening_date": _iso(screening)}, staff, apply_to_book=True)
        history = tpl["itp_history"]
        diagnosis = self.on(-rng.randint(800, 3000))
        yield self._entry("itp_history", {
            **history, "diagnosis_date": _iso(diagnosis),
            "prior_therapies": [
                {**history["prior_therapies"][0], "start_date": _iso(diagnosis + timedelta(19)),
                 "end_date": _iso(diagnosis + timedelta(90))},
                {**history["prior_therapies"][1], "start_date": _iso(diagnosis + timedelta(190)),
                 "end_date": _iso(diagnosis + timedelta(600))}]}, staff)
        yield self._entry("medical_history", dict(tpl["medical_history"]), staff)
        yield self._entry("screening_labs", {
            **tpl["screening_labs"], "collected_at": _at(screening, 8),
            "platelets": self.baseline,
            "hemoglobin": _num(rng.uniform(100, 140)),
            "alt": _num(rng.uniform(12, 38)), "ast": _num(rng.uniform(12, 38)),
            "creatinine": _num(rng.uniform(50, 88)),
            "pregnancy_test": "negative" if self.sex == "F" else "not_applicable"},
            staff, apply_to_book=True)
        yield self._entry("ie_checklist", dict(tpl["ie_checklist"]), self.investigator,
                          apply_to_book=True)
        yield self._entry("concomitant_medication", {
            **tpl["concomitant_medication"], "start_date": _iso(self.on(-rng.randint(200, 900)))},
            staff)
        if self.total >= FIXED_MIN + 1 and rng.random() < 0.5:
            yield self._entry("concomitant_medication", {
                **tpl["concomitant_medication"], "drug": "paracetamol", "dose": 1000.0,
                "frequency": "as needed", "indication": "headache",
                "start_date": _iso(self.on(-rng.randint(40, 400)))}, staff)
        yield self._entry("leukapheresis", {
            **tpl["leukapheresis"], "procedure_date": _iso(self.on(-20)),
            "blood_volume_processed_l": _num(rng.uniform(9, 15))}, staff)
        bsa = math.sqrt(self.height * self.weight / 3600)
        fludarabine = _num(30 * bsa * rng.uniform(0.97, 1.03), 0)
        cyclophosphamide = _num(300 * bsa * rng.uniform(0.97, 1.03), 0)
        for day in (-5, -4, -3):
            yield self._entry("lymphodepletion", {
                **tpl["lymphodepletion"], "administered_on": _iso(self.on(day)),
                "height_cm": self.height, "weight_kg": self.weight,
                "fludarabine_mg": fludarabine, "cyclophosphamide_mg": cyclophosphamide},
                staff, apply_to_book=True)
        yield self._entry("car_t_infusion", {
            **tpl["car_t_infusion"], "infused_at": _at(self.day0, 10),
            "product_lot": f"LOT-{self.index + 1:05d}",
            "dose_cells_per_kg": _num(rng.uniform(0.8, 1.2), 2) * 1e6,
            "weight_kg": self.weight}, staff, apply_to_book=True)

    def _follow_up(self) -> Iterator[NewEvent]:
        rng = self.rng
        left = self.total - self.emitted
        if left <= 0:
            return
        kinds = []
        for _ in range(left):
            r = rng.random()
            kinds.append("correct" if r < CORRECTION_SHARE else
                         "void" if r < CORRECTION_SHARE + VOID_SHARE else "entry")
        entries = kinds.count("entry")
        # Study days of the new entries, sorted: denser in the first weeks.
        days = sorted(min(365, 1 + int(365 * rng.random() ** 1.8)) for _ in range(entries))
        next_day = iter(days)
        for kind in kinds:
            if kind == "correct" and self.tracked:
                yield self._correction()
            elif kind == "void" and len(self.tracked) > 1:
                yield self._void()
            else:
                day = next(next_day, 365)
                yield self._follow_up_entry(_weighted(rng, FOLLOW_UP_MIX), day)

    def platelets_on(self, day: int) -> float:
        """The count a subject of this response course would have on a study day."""
        base, ramp = self.baseline, min(1.0, day / 28)
        peak = {"CR": 150.0, "R": max(2.4 * base, 45.0), "LOSS": 120.0}.get(self.course)
        if peak is None or (self.course == "LOSS" and day >= self.loss_day):
            level = base * 1.05  # no response, or the response was lost
        else:
            level = base + (peak - base) * ramp
        return max(1.0, _num(level * self.rng.uniform(0.85, 1.15)))

    def _follow_up_entry(self, form: str, day: int) -> NewEvent:
        tpl, rng, staff = self.gen.templates, self.rng, self.staff
        when = self.on(day)
        hour, minute = rng.randint(6, 19), rng.choice((0, 15, 30, 45))
        if form == "platelet_count":
            values = {**tpl["platelet_count"], "visit": self._visit_for(day),
                      "collected_at": _at(when, hour, minute),
                      "platelets": self.platelets_on(day)}
            if rng.random() < 0.3:  # a full blood count
                values.update(hemoglobin=_num(rng.uniform(95, 140)), hemoglobin_lln=120.0,
                              leukocytes=_num(rng.uniform(3.0, 9.0)), leukocytes_lln=4.0,
                              neutrophils=_num(rng.uniform(1.0, 6.0)), neutrophils_lln=1.8,
                              lymphocytes=_num(rng.uniform(0.4, 3.0)), lymphocytes_lln=1.0)
            if rng.random() < 0.02:
                values["transfused_within_72h"] = True
        elif form == "vital_signs":
            fever = self.febrile and day <= 5 and rng.random() < 0.6
            values = {**tpl["vital_signs"], "measured_at": _at(when, hour, minute),
                      "temperature_c": _num(rng.uniform(38.1, 39.2) if fever
                                            else rng.uniform(36.2, 37.4)),
                      "systolic_bp": _num(rng.uniform(100, 140), 0),
                      "diastolic_bp": _num(rng.uniform(60, 90), 0),
                      "heart_rate": _num(rng.uniform(58, 110), 0),
                      "spo2": _num(rng.uniform(94, 99), 0)}
        elif form == "neuro_assessment":
            early = day <= 14 and rng.random() < 0.1
            values = {**tpl["neuro_assessment"], "assessed_at": _at(when, hour, minute),
                      "ice_score": rng.randint(7, 9) if early else 10}
        elif form == "bleeding_assessment":
            r = rng.random()
            grade = 0 if r < 0.8 else 1 if r < 0.97 else 2
            values = {**tpl["bleeding_assessment"], "assessed_on": _iso(when),
                      "who_grade": grade}
            if grade:
                values["sites"] = [rng.choice(("skin", "oral mucosa", "epistaxis"))]
        elif form == "chemistry":
            values = {**tpl["chemistry"], "collected_at": _at(when, hour, minute),
                      "alt": _num(rng.uniform(12, 55)), "ast": _num(rng.uniform(12, 50)),
                      "bilirubin": _num(rng.uniform(4, 24)),
                      "creatinine": _num(rng.uniform(50, 100))}
        elif form == "adverse_event":
            term, category, (low, high) = rng.choice(AE_TERMS)
            onset = self.on(max(low, min(high, day)))
            grade = 1 if rng.random() < 0.6 else 2 if rng.random() < 0.8 else 3
            serious = grade == 3 and rng.random() < 0.4
            values = {**tpl["adverse_event"], "term": term, "category": category,
                      "onset_date": _iso(onset), "ctcae_grade": grade, "serious": serious,
                      "relatedness_car_t": rng.choice(("unlikely", "possible", "probable"))}
            if rng.random() < 0.7:
                values.update(end_date=_iso(onset + timedelta(days=rng.randint(2, 14))),
                              outcome="recovered")
            if serious:
                values.update(seriousness=["hospitalization"], aware_at=_at(onset, 9))
        else:  # rescue_therapy
            steroid = rng.random() < 0.3
            values = {**tpl["rescue_therapy"], "start_date": _iso(when),
                      "agent": "dexamethasone" if steroid else "IVIG",
                      "category": "corticosteroid" if steroid else "immunoglobulin",
                      "end_date": _iso(when + timedelta(days=rng.randint(1, 4)))}
        return self._entry(form, values, staff)

    def _correction(self) -> NewEvent:
        rng = self.rng
        target = rng.choice(self.tracked)
        name = rng.choice(CORRECTABLE[target.form])
        old = target.values.get(name)
        if name == "who_grade":
            new: Any = 1 if old == 0 else 0
        elif name == "ice_score":
            new = 9 if old == 10 else 10
        elif name == "platelets":
            new = _num((old or 10.0) + rng.choice((-1, 1)) * rng.uniform(1, 9))
            new = new if new >= 1 else _num((old or 10.0) + 3)
        elif name == "heart_rate":
            new = _num((old or 80.0) + rng.choice((-10, 10)), 0)
        elif name == "temperature_c":
            new = _num((old or 37.0) + rng.choice((-0.3, 0.3)))
        else:
            new = _num((old or 50.0) * rng.choice((0.9, 1.1)))
        target.values = {**target.values, name: new}
        self.gen.count_form("EntryCorrected")
        reason = rng.choice(CORRECTION_REASONS)
        return NewEvent("EntryCorrected", {"entry_id": target.entry_id, "form": target.form,
                                           "changes": {name: new}, "reason": reason},
                        {**self.staff, "reason": reason})

    def _void(self) -> NewEvent:
        rng = self.rng
        target = self.tracked.pop(rng.randrange(len(self.tracked)))
        self.gen.count_form("EntryVoided")
        reason = rng.choice(VOID_REASONS)
        return NewEvent("EntryVoided", {"entry_id": target.entry_id, "form": target.form,
                                        "reason": reason}, {**self.staff, "reason": reason})

    def batches(self, size: int) -> Iterator[list[NewEvent]]:
        batch: list[NewEvent] = []
        for event in self.events():
            self.emitted += 1
            batch.append(event)
            if len(batch) == size:
                yield batch
                batch = []
            if self.emitted >= self.total:
                break
        if batch:
            yield batch


class TrialGenerator:
    """Deterministic generator of a trial: subjects x events, appended in batches."""

    def __init__(self, *, seed: int = 20260101, sites: int = 20, prefix: str = "BN",
                 today: date | None = None, validate_every: int = 50,
                 config: TrialConfig = DEFAULT_TRIAL) -> None:
        self.seed, self.sites, self.prefix, self.config = seed, sites, prefix, config
        self.today = today or datetime.now(UTC).date()
        self.now = datetime.now(UTC)
        self.validate_every = validate_every
        self.templates = _templates()
        self.follow_up_visits = [v for v in config.schedule if v.day is not None and v.day > 0]
        self.counter = 0
        self.validated = 0
        self.forms: dict[str, int] = {}

    def count_form(self, form: str) -> None:
        self.counter += 1
        self.forms[form] = self.forms.get(form, 0) + 1

    def validate(self, form: str, values: dict[str, Any]) -> None:
        """Check that load_form gives back exactly these values (they are canonical)."""
        again = load_form(form, values)
        if again != values:
            raise AssertionError(f"generated {form} values are not canonical:\n"
                                 f"  generated {values}\n  load_form {again}")
        self.validated += 1

    def generate(self, store: EventStore, subjects: int, events_per_subject: int, *,
                 batch: int = 50, interleave: bool = True,
                 progress: Callable[[int], None] | None = None) -> TrialStats:
        """Append the trial to ``store``; return what was generated.

        With ``interleave`` the subjects progress together (one batch of each in turn), so a
        subject's events are spread over the whole log as in a running trial.
        """
        if events_per_subject < FIXED_MIN + 1:
            raise ValueError(f"events_per_subject must be at least {FIXED_MIN + 1}")
        plans = [SubjectPlan(self, i, events_per_subject) for i in range(subjects)]
        started = time.perf_counter()
        total = 0
        versions = dict.fromkeys((p.subject_id for p in plans), 0)
        active = [(p, p.batches(batch)) for p in plans]
        while active:
            still = []
            for plan, batches in active:
                for chunk in batches:
                    store.append(plan.subject_id, chunk,
                                 expected_version=versions[plan.subject_id])
                    versions[plan.subject_id] += len(chunk)
                    total += len(chunk)
                    if progress:
                        progress(len(chunk))
                    if interleave:
                        still.append((plan, batches))
                        break
            active = still
        seconds = time.perf_counter() - started
        courses: dict[str, int] = {}
        for plan in plans:
            courses[plan.course] = courses.get(plan.course, 0) + 1
        return TrialStats(subjects, total, seconds, [p.subject_id for p in plans],
                          {p.subject_id: p.site_id for p in plans}, courses,
                          dict(self.forms), self.validated)


def _weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    r = rng.random() * sum(w for _, w in table)
    for name, weight in table:
        r -= weight
        if r < 0:
            return name
    return table[-1][0]


def generate_trial(store: EventStore, subjects: int, events_per_subject: int, *,
                   seed: int = 20260101, batch: int = 50, validate_every: int = 50,
                   prefix: str = "BN", progress: Callable[[int], None] | None = None
                   ) -> TrialStats:
    """Generate ``subjects`` x ``events_per_subject`` events into ``store`` (see module doc)."""
    generator = TrialGenerator(seed=seed, prefix=prefix, validate_every=validate_every)
    return generator.generate(store, subjects, events_per_subject, batch=batch,
                              progress=progress)

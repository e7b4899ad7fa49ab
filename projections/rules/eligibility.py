"""Eligibility: the protocol's inclusion (IN01-IN08) and exclusion (EX01-EX19) criteria.

The screening forms decide every criterion but EX19 on their own ("computed"); the investigator's
checklist (`ie_checklist`) decides EX19 ("attested") and is compared with the computed results so
that a contradiction becomes a discrepancy (later an automatic query). Choices the protocol leaves
open are listed in docs/clinical-rules-efficacy-eligibility.md.

Status of a criterion: `met` means the subject passes it. For an inclusion that is "the condition
holds"; for an exclusion EXnn it means "the excluding condition is absent", and `not_met` means the
subject is excluded by it. `unknown` means the data needed are not (yet) entered.
"""

import calendar
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from projections.trial_config import DEFAULT_TRIAL, TrialConfig

MET, NOT_MET, UNKNOWN = "met", "not_met", "unknown"
COMPUTED, ATTESTED = "computed", "attested"
ELIGIBLE, INELIGIBLE, INCOMPLETE = "eligible", "ineligible", "incomplete"

Form = Mapping[str, Any]

_ANTITHROMBOTIC = frozenset({"antiplatelet", "nsaid", "anticoagulant"})
_FORM_NAMES = {
    "registration": "Registration",
    "itp_history": "ITP history",
    "medical_history": "Medical history",
    "screening_labs": "Screening labs",
}
_LAB_NAMES = {"alt": "ALT", "ast": "AST", "creatinine": "Creatinine"}


@dataclass(frozen=True)
class EligibilityInputs:
    """The current (corrected, non-voided) screening entries of one subject; None = not entered."""

    registration: Form | None = None
    itp_history: Form | None = None
    medical_history: Form | None = None
    screening_labs: Form | None = None
    ie_checklist: Form | None = None
    concomitant_medications: Sequence[Form] = ()


@dataclass(frozen=True)
class Criterion:
    """One criterion's verdict, with the values and entries it was decided from."""

    code: str
    label: str
    status: str  # met | not_met | unknown (for EXnn: met = excluding condition absent)
    source: str  # computed | attested
    detail: str
    entries: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "label": self.label,
            "status": self.status,
            "source": self.source,
            "detail": self.detail,
            "entries": list(self.entries),
        }


@dataclass(frozen=True)
class Discrepancy:
    """A checklist answer (or the investigator's confirmation) contradicting a computed result."""

    code: str  # a criterion code, or INV for investigator_confirms_eligible
    attested: str  # the checklist's answer: yes | no
    computed: str  # met | not_met, or eligible | ineligible for INV
    detail: str
    entries: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "attested": self.attested,
            "computed": self.computed,
            "detail": self.detail,
            "entries": list(self.entries),
        }


@dataclass(frozen=True)
class EligibilityResult:
    """The eligibility projection: overall status, every criterion, and the discrepancies."""

    status: str  # eligible | ineligible | incomplete
    criteria: tuple[Criterion, ...]
    discrepancies: tuple[Discrepancy, ...] = ()
    failing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "failing": list(self.failing),
            "criteria": [c.to_dict() for c in self.criteria],
            "discrepancies": [d.to_dict() for d in self.discrepancies],
        }


@dataclass(frozen=True)
class _Verdict:
    status: str
    detail: str
    entries: tuple[str, ...] = ()


_Rule = Callable[[EligibilityInputs, TrialConfig], _Verdict]


# ---------------------------------------------------------------- small helpers


def completed_years(birth: date, on: date) -> int:
    """Age in completed years on a day (a 29 February birthday is reached on 1 March)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def add_months(day: date, months: int) -> date:
    """Shift a date by calendar months, clamping to the month's last day (29 Feb -> 28 Feb)."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year = day.year + years
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def _ids(*forms: Form | None) -> tuple[str, ...]:
    return tuple(str(f["entry_id"]) for f in forms if f is not None and f.get("entry_id"))


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _yes_no(value: Any) -> str:
    return "not recorded" if value is None else "yes" if value else "no"


def _screening_date(inputs: EligibilityInputs) -> date | None:
    return (inputs.registration or {}).get("screening_date")


def _get(inputs: EligibilityInputs, form: str, name: str) -> Any:
    entry: Form | None = getattr(inputs, form)
    return None if entry is None else entry.get(name)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _longest_run(days: Iterable[date]) -> tuple[int, date | None, date | None]:
    """Return the longest run of consecutive days as (length, first day, last day)."""
    best: tuple[int, date | None, date | None] = (0, None, None)
    start: date | None = None
    prev: date | None = None
    for day in sorted(set(days)):
        if start is None or prev is None or (day - prev).days != 1:
            start = day
        prev = day
        length = (day - start).days + 1
        if length > best[0]:
            best = (length, start, day)
    return best


# ---------------------------------------------------------------- the criteria


def _bool_rule(form: str, name: str, wanted: bool) -> _Rule:
    """A criterion met when a yes/no field of one form has the wanted value."""

    def rule(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
        entry: Form | None = getattr(inputs, form)
        if entry is None:
            return _Verdict(UNKNOWN, f"{_FORM_NAMES[form]} not entered.")
        value = entry.get(name)
        if value is None:
            return _Verdict(UNKNOWN, f"{_FORM_NAMES[form]}: {name} not recorded.", _ids(entry))
        status = MET if bool(value) is wanted else NOT_MET
        return _Verdict(status, f"{_FORM_NAMES[form]}: {name} is {_yes_no(value)}.", _ids(entry))

    return rule


def _in01(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    reg = inputs.registration
    if reg is None:
        return _Verdict(UNKNOWN, "Registration not entered.")
    consent, assent, birth = reg.get("consent_date"), reg.get("assent_date"), reg.get("birth_date")
    ids = _ids(reg)
    if consent is None:
        return _Verdict(NOT_MET, "No consent date recorded.", ids)
    if assent is not None:
        return _Verdict(MET, f"Consent on {consent}, assent on {assent}.", ids)
    if birth is None:
        return _Verdict(UNKNOWN, f"Consent on {consent}; birth date missing, so the need for "
                        "assent is unknown.", ids)
    age = completed_years(birth, consent)
    if age < 18:
        return _Verdict(NOT_MET, f"Consent on {consent} at age {age}, but no assent date.", ids)
    return _Verdict(MET, f"Consent on {consent} at age {age} (no assent needed).", ids)


def _in02(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    birth = _get(inputs, "registration", "birth_date")
    consent = _get(inputs, "registration", "consent_date")
    ids = _ids(inputs.registration)
    if birth is None or consent is None:
        return _Verdict(UNKNOWN, "Birth date or consent date not recorded.", ids)
    age = completed_years(birth, consent)
    status = MET if config.min_age <= age <= config.max_age else NOT_MET
    return _Verdict(status, f"Aged {age} completed years at consent on {consent} (born {birth}); "
                    f"allowed {config.min_age} to {config.max_age}.", ids)


def _in03(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    history, screening = inputs.itp_history, _screening_date(inputs)
    ids = _ids(inputs.itp_history, inputs.registration)
    if history is None:
        return _Verdict(UNKNOWN, "ITP history not entered.", ids)
    refractory, diagnosis = history.get("refractory"), history.get("diagnosis_date")
    if refractory:
        return _Verdict(MET, "Refractory ITP.", ids)
    if diagnosis is None or screening is None:
        return _Verdict(UNKNOWN, "Diagnosis date or screening date not recorded; not refractory.",
                        ids)
    months = config.chronic_itp_months
    chronic_from = add_months(diagnosis, months)
    if screening > chronic_from:
        return _Verdict(MET, f"Chronic: diagnosed {diagnosis}, more than {months} months before "
                        f"screening on {screening}.", ids)
    if refractory is None:
        return _Verdict(UNKNOWN, f"Diagnosed {diagnosis}, not more than {months} months before "
                        f"screening on {screening}; refractory not recorded.", ids)
    return _Verdict(NOT_MET, f"Diagnosed {diagnosis}, not more than {months} months before "
                    f"screening on {screening}, and not refractory.", ids)


def _in04(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    history = inputs.itp_history
    if history is None:
        return _Verdict(UNKNOWN, "ITP history not entered.")
    primary, excluded = history.get("primary_itp"), history.get("secondary_cause_excluded")
    detail = (f"ITP history: primary_itp is {_yes_no(primary)}, secondary_cause_excluded is "
              f"{_yes_no(excluded)}.")
    if primary is False or excluded is False:
        return _Verdict(NOT_MET, detail, _ids(history))
    if primary is None or excluded is None:
        return _Verdict(UNKNOWN, detail, _ids(history))
    return _Verdict(MET, detail, _ids(history))


def _in05(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    platelets = _get(inputs, "screening_labs", "platelets")
    ids = _ids(inputs.screening_labs)
    if platelets is None:
        return _Verdict(UNKNOWN, "Screening platelet count not recorded.", ids)
    limit = config.platelet_eligibility_below
    status = MET if _dec(platelets) < _dec(limit) else NOT_MET
    return _Verdict(status, f"Screening platelets {platelets:g} x10^9/L; must be below "
                    f"{limit:g}.", ids)


def _in06(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    steroids = [m for m in inputs.concomitant_medications if m.get("category") == "corticosteroid"]
    if not steroids:
        return _Verdict(MET, "No corticosteroid recorded.")
    screening, ids = _screening_date(inputs), _ids(*steroids)
    if screening is None or any(m.get("start_date") is None for m in steroids):
        return _Verdict(UNKNOWN, "Screening date or a corticosteroid start date not recorded.", ids)
    ongoing = [m for m in steroids if m["start_date"] <= screening
               and (m.get("end_date") is None or m["end_date"] >= screening)]
    if not ongoing:
        return _Verdict(MET, f"No corticosteroid ongoing at screening on {screening}.", ids)
    need = config.corticosteroid_stable_days
    latest = max(ongoing, key=lambda m: m["start_date"])
    since = (screening - latest["start_date"]).days
    status = MET if since >= need else NOT_MET
    return _Verdict(status, f"{latest.get('drug', 'corticosteroid')} at the current dose since "
                    f"{latest['start_date']}, {since} days before screening on {screening}; "
                    f"at least {need} days needed.", _ids(*ongoing))


def _ex02(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    history = inputs.itp_history
    mode = config.splenectomy_excludes
    if mode not in ("any", "preventive"):
        raise ValueError(f"splenectomy_excludes must be 'any' or 'preventive', got {mode!r}")
    if history is None:
        return _Verdict(UNKNOWN, "ITP history not entered.")
    done, preventive = history.get("splenectomy"), history.get("splenectomy_preventive")
    ids = _ids(history)
    if done is None:
        return _Verdict(UNKNOWN, "Splenectomy not recorded.", ids)
    if not done:
        return _Verdict(MET, "No splenectomy.", ids)
    if mode == "any":
        return _Verdict(NOT_MET, "Prior splenectomy (any splenectomy excludes).", ids)
    if preventive is None:
        return _Verdict(UNKNOWN, "Prior splenectomy; whether preventive not recorded.", ids)
    if preventive:
        return _Verdict(NOT_MET, "Prior preventive splenectomy.", ids)
    return _Verdict(MET, "Prior splenectomy, not preventive (only preventive excludes).", ids)


def _ex04(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    meds = [m for m in inputs.concomitant_medications if m.get("category") in _ANTITHROMBOTIC]
    if not meds:
        return _Verdict(MET, "No antiplatelet drug, NSAID or anticoagulant recorded.")
    screening = _screening_date(inputs)
    if screening is None or any(m.get("start_date") is None for m in meds):
        return _Verdict(UNKNOWN, "Screening date or a start date not recorded.", _ids(*meds))
    first = screening - timedelta(days=config.antiplatelet_lookback_days)
    last = screening - timedelta(days=1)
    days: set[date] = set()
    used = []
    for m in meds:
        span = _days(max(m["start_date"], first), min(m.get("end_date") or screening, last))
        if span:
            used.append(m)
            days.update(span)
    length, run_first, run_last = _longest_run(days)
    allowed = config.antiplatelet_max_consecutive_days
    status = NOT_MET if length > allowed else MET
    where = f" ({run_first} to {run_last})" if length else ""
    drugs = ", ".join(sorted({str(m.get("drug", m.get("category"))) for m in used})) or "none"
    return _Verdict(status, f"{length} consecutive days{where} of antiplatelet/NSAID/anticoagulant "
                    f"({drugs}) between {first} and {last}, the {config.antiplatelet_lookback_days}"
                    f" days before screening on {screening}; more than {allowed} excludes.",
                    _ids(*used))


def _uln_rule(tests: tuple[str, ...], factor_name: str) -> _Rule:
    """A criterion not met when any value exceeds a multiple of its upper limit of normal."""

    def rule(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
        labs, factor = inputs.screening_labs, getattr(config, factor_name)
        if labs is None:
            return _Verdict(UNKNOWN, "Screening labs not entered.")
        parts, high, missing = [], False, False
        for test in tests:
            value, uln = labs.get(test), labs.get(f"{test}_uln")
            if value is None or uln is None or uln <= 0:
                missing = True
                parts.append(f"{_LAB_NAMES[test]} or its ULN not recorded")
                continue
            ratio = _dec(value) / _dec(uln)
            high = high or ratio > _dec(factor)
            parts.append(f"{_LAB_NAMES[test]} {value:g} (ULN {uln:g}, {ratio:.2f} x ULN)")
        status = NOT_MET if high else UNKNOWN if missing else MET
        return _Verdict(status, "; ".join(parts) + f"; more than {factor:g} x ULN excludes.",
                        _ids(labs))

    return rule


def _ex13(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    labs = inputs.screening_labs
    if labs is None:
        return _Verdict(UNKNOWN, "Screening labs not entered.")
    found, open_, fine = [], [], []
    for name, label in (("hiv_antibody", "HIV antibody"), ("hbsag", "HBsAg")):
        value = labs.get(name)
        (found if value == "positive" else fine if value == "negative" else open_).append(
            f"{label} {value or 'not recorded'}")
    hbcab, dna = labs.get("hbcab"), labs.get("hbv_dna")
    if hbcab == "positive":
        text = f"HBcAb positive with HBV-DNA {dna or 'not recorded'}"
        (found if dna == "positive" else fine if dna == "negative" else open_).append(text)
    else:
        (fine if hbcab == "negative" else open_).append(f"HBcAb {hbcab or 'not recorded'}")
    hcv, rna = labs.get("hcv_antibody"), labs.get("hcv_rna")
    text = f"HCV antibody {hcv or 'not recorded'}" + (f", HCV-RNA {rna}" if rna else "")
    if rna == "positive":
        found.append(text)
    elif hcv == "negative" or (hcv == "positive" and rna == "negative"):
        fine.append(text)
    else:
        open_.append(text)
    status = NOT_MET if found else UNKNOWN if open_ else MET
    return _Verdict(status, "; ".join(found + open_ + fine) + ".", _ids(labs))


def _ex15(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    test = _get(inputs, "screening_labs", "pregnancy_test")
    pregnant = _get(inputs, "medical_history", "pregnant_or_lactating")
    detail = f"Pregnancy test {test or 'not recorded'}; pregnant_or_lactating {_yes_no(pregnant)}."
    ids = _ids(inputs.screening_labs, inputs.medical_history)
    if test == "positive" or pregnant:
        return _Verdict(NOT_MET, detail, ids)
    if test is None or pregnant is None:
        return _Verdict(UNKNOWN, detail, ids)
    return _Verdict(MET, detail, ids)


def _ex18(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    history = inputs.medical_history
    if history is None:
        return _Verdict(UNKNOWN, "Medical history not entered.")
    last, screening = history.get("last_other_trial_date"), _screening_date(inputs)
    if last is None:
        return _Verdict(MET, "No participation in another clinical trial recorded.",
                        _ids(history))
    ids = _ids(history, inputs.registration)
    if screening is None:
        return _Verdict(UNKNOWN, f"Other trial until {last}; screening date not recorded.", ids)
    days, washout = (screening - last).days, config.other_trial_washout_days
    status = NOT_MET if days <= washout else MET
    return _Verdict(status, f"Other trial until {last}, {days} days before screening on "
                    f"{screening}; within {washout} days excludes.", ids)


def _ex19(inputs: EligibilityInputs, config: TrialConfig) -> _Verdict:
    answer = _answer(inputs.ie_checklist, "EX19")
    ids = _ids(inputs.ie_checklist)
    if answer is None:
        return _Verdict(UNKNOWN, "Checklist answer for EX19 not given.", ids)
    status = NOT_MET if answer == "yes" else MET
    return _Verdict(status, f"Investigator answered {answer} to another reason to exclude.", ids)


def _mh(name: str) -> _Rule:
    return _bool_rule("medical_history", name, False)


_RULES: tuple[tuple[str, str, _Rule], ...] = (
    ("IN01", "Informed consent (and assent under 18)", _in01),
    ("IN02", "Aged {c.min_age} to {c.max_age} inclusive, completed years at consent", _in02),
    ("IN03", "Chronic (diagnosis more than {c.chronic_itp_months} months before screening) or "
     "refractory ITP", _in03),
    ("IN04", "No other cause of thrombocytopenia found", _in04),
    ("IN05", "Platelet count below {c.platelet_eligibility_below:g} x10^9/L at screening", _in05),
    ("IN06", "Corticosteroids, if taken, at a dose unchanged for at least "
     "{c.corticosteroid_stable_days} days before screening", _in06),
    ("IN07", "Examination normal or deviations not clinically significant",
     _mh("exam_abnormality_clinically_significant")),
    ("IN08", "Agrees to effective contraception",
     _bool_rule("medical_history", "contraception_agreed", True)),
    ("EX01", "Disease that may cause secondary ITP",
     _bool_rule("itp_history", "secondary_cause_excluded", True)),
    ("EX02", "Splenectomy ({c.splenectomy_excludes} splenectomy excludes)", _ex02),
    ("EX03", "Hemostatic disorder other than ITP", _mh("hemostatic_disorder_other")),
    ("EX04", "Antiplatelet drug, NSAID or anticoagulant for more than "
     "{c.antiplatelet_max_consecutive_days} consecutive days within the "
     "{c.antiplatelet_lookback_days} days before screening", _ex04),
    ("EX05", "Platelet agglutination abnormality", _mh("platelet_agglutination_abnormality")),
    ("EX06", "Malignancy or prior cytotoxic chemotherapy or radiotherapy",
     _mh("malignancy_or_cytotoxic_treatment_history")),
    ("EX07", "Heart disease within one year", _mh("heart_disease_within_1y")),
    ("EX08", "Thrombosis or significant risk factors", _mh("thrombosis_history_or_risk")),
    ("EX09", "GI disease with bleeding risk, acute infection or respiratory pathology",
     _mh("gi_bleeding_risk_or_acute_infection_or_respiratory_disease")),
    ("EX10", "ALT or AST more than {c.alt_ast_max_uln:g} x ULN",
     _uln_rule(("alt", "ast"), "alt_ast_max_uln")),
    ("EX11", "Creatinine more than {c.creatinine_max_uln:g} x ULN for age and sex",
     _uln_rule(("creatinine",), "creatinine_max_uln")),
    ("EX12", "Decompensated disease or acute condition", _mh("decompensated_disease")),
    ("EX13", "HIV, hepatitis B (HBsAg, or HBcAb with HBV-DNA) or hepatitis C (HCV-RNA) positive",
     _ex13),
    ("EX14", "Severe allergy history", _mh("severe_allergy")),
    ("EX15", "Pregnancy or lactation", _ex15),
    ("EX16", "Mental illness or addiction", _mh("mental_illness_or_addiction")),
    ("EX17", "Poor compliance expected", _mh("poor_compliance_expected")),
    ("EX18", "Another clinical trial within the {c.other_trial_washout_days} days before "
     "screening", _ex18),
    ("EX19", "Other reason (investigator)", _ex19),
)

CRITERION_CODES: tuple[str, ...] = tuple(code for code, _, _ in _RULES)
"""Every criterion code, in protocol order."""


# ---------------------------------------------------------------- checklist and result


def _answer(checklist: Form | None, code: str) -> str | None:
    """The checklist's yes/no for a code (booleans accepted), None when not answered."""
    value = ((checklist or {}).get("answers") or {}).get(code)
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return value.strip().lower()
    return None


def _discrepancies(
    criteria: Sequence[Criterion], status: str, failing: Sequence[str], checklist: Form | None
) -> list[Discrepancy]:
    found = []
    for c in criteria:
        answer = _answer(checklist, c.code)
        if c.source != COMPUTED or c.status == UNKNOWN or answer is None:
            continue
        attested = MET if (answer == "yes") == c.code.startswith("IN") else NOT_MET
        if attested != c.status:
            found.append(Discrepancy(
                c.code, answer, c.status,
                f"Checklist answers {answer} ({attested}) but the data say {c.status}: {c.detail}",
                _ids(checklist) + c.entries))
    confirms = (checklist or {}).get("investigator_confirms_eligible")
    if confirms is False and status == ELIGIBLE:
        found.append(Discrepancy("INV", "no", ELIGIBLE, "Investigator does not confirm "
                                 "eligibility but every criterion is met.", _ids(checklist)))
    if confirms is True and status == INELIGIBLE:
        found.append(Discrepancy("INV", "yes", INELIGIBLE, "Investigator confirms eligibility "
                                 f"but criteria not met: {', '.join(failing)}.", _ids(checklist)))
    return found


def evaluate_eligibility(
    inputs: EligibilityInputs, *, config: TrialConfig = DEFAULT_TRIAL
) -> EligibilityResult:
    """Decide every criterion from the screening data and the checklist, to gate enrollment.

    A criterion's `met` means the subject passes it: for an exclusion EXnn, `met` is "the
    excluding condition is absent" and `not_met` is "excluded". Status is `ineligible` when any
    criterion is not met (codes in `failing`), else `incomplete` when any is unknown, else
    `eligible`. Discrepancies compare the checklist with computed criteria that are not unknown.
    """
    criteria = []
    for code, label, rule in _RULES:
        verdict = rule(inputs, config)
        source = ATTESTED if code == "EX19" else COMPUTED
        criteria.append(Criterion(code, label.format(c=config), verdict.status, source,
                                  verdict.detail, verdict.entries))
    failing = tuple(c.code for c in criteria if c.status == NOT_MET)
    if failing:
        status = INELIGIBLE
    elif any(c.status == UNKNOWN for c in criteria):
        status = INCOMPLETE
    else:
        status = ELIGIBLE
    found = _discrepancies(criteria, status, failing, inputs.ie_checklist)
    return EligibilityResult(status, tuple(criteria), tuple(found), failing)

"""Treatment forms (crf-spec.md "Treatment"): leukapheresis, lymphodepletion, CAR-T infusion.

Dose checks against the protocol (flags, not refusals) and "no second infusion" need the trial
settings or the subject's history, so they live in the projections and the command layer.
"""

from __future__ import annotations

from . import fields as f
from .fields import FormSchema

WEIGHT_KG = (10, 250)


class LeukapheresisSchema(FormSchema):
    """The cell collection for manufacturing."""

    visit = f.visit_code()
    procedure_date = f.date("date of leukapheresis", required=True)
    blood_volume_processed_l = f.measure("L", 0, 50, description="blood volume processed")
    complications = f.string("complications", max_length=f.LONG_TEXT)


class LymphodepletionSchema(FormSchema):
    """One day of lymphodepleting chemotherapy (one entry per day)."""

    visit = f.visit_code()
    administered_on = f.date("day of administration", required=True)
    height_cm = f.measure("cm", 50, 230, required=True, description="height")
    weight_kg = f.measure("kg", *WEIGHT_KG, required=True, description="weight")
    # upper bounds far above any protocol dose: they only refuse what cannot be a dose
    fludarabine_mg = f.measure(
        "mg", 0, 500, required=True, description="fludarabine given that day (0 when none)"
    )
    cyclophosphamide_mg = f.measure(
        "mg", 0, 20000, required=True,
        description="cyclophosphamide given that day (0 when none)"
    )


class CarTInfusionSchema(FormSchema):
    """The CAR-T infusion; its date is day 0 of the schedule."""

    visit = f.visit_code()
    infused_at = f.datetime("time of infusion (day 0 is its date)", required=True)
    product_lot = f.string("product lot number", required=True)
    dose_cells_per_kg = f.measure(
        "CAR+ cells/kg",
        0,
        1e10,
        min_inclusive=False,
        required=True,
        description="dose of CAR+ cells per kg (e.g. 1.0e6)",
    )
    weight_kg = f.measure("kg", *WEIGHT_KG, required=True, description="weight used for dosing")
    infusion_reaction = f.boolean("infusion reaction")

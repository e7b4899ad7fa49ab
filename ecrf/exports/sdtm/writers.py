"""Write SDTM datasets: SAS transport v5 (pyreadstat) and CDISC Dataset-JSON 1.1.

Both carry the same declared metadata: the variable names (upper case, <= 8), labels (<= 40),
types (Char, or Num as SAS doubles) and, for Char, the length (the longest value, at least 1,
at most 200).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import datetime
from typing import Any

import pandas as pd
import pyreadstat

from ecrf.exports.odm_xml import MDV_OID, SOFTWARE_VERSION, STUDY_OID, stamp
from ecrf.exports.sdtm.build import Dataset
from ecrf.exports.sdtm.model import Variable

MAX_CHAR = 200
DATASET_JSON_VERSION = "1.1.0"


def is_integer(variable: Variable) -> bool:
    """Num variables holding whole numbers: sequence numbers, study days, age, TSSEQ."""
    return variable.numeric and (variable.name.endswith(("SEQ", "DY")) or variable.name == "AGE")


def char_length(dataset: Dataset, variable: Variable) -> int:
    """The declared length of a variable: 8 for Num; for Char the longest value in UTF-8 bytes
    (what SAS transport stores), at least 1."""
    if variable.numeric:
        return 8
    return max([1, *(len(str(row[variable.name]).encode("utf-8")) for row in dataset.rows
                     if row.get(variable.name) is not None)])


def _cell(variable: Variable, value: Any) -> Any:
    if variable.numeric:
        return None if value is None else float(value)
    text = "" if value is None else str(value)
    if len(text.encode("utf-8")) > MAX_CHAR:  # build.py moves the rest to SUPP--
        raise ValueError(f"{variable.name}: a value longer than {MAX_CHAR} characters")
    return text


def xpt_bytes(dataset: Dataset) -> bytes:
    """The dataset as a SAS transport (XPORT) version 5 file."""
    variables = dataset.domain.variables
    frame = pd.DataFrame({v.name: pd.Series([_cell(v, row.get(v.name)) for row in dataset.rows],
                                            dtype="float64" if v.numeric else "object")
                          for v in variables})
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"{dataset.name.lower()}.xpt")
        pyreadstat.write_xport(frame, path, file_label=dataset.domain.label[:40],
                               column_labels={v.name: v.label for v in variables},
                               table_name=dataset.name, file_format_version=5)
        with open(path, "rb") as handle:
            return handle.read()


def item_oid(dataset: Dataset, variable: Variable) -> str:
    """The Define-XML ItemDef OID of a dataset's variable."""
    return f"IT.{dataset.name}.{variable.name}"


def dataset_json(dataset: Dataset, created: datetime, last_modified: datetime | None) -> bytes:
    """The dataset as CDISC Dataset-JSON 1.1 (columns with OIDs matching define.xml)."""
    variables = dataset.domain.variables
    keys = {name: n for n, name in enumerate(dataset.domain.keys, 1)}
    columns = []
    for v in variables:
        column: dict[str, Any] = {
            "itemOID": item_oid(dataset, v), "name": v.name, "label": v.label,
            "dataType": ("integer" if is_integer(v) else "double") if v.numeric else "string",
            "length": char_length(dataset, v)}
        if v.numeric:
            del column["length"]
        if v.name in keys:
            column["keySequence"] = keys[v.name]
        columns.append(column)
    rows = [[_json_cell(v, row.get(v.name)) for v in variables] for row in dataset.rows]
    document = {
        "datasetJSONCreationDateTime": stamp(created),
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"DSJ.{STUDY_OID}.{dataset.name}.{uuid.uuid4().hex}",
        **({"dbLastModifiedDateTime": stamp(last_modified)} if last_modified else {}),
        "originator": "ecrf", "sourceSystem": {"name": "ecrf", "version": SOFTWARE_VERSION},
        "studyOID": STUDY_OID, "metaDataVersionOID": f"{MDV_OID}.SDTM",
        "metaDataRef": "define.xml", "itemGroupOID": f"IG.{dataset.name}",
        "records": len(rows), "name": dataset.name, "label": dataset.domain.label,
        "columns": columns, "rows": rows,
    }
    return json.dumps(document, ensure_ascii=False, indent=None).encode("utf-8")


def _json_cell(variable: Variable, value: Any) -> Any:
    if variable.numeric:
        if value is None:
            return None
        return int(value) if is_integer(variable) else float(value)
    return _cell(variable, value)

"""The SDTM submission package: every dataset as XPT v5 and Dataset-JSON 1.1, plus define.xml."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from ecrf.exports.sdtm.build import SdtmPackage
from ecrf.exports.sdtm.define import build_define
from ecrf.exports.sdtm.writers import dataset_json, xpt_bytes

ZIP_NAME = "sdtm.zip"


def package_files(package: SdtmPackage) -> dict[str, bytes]:
    """File name -> content: ``dm.xpt``, ``dm.json``, ... and ``define.xml``."""
    files: dict[str, bytes] = {}
    for dataset in package.datasets.values():
        base = dataset.name.lower()
        files[f"{base}.xpt"] = xpt_bytes(dataset)
        files[f"{base}.json"] = dataset_json(dataset, package.created_at,
                                                   package.last_modified)
    files["define.xml"] = build_define(package)
    return files


def package_zip(package: SdtmPackage) -> bytes:
    """The package's files in one zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in package_files(package).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def write_package(package: SdtmPackage, folder: Path,
                  progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write the package's files into a folder; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in package_files(package).items():
        path = folder / name
        path.write_bytes(data)
        written.append(path)
        if progress is not None:
            progress(1)
    return written

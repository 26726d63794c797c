"""Exports of a finished session: :func:`export_csv` (plain CSV + JSON) and
:func:`export_bids` (a BIDS motion dataset). Both take a
:class:`~sensorhub.store.model.SessionData`, whatever its origin (recording, import,
simulator), so an export of a replayed recording shows what the live run detected.
"""

from __future__ import annotations

from sensorhub.store.export_bids import export_bids
from sensorhub.store.export_csv import export_csv

__all__ = ["FORMATS", "export_bids", "export_csv"]

#: Format name -> writer, as the ``export`` command offers them.
FORMATS = {"csv": export_csv, "bids": export_bids}

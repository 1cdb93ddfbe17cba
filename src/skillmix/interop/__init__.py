"""Runs made with the reference SKILL-MIX code: read, re-score and write its folder layout (docs/interop.md).

- ``reference_layout``: the reference's folders and CSV files (names, columns, reading, writing cells);
- ``mapping``: one reference row and its graded copies as a skillmix generation record, both readings kept;
- ``importer``: ``skillmix import reference`` (a reference tree -> skillmix evaluation folders);
- ``exporter``: ``skillmix export reference`` (skillmix evaluation folders -> the reference layout).
"""

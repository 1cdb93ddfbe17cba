"""Human annotation of evaluated texts: ``skillmix annotate`` (docs/annotation.md).

sample.py draws the texts, session.py shows them as the grader saw them and saves
labels, server.py serves the page, export.py writes the offline page, importers.py
reads labels made elsewhere. The file format lives in skillmix.formats.annotations.
"""

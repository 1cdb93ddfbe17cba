"""The versioned artifacts skillmix writes and reads (samples.jsonl, results.json, stats.json, report.json)."""

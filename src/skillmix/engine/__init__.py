"""Running models: inspect_ai tasks, evaluations, teacher-data generation and the embedded server."""

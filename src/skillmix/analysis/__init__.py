"""Reading finished evaluations: reports, analyses and grader audits. Never calls a model."""

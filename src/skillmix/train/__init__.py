"""Fine-tuning a student on D_SKILL-MIX(k) with TRL, loss on the answers only (docs/training.md)."""

"""``python -m skillmix`` (also what ``accelerate launch -m skillmix train`` runs)."""

from skillmix.cli import main

main()

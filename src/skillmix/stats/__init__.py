"""Statistics on library code (scipy.stats, statsmodels, krippendorff): intervals, exact tests, agreement."""

"""The star rating (五星党组织创评): rubrics, campaigns, live scores, appeals, quotas and the ledger."""

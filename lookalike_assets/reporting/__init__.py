"""Charts and reports for people: PNG charts (embedded in Dagster metadata) and HTML reports."""

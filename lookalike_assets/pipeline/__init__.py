"""Per-tenant steps that join the domain logic to the database. No Dagster here: the assets in
``lookalike_assets.defs`` call these, and so do the CLI and the benchmarks."""

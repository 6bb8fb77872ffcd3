"""The studio: lookalike's web app for growth teams, served at ``/studio`` by the API's process."""

"""HTML pages of the alerts area (SPEC §11 "Pages"): current alerts, incidents, silences,
rules and channels. They call the same services as the JSON API, never the API itself."""

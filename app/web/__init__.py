"""The server-rendered UI: HTML only, same services as the API, htmx for live parts."""

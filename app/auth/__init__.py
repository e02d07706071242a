"""Who is calling: API tokens and scopes, the one bearer / cookie / CSRF path, browser
sessions and the sign-in pages."""

"""Runbooks: the catalog, runs and the workflow gateway, the execute form."""

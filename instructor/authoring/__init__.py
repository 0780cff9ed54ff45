"""Authoring: scaffolding, sync, release, the catalogue, the student kit, proving a notebook."""

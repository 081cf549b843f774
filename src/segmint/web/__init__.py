"""Web pages served at / (the full UI arrives with its own issue)."""

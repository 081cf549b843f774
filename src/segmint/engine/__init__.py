"""The engine: leads, segments, lists and their queries. Never imports the web or API layers."""

"""`segmint bench`: reproducible data, a fixed suite of segment queries, honest numbers."""

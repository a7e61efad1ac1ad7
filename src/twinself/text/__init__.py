"""Plain-text rules shared by every layer: sentence boundaries and numbers as written."""

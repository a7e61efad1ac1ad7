"""Values the provider tests share with their fixtures."""

# Distinctive, so a test can assert it never shows up in an error message.
API_KEY = "sk-test-4f9a1c-never-print-me"
# Short enough to keep timeout tests fast, long enough for a loaded machine to answer.
TIMEOUT_SECONDS = 0.5
MAX_RETRIES = 2

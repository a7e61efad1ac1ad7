"""What tests share that is not a fixture: helpers, builders, process wrappers and type aliases.

No module here is named `test_*`, so pytest never collects one; fixtures stay in conftest files.
"""

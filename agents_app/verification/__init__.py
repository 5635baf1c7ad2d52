"""Running generated code safely: a bubblewrap sandbox (`sandbox`) and the checks run in it (`checks`).

A library: no models, no engine imports. The engine calls `checks.run_checks(files)` and records the report.
"""

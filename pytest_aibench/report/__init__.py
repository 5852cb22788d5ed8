"""Everything that turns results into files and tables. Nothing here imports pytest, so the
``aibench`` command and third-party tools can reuse it."""

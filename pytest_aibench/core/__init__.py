"""The ground floor: the vocabulary every other part shares (a suite's typed model and its cases, a
measured result, what a metric means, where manifest keys sit in their file). Imports nothing above it."""

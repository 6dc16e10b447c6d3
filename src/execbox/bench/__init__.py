"""Benchmarks and the soak: ``execbox bench`` (:mod:`.table`), ``execbox soak`` (:mod:`.soak`)."""

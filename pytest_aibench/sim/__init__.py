"""Simulated edge-cloud topologies: node profiles, links and the time they cost, seeded.

Everything here is deterministic for a seed: compute time comes from a model's counted FLOPs and a
node's sustained GFLOP/s, transfer time from payload bytes and the link model. Measured host times
are reported beside these, never mixed into them."""

"""Generative models: decoders that keep a KV cache, their runtimes, and the loop that times them.

A decoder is driven token by token, so its numbers are MLPerf's LLM figures, not one call's latency:
time to first token (the prompt's prefill plus the first pick), time per output token, tokens/s, the
KV cache's bytes. The pieces: :mod:`.arch` (GPT-2- and Llama-style networks in torch, built inside
functions so importing this package imports no torch), :mod:`.decoding` (the :class:`Decoder` protocol
every runtime's session offers, and greedy generation with its clock), :mod:`.torch_decoder` and
:mod:`.ort_decoder` (the two runtimes), :mod:`.published` (published configurations, counted)."""

"""Low-altitude and mobility supervision: decoders, tracks, zones, conflicts, alerts.

Decoders turn raw feeds into batches of the normalised report record
(:mod:`kongtian.model.report`).
"""

"""Records that cross domain boundaries (position reports, alerts, job status).

Empty until the traffic and platform issues land; the space engine's results are
``xarray`` datasets and structure-of-arrays classes owned by ``kongtian.space``.
"""

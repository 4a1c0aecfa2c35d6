"""csceval: impact and value-for-money evaluation of English children's social care reforms.

The library behind the Snakemake workflow in this repository. Stages, in data-flow order:
``csceval.simulate`` (synthetic LA returns), ``csceval.ingest`` (read and validate returns),
``csceval.panel`` (tidy LA x period x outcome panel), ``csceval.design`` (treatment timing and
comparison pools), ``csceval.did`` (estimators), ``csceval.disclosure`` and ``csceval.report``
(publication-safe tables and figures).
"""

__version__ = "0.1.0"

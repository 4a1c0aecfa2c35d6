"""Evaluation designs: treatment timing, comparison pools, balance."""

from csceval.design.timing import estimation_sample, first_period_containing, treatment_timing

__all__ = ["estimation_sample", "first_period_containing", "treatment_timing"]

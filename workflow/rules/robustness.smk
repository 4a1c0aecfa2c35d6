# Sensitivity of the LA-level estimates: HonestDiD bounds, leave-one-treated-LA-out, placebo-in-time.

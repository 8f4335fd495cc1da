"""The engine layer: statistical machinery beneath ``measure`` and ``models``.

It imports only the foundation (``errors``, ``_results``, ``schema``) and never a
stage above it.

* :mod:`.mixed` – ``fit_mixed`` / ``MixedResult``: linear and generalized mixed models
  in lme4's syntax (the engine package behind it is imported only there and in
  :mod:`.profile`, the profile-likelihood intervals of the variance parameters);
* :mod:`.anova` – likelihood-ratio tests between nested models (``ua.anova``);
* :mod:`.design` – lme4 formulas read as R reads them: the design matrices, names
  and expansions behind ``fit_mixed`` (built with formulaic, with R's rules);
* :mod:`.mme` – Henderson's mixed-model equations of a fitted model, solved by exact
  elimination of diagonal blocks (one after another) and a dense or sparse factor of
  the rest, and the Kackar–Harville term;
* :mod:`.threads` – the one rule for BLAS threads;
* :mod:`.robust` – cluster-robust covariance (CR2, CR1), Bell–McCaffrey degrees of
  freedom, the two-way within transformation and the method-of-moments slope
  corrected for measurement error (used by the link);
* :mod:`.ranks` – rank intervals: how uncertain an order of estimates is.
"""

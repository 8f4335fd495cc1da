# Reference values for tests/test_formula_r.py: R's model.matrix and lme4 on the
# formulas researchers type (issue #18), so fit_mixed must give R's model, names and
# estimates for each rule.
#
# Regenerate (from the repository root):
#     Rscript tests/reference/formula_reference.R
#
# Factor levels are sorted in the C locale (LC_COLLATE=C: by code point, "C" < "a"),
# the order fit_mixed uses; R in another locale sorts case-insensitively (and a, b, C).
#
# The script simulates one seeded data set of pupils in classes in schools and writes
# it to formula_data.csv (values rounded, so the CSV is exactly what was fitted); it
# then reads it back and writes:
#   formula_colnames.csv   formula, colnames of model.matrix (joined by "|")
#   formula_fit.csv        model, formula, family, reml, criterion (REMLcrit for REML,
#                          deviance for ML, -2 logLik for glmer), logLik, AIC, nobs,
#                          sigma, lme4 version
#   formula_fixef.csv      model, term, estimate, std_error
#   formula_varcorr.csv    model, grp, var1, var2, vcov, sdcor (as.data.frame(VarCorr))
#   formula_ngrps.csv      model, grp, n
#   formula_counts.csv     passed/failed per school and sex (the cbind() model's data)
#   formula_anova.csv      anova(m0, m1) of two nested LMMs (refitted with ML by lme4)
#   formula_profile.csv    model, parm, lower, upper: confint(method = "profile") of the
#                          SDs and correlations (lme4 profiles the ML deviance, also of
#                          a REML fit)
#
# (sex || school) is lme4's (1 | school) + (0 + sex | school): the intercept's variance
# and the common part of the sex block are one quantity in two parameters, so only the
# covariance they imply for a school's girls and boys is identified (the test compares
# that, plus criterion and fixed effects); (0 + x + sex || school) has no such ridge.

suppressPackageStartupMessages(library(lme4))
invisible(Sys.setlocale("LC_COLLATE", "C"))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"
RNGkind("Mersenne-Twister", "Inversion", "Rejection")

# --- data ---------------------------------------------------------------------
set.seed(20261202)
n_school <- 40
n_class <- 2
n_pupil <- 14
rows <- list()
for (s in seq_len(n_school)) {
  u0 <- rnorm(1, sd = 0.5)
  u_x <- rnorm(1, sd = 0.2)
  u_sex <- rnorm(2, sd = c(0.5, 0.5))
  for (k in seq_len(n_class)) {
    v <- rnorm(1, sd = 0.3)
    n <- n_pupil
    sex <- sample(c("M", "F"), n, replace = TRUE)
    f <- sample(c("b", "a", "C"), n, replace = TRUE)
    x <- round(rnorm(n), 3)
    z <- round(exp(rnorm(n, sd = 0.5)), 3)
    w <- round(rnorm(n, mean = 50, sd = 10), 1)
    year <- sample(2019:2022, n, replace = TRUE)
    o <- round(runif(n, 0, 0.5), 3)
    fe <- c(a = 0, b = 0.4, C = -0.3)[f]
    sx <- ifelse(sex == "F", u_sex[1], u_sex[2])
    slope <- ifelse(sex == "F", 0.5, 0.2)
    eta <- 1 + u0 + v + sx + (slope + u_x) * x + 0.15 * x^2 + fe + 0.3 * log(z) +
      0.02 * (w - 50) + 0.1 * (year - 2019) + o
    y <- round(eta + rnorm(n, sd = 0.8), 3)
    lp <- -0.3 + 0.6 * x + ifelse(sex == "F", 0.4, 0) + u0
    pass <- rbinom(n, 1, plogis(lp))
    count <- rpois(n, exp(0.5 + 0.3 * x + u0 / 2 + ifelse(sex == "F", 0.2, 0)))
    rows[[length(rows) + 1]] <- data.frame(
      school = sprintf("S%02d", s), class = sprintf("K%d", k), sex = sex,
      girl = sex == "F", f = f, x = x, z = z, w = w, year = year, o = o, y = y,
      pass = pass, count = count)
  }
}
d <- do.call(rbind, rows)
path <- file.path(out_dir, "formula_data.csv")
write.csv(d, path, row.names = FALSE)
d <- read.csv(path, stringsAsFactors = TRUE)
d$girl <- as.logical(d$girl)

# --- model.matrix column names ---------------------------------------------------
colname_formulas <- c(
  "~ sex:x", "~ sex + sex:x", "~ x + sex:x", "~ 0 + sex", "~ x - 1 + f",
  "~ f * sex", "~ x:f + sex", "~ girl + x", "~ f:sex + x", "~ 0 + f:sex",
  "~ x * z * sex", "~ sex:f:x + f", "~ f:x + x + f", "~ x + f + f:x",
  "~ poly(x, 2) + scale(w) + I(x^2) + log(z) + factor(year)",
  "~ C(f, contr.sum) + x", "~ 0 + x + f + sex", "~ f:sex")
colnames_out <- data.frame(
  formula = colname_formulas,
  colnames = vapply(colname_formulas, function(f)
    paste(colnames(model.matrix(as.formula(f), d)), collapse = "|"), ""),
  row.names = NULL)
write.csv(colnames_out, file.path(out_dir, "formula_colnames.csv"), row.names = FALSE)

# --- fits ---------------------------------------------------------------------------
models <- list(
  int_no_main = list(f = "y ~ sex:x + (1 | school)"),
  int_main = list(f = "y ~ sex + sex:x + (1 | school)"),
  zero_plus = list(f = "y ~ 0 + f + x + (1 | school)"),
  minus_one = list(f = "y ~ x + f - 1 + (1 | school)"),
  re_interaction = list(f = "y ~ x + (x:sex | school)"),
  re_own_order = list(f = "y ~ sex + x + (0 + x:sex | school)"),
  corr_slope = list(f = "y ~ x + (1 + x | school)"),
  double_bar_factor = list(f = "y ~ sex + x + (sex || school)"),
  double_bar_mixed = list(f = "y ~ x + sex + (0 + x + sex || school)"),
  names_order = list(f = "y ~ f:x + girl + x + f + (1 | school)"),
  nested = list(f = "y ~ x + (1 | school/class)"),
  transforms_a = list(f = "y ~ poly(x, 2) + log(z) + factor(year) + (1 | school)"),
  transforms_b = list(f = "y ~ I(x^2) + scale(w) + sqrt(z) + exp(x/4) + offset(o) + (1 | school)"),
  contrasts_sum = list(f = "y ~ f + x + (1 | school)", contrasts = list(f = "contr.sum")),
  c_sum = list(f = "y ~ C(f, contr.sum) + x + (1 | school)"),
  ml = list(f = "y ~ sex * x + (1 | school)", reml = FALSE),
  binomial = list(f = "pass ~ x + sex + (1 | school)", family = "binomial"),
  binomial_cbind = list(f = "cbind(passed, failed) ~ sex + (1 | school)", family = "binomial"),
  poisson = list(f = "count ~ x + sex + (1 | school)", family = "poisson")
)

# successes and failures per school and sex (glmer's cbind() outcome)
agg <- aggregate(pass ~ school + sex, d, function(v) c(sum(v), sum(1 - v)))
counts <- data.frame(school = agg$school, sex = agg$sex, passed = agg$pass[, 1],
                     failed = agg$pass[, 2])
write.csv(counts, file.path(out_dir, "formula_counts.csv"), row.names = FALSE)
counts <- read.csv(file.path(out_dir, "formula_counts.csv"), stringsAsFactors = TRUE)

fit_rows <- list(); fixef_rows <- list(); vc_rows <- list(); ng_rows <- list()
for (name in names(models)) {
  m <- models[[name]]
  reml <- if (is.null(m$reml)) TRUE else m$reml
  if (is.null(m$family)) {
    fit <- if (is.null(m$contrasts)) lmer(as.formula(m$f), d, REML = reml)
           else lmer(as.formula(m$f), d, REML = reml, contrasts = m$contrasts)
    crit <- if (reml) REMLcrit(fit) else deviance(fit)
    sig <- sigma(fit)
    fam <- "gaussian"
  } else {
    fit <- glmer(as.formula(m$f), if (grepl("cbind", m$f)) counts else d, family = m$family)
    crit <- -2 * as.numeric(logLik(fit))
    sig <- NA
    fam <- m$family
    reml <- FALSE
  }
  fit_rows[[name]] <- data.frame(
    model = name, formula = m$f, family = fam, reml = reml, criterion = crit,
    logLik = as.numeric(logLik(fit)), AIC = AIC(fit), nobs = nobs(fit), sigma = sig,
    lme4 = as.character(packageVersion("lme4")))
  fixef_rows[[name]] <- data.frame(
    model = name, term = names(fixef(fit)), estimate = unname(fixef(fit)),
    std_error = unname(sqrt(diag(as.matrix(vcov(fit))))))
  vc <- as.data.frame(VarCorr(fit))
  vc_rows[[name]] <- data.frame(model = name, vc)
  ng <- ngrps(fit)
  ng_rows[[name]] <- data.frame(model = name, grp = names(ng), n = unname(ng))
}
write.csv(do.call(rbind, fit_rows), file.path(out_dir, "formula_fit.csv"), row.names = FALSE)
write.csv(do.call(rbind, fixef_rows), file.path(out_dir, "formula_fixef.csv"), row.names = FALSE)
write.csv(do.call(rbind, vc_rows), file.path(out_dir, "formula_varcorr.csv"), row.names = FALSE)
write.csv(do.call(rbind, ng_rows), file.path(out_dir, "formula_ngrps.csv"), row.names = FALSE)

# --- likelihood-ratio test between nested models (lme4 refits REML fits with ML) ------
m0 <- lmer(y ~ x + (1 | school), d)
m1 <- lmer(y ~ x + sex + f + (1 | school), d)
a <- anova(m0, m1)
write.csv(data.frame(model = c("m0", "m1"), npar = a$npar, AIC = a$AIC, BIC = a$BIC,
                     logLik = a$logLik, deviance = a$deviance, Chisq = a$Chisq,
                     Df = a$Df, p = a[["Pr(>Chisq)"]]),
          file.path(out_dir, "formula_anova.csv"), row.names = FALSE)

# --- profile confidence intervals of the standard deviations --------------------------
prof_rows <- list()
for (name in c("nested", "int_main", "ml", "corr_slope")) {
  m <- models[[name]]
  reml <- if (is.null(m$reml)) TRUE else m$reml
  fit <- lmer(as.formula(m$f), d, REML = reml)
  ci <- confint(fit, parm = "theta_", method = "profile", oldNames = FALSE)
  prof_rows[[name]] <- data.frame(model = name, parm = rownames(ci), lower = ci[, 1],
                                  upper = ci[, 2], row.names = NULL)
}
write.csv(do.call(rbind, prof_rows), file.path(out_dir, "formula_profile.csv"),
          row.names = FALSE)

# Reference values for tests/test_mixed.py, produced by R's lme4.
#
# Regenerate (from the repository root):
#     Rscript tests/reference/lme4_reference.R
#
# The script first simulates three small, seeded data sets and writes them to
# tests/reference/lme4_data_*.csv (scores rounded to 3 decimals, so the CSV is
# exactly what was fitted); it then reads the CSVs back, fits the models with
# lme4 (default lmerControl(), i.e. optimizer "nloptwrap"), and writes:
#     lme4_fit.csv      one row per model: REMLcrit (REML fits) / deviance and
#                       logLik (ML fits), nobs, sigma, singular, lme4 version
#     lme4_fixef.csv    model, term, estimate, std_error (sqrt(diag(vcov)))
#     lme4_varcorr.csv  model, grp, var1, var2, vcov, sdcor  (as.data.frame(VarCorr))
#     lme4_ranef.csv    model, grpvar, term, grp, condval, condsd (ranef(condVar = TRUE))
#
# Models (the formulas are repeated verbatim in tests/test_mixed.py):
#   growth     score ~ time + (1 + time | school) + (1 + time | school:teacher)
#   crosslevel y ~ x * z_school + (1 + x | school)
#   crossed    score ~ time + type + (1 | teacher) + (1 | observer) + (1 + time | school)
#   crosslevel_ml      the crosslevel model with REML = FALSE
#   crosslevel_uncorr  y ~ x * z_school + (1 + x || school)   (uncorrelated)
#
# Written with R 4.2.2 and lme4 1.1-31 (see lme4_fit.csv).

suppressPackageStartupMessages(library(lme4))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"

RNGkind("Mersenne-Twister", "Inversion", "Rejection")

mvn2 <- function(n, sd1, sd2, rho) {
  z1 <- rnorm(n)
  z2 <- rnorm(n)
  cbind(sd1 * z1, sd2 * (rho * z1 + sqrt(1 - rho^2) * z2))
}

write_data <- function(d, name) {
  path <- file.path(out_dir, paste0("lme4_data_", name, ".csv"))
  write.csv(d, path, row.names = FALSE)
  path
}

# --- (a) growth: teachers nested in schools, six terms each -----------------
set.seed(20240501)
n_school <- 30
n_teacher <- 4
times <- 0:5
u_s <- mvn2(n_school, 0.40, 0.08, 0.3)
growth <- do.call(rbind, lapply(seq_len(n_school), function(s) {
  u_t <- mvn2(n_teacher, 0.50, 0.12, -0.2)
  do.call(rbind, lapply(seq_len(n_teacher), function(t) {
    data.frame(
      school = sprintf("S%02d", s),
      teacher = sprintf("T%d", t),        # labels repeat across schools
      time = times,
      score = 2.5 + u_s[s, 1] + u_t[t, 1] + (0.10 + u_s[s, 2] + u_t[t, 2]) * times +
        rnorm(length(times), sd = 0.30)
    )
  }))
}))
growth$score <- round(growth$score, 3)
invisible(write_data(growth, "growth"))

# --- (b) cross-level interaction: pupils in schools --------------------------
set.seed(20240502)
n_school <- 40
n_pupil <- 15
z <- round(rnorm(n_school), 3)
u <- mvn2(n_school, 0.50, 0.25, 0.4)
crosslevel <- do.call(rbind, lapply(seq_len(n_school), function(s) {
  x <- round(rnorm(n_pupil), 3)
  data.frame(
    school = sprintf("S%02d", s),
    z_school = z[s],
    x = x,
    y = 0.2 + 0.5 * x + 0.3 * z[s] + 0.2 * x * z[s] + u[s, 1] + u[s, 2] * x +
      rnorm(n_pupil, sd = 1)
  )
}))
crosslevel$y <- round(crosslevel$y, 3)
invisible(write_data(crosslevel, "crosslevel"))

# --- (c) crossed: teachers in schools, observers across schools ---------------
set.seed(20240503)
n_school <- 20
n_teacher <- 5
n_external <- 10
terms <- 0:5
types <- c("spontan", "planerad", "kollegial")
type_eff <- c(spontan = 0, planerad = 0.15, kollegial = -0.05)
principals <- sprintf("R%02d", seq_len(n_school))      # one principal per school
externals <- sprintf("E%02d", seq_len(n_external))      # observers who visit any school
obs_eff <- setNames(rnorm(n_school + n_external, sd = 0.25), c(principals, externals))
u_s <- mvn2(n_school, 0.30, 0.05, 0.2)
rows <- list()
k <- 0
for (s in seq_len(n_school)) {
  for (t in seq_len(n_teacher)) {
    teacher <- sprintf("L%03d", (s - 1) * n_teacher + t)
    u_t <- rnorm(1, sd = 0.35)
    for (tm in terms) {
      n_obs <- sample(1:3, 1)
      for (j in seq_len(n_obs)) {
        own <- runif(1) < 0.6
        observer <- if (own) principals[s] else sample(externals, 1)
        type <- sample(types, 1, prob = c(0.5, 0.3, 0.2))
        k <- k + 1
        rows[[k]] <- data.frame(
          school = sprintf("S%02d", s), teacher = teacher, observer = observer,
          time = tm, type = type,
          score = 2.8 + u_s[s, 1] + (0.05 + u_s[s, 2]) * tm + type_eff[[type]] +
            u_t + obs_eff[[observer]] + rnorm(1, sd = 0.45)
        )
      }
    }
  }
}
crossed <- do.call(rbind, rows)
crossed$score <- round(crossed$score, 3)
invisible(write_data(crossed, "crossed"))

# --- fits on the data as read back from CSV -----------------------------------
read_data <- function(name) {
  read.csv(file.path(out_dir, paste0("lme4_data_", name, ".csv")),
           colClasses = c(school = "character"), stringsAsFactors = FALSE)
}
growth <- read_data("growth")
crosslevel <- read_data("crosslevel")
crossed <- read_data("crossed")

fits <- list(
  growth = lmer(score ~ time + (1 + time | school) + (1 + time | school:teacher),
                data = growth, REML = TRUE),
  crosslevel = lmer(y ~ x * z_school + (1 + x | school), data = crosslevel, REML = TRUE),
  crossed = lmer(score ~ time + type + (1 | teacher) + (1 | observer) + (1 + time | school),
                 data = crossed, REML = TRUE),
  crosslevel_ml = lmer(y ~ x * z_school + (1 + x | school), data = crosslevel, REML = FALSE),
  crosslevel_uncorr = lmer(y ~ x * z_school + (1 + x || school), data = crosslevel, REML = TRUE)
)

fit_rows <- list()
fixef_rows <- list()
varcorr_rows <- list()
ranef_rows <- list()
for (name in names(fits)) {
  m <- fits[[name]]
  is_reml <- isREML(m)
  fit_rows[[name]] <- data.frame(
    model = name,
    reml = is_reml,
    REMLcrit = if (is_reml) REMLcrit(m) else NA_real_,
    deviance = if (is_reml) NA_real_ else deviance(m),
    logLik = as.numeric(logLik(m)),
    nobs = nobs(m),
    sigma = sigma(m),
    singular = isSingular(m),
    lme4_version = as.character(packageVersion("lme4")),
    r_version = paste(R.version$major, R.version$minor, sep = ".")
  )
  fe <- fixef(m)
  fixef_rows[[name]] <- data.frame(
    model = name, term = names(fe), estimate = unname(fe),
    std_error = unname(sqrt(diag(as.matrix(vcov(m)))))
  )
  vc <- as.data.frame(VarCorr(m))
  varcorr_rows[[name]] <- data.frame(model = name, vc)
  re <- as.data.frame(ranef(m, condVar = TRUE))
  ranef_rows[[name]] <- data.frame(model = name, re)
}

w <- function(x, file) {
  write.csv(do.call(rbind, x), file.path(out_dir, file), row.names = FALSE)
}
options(digits = 15)
w(fit_rows, "lme4_fit.csv")
w(fixef_rows, "lme4_fixef.csv")
w(varcorr_rows, "lme4_varcorr.csv")
w(ranef_rows, "lme4_ranef.csv")

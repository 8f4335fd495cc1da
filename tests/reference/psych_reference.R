# Reference values for tests/test_agreement.py (rater agreement, issue 4).
#
# Regenerate from the repository root with
#     Rscript tests/reference/psych_reference.R
# It writes, beside this script:
#   psych_sf_ratings.csv       Shrout & Fleiss (1979) Table 2, long format
#   psych_sim_ratings.csv      seeded simulation: 30 targets x 3 raters, scale 1-4
#   psych_simmiss_ratings.csv  the same with four cells missing (3 targets incomplete)
#   psych_pairs_ratings.csv    seeded paired lesson observations: 40 lessons x 3 items,
#                              two observers (from a pool of 5) per lesson, scale 1-4
#                              with category 1 never used, four terms
#   psych_icc_reference.csv    psych::ICC for every dataset (all six forms)
#   psych_gap_ratings.csv      the pairs data with category 2 recoded to 1 (a middle
#                              category never used)
#   psych_kappa_reference.csv  exact/adjacent agreement and Cohen's kappa (psych::cohen.kappa)
#   psych_severity_reference.csv  observer severity (mean deviation) and drift (lm slope)
#
# ICC: psych::ICC(wide, lmer = FALSE), i.e. the two-way ANOVA decomposition. With
# complete data and no variance component on the boundary, psych's default
# lmer = TRUE gives the same numbers up to lme4's optimiser tolerance (9e-7 for sf,
# 9e-5 for sim); the script prints the difference and checks it is below 1e-3. In the
# pairs dataset the rater mean square is below the residual one, lmer truncates the
# rater variance at 0, and psych's default differs by up to 9e-4: the ANOVA values
# (what Shrout & Fleiss define) are the reference.
# For data with missing cells the reference is psych::ICC(na.omit(wide), lmer = FALSE):
# incomplete targets are dropped, which is the package's policy.
#
# Kappa: psych::cohen.kappa(pairs, levels = 1:4) gives the unweighted kappa and its
# variance and the quadratically weighted kappa (its default weights); the linear
# weighted kappa is psych::cohen.kappa with w = 1 - |i - j| / 3. The kappa values are
# also recomputed by hand below (stopifnot). The standard errors of the *weighted*
# kappas are computed by hand with Fleiss, Cohen & Everitt (1969), because
# psych::cohen.kappa's var.weighted uses the row marginal p_j. * sum_k w_jk where the
# formula has sum_i p_i. w_ij (the script prints both). The unweighted variance of
# psych equals Fleiss, Cohen & Everitt and is used directly. (statsmodels'
# cohens_kappa gives the same standard errors as the hand formula; the tests check
# that too.)
#
# Pairs: within each target the raters are sorted by id; every pair (i < j) gives
# one row (x = rating of rater i, y = rating of rater j).

suppressPackageStartupMessages(library(psych))

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"
out <- function(df, name) {
  write.csv(df, file.path(here, name), row.names = FALSE, na = "")
}
cat("psych", as.character(packageVersion("psych")), "\n")

# ---------------------------------------------------------------- datasets
sf <- matrix(c(9, 2, 5, 8,
               6, 1, 3, 2,
               8, 4, 6, 8,
               7, 1, 2, 6,
               10, 5, 6, 9,
               6, 2, 4, 7), ncol = 4, byrow = TRUE)
colnames(sf) <- paste0("J", 1:4)

to_long <- function(wide) {
  data.frame(target = rep(sprintf("t%02d", seq_len(nrow(wide))), times = ncol(wide)),
             rater = rep(colnames(wide), each = nrow(wide)),
             rating = as.vector(wide))
}

set.seed(20240401)
n_t <- 30
true <- rnorm(n_t, 2.5, 0.7)
sev <- c(-0.3, 0, 0.35)
sim <- sapply(sev, function(s) pmin(4, pmax(1, round(true + s + rnorm(n_t, 0, 0.5)))))
colnames(sim) <- c("r1", "r2", "r3")

simmiss <- sim
simmiss[4, 2] <- NA
simmiss[11, 1] <- NA
simmiss[11, 3] <- NA
simmiss[27, 3] <- NA   # this one is left out of the long file entirely (no row)

sf_long <- to_long(sf)
sim_long <- to_long(sim)
simmiss_long <- to_long(simmiss)
simmiss_long <- simmiss_long[!(simmiss_long$target == "t27" & simmiss_long$rater == "r3"), ]
out(sf_long, "psych_sf_ratings.csv")
out(sim_long, "psych_sim_ratings.csv")
out(simmiss_long, "psych_simmiss_ratings.csv")

# Paired lesson observations.
set.seed(7)
terms <- c("HT2022", "VT2023", "HT2023", "VT2024")
term_t <- c(HT2022 = 2022.5, VT2023 = 2023.0, HT2023 = 2023.5, VT2024 = 2024.0)
obs_pool <- sprintf("o%d", 1:5)
obs_sev <- c(o1 = 0.3, o2 = 0, o3 = -0.2, o4 = 0.1, o5 = -0.1)
items <- c("i1", "i2", "i3")
item_eff <- c(i1 = 0.2, i2 = 0, i3 = -0.3)
rows <- list()
for (l in 1:40) {
  pair <- sort(sample(obs_pool, 2))
  term <- terms[(l - 1) %% 4 + 1]
  lesson <- rnorm(1, 0, 0.6)
  for (it in items) {
    for (o in pair) {
      drift <- if (o == "o1") -0.4 * (term_t[[term]] - 2022.5) else 0
      s <- 3 + lesson + item_eff[[it]] + obs_sev[[o]] + drift + rnorm(1, 0, 0.45)
      rows[[length(rows) + 1]] <- data.frame(
        lesson_id = sprintf("L%02d", l), item_id = it, term = term,
        observer_id = o, score = min(4, max(2, round(s))))
    }
  }
}
pairs_long <- do.call(rbind, rows)
out(pairs_long, "psych_pairs_ratings.csv")

# ---------------------------------------------------------------- ICC
icc_ref <- function(wide, name) {
  complete <- na.omit(as.data.frame(wide))
  r <- ICC(complete, lmer = FALSE)
  if (nrow(complete) == nrow(wide)) {
    r_lmer <- suppressMessages(ICC(as.data.frame(wide)))   # psych's default, lmer = TRUE
    # lme4's optimiser stops near, not at, the ANOVA (REML) values; when the
    # rater mean square is below the residual one (MSJ < MSE) lmer sets the rater
    # variance to 0 and the two differ by more.
    d <- max(abs(r$results$ICC - r_lmer$results$ICC))
    ms <- r$stats["MS", ]
    cat(sprintf("%s: max |ICC(lmer = FALSE) - ICC(lmer = TRUE)| = %.2g (MSJ %s MSE)\n",
                name, d, if (ms[2] < ms[3]) "<" else ">="))
    if (ms[2] >= ms[3]) stopifnot(d < 1e-3)
  }
  res <- r$results
  data.frame(dataset = name, type = res$type, icc = res$ICC, f = res$F,
             df1 = res$df1, df2 = res$df2, p = res$p,
             conf_low = res[["lower bound"]], conf_high = res[["upper bound"]],
             n_obs = r$n.obs, n_judge = r$n.judge,
             n_dropped = nrow(wide) - nrow(complete))
}
# raters=None in the package: raters numbered within each target (slot 1, 2)
pairs_slots <- do.call(rbind, lapply(split(pairs_long, list(pairs_long$lesson_id,
                                                               pairs_long$item_id)),
                                     function(d) {
                                       d <- d[order(d$observer_id), ]
                                       data.frame(s1 = d$score[1], s2 = d$score[2])
                                     }))
icc_all <- rbind(icc_ref(sf, "sf"), icc_ref(sim, "sim"), icc_ref(simmiss, "simmiss"),
                 icc_ref(as.matrix(pairs_slots), "pairs"))
out(icc_all, "psych_icc_reference.csv")
print(icc_all[, 1:9], digits = 4)

# ---------------------------------------------------------------- kappa
all_pairs <- function(long, target_cols, rater_col, rating_col) {
  key <- do.call(paste, c(long[target_cols], sep = "\r"))
  res <- list()
  for (k in unique(key)) {
    d <- long[key == k & !is.na(long[[rating_col]]), ]
    d <- d[order(d[[rater_col]]), ]
    if (nrow(d) < 2) next
    for (i in 1:(nrow(d) - 1)) for (j in (i + 1):nrow(d)) {
      res[[length(res) + 1]] <- c(d[[rating_col]][i], d[[rating_col]][j])
    }
  }
  m <- do.call(rbind, res)
  colnames(m) <- c("x", "y")
  m
}

fce_var <- function(p, w) {
  # Fleiss, Cohen & Everitt (1969) large-sample variance of weighted kappa.
  # p: matrix of proportions; w: agreement weights.  Returns variance * n.
  pr <- rowSums(p); pc <- colSums(p)
  po <- sum(w * p); pe <- sum(w * outer(pr, pc))
  wi <- as.vector(w %*% pc)          # wbar_i. = sum_j p.j w_ij
  wj <- as.vector(t(w) %*% pr)       # wbar_.j = sum_i pi. w_ij
  a <- w * (1 - pe) - outer(wi, wj, "+") * (1 - po)
  (sum(p * a^2) - (po * pe - 2 * pe + po)^2) / (1 - pe)^4
}

kappa_ref <- function(m, name, group, levels = 1:4) {
  K <- length(levels)
  wlin <- 1 - abs(outer(seq_len(K), seq_len(K), "-")) / (K - 1)
  wquad <- 1 - abs(outer(seq_len(K), seq_len(K), "-"))^2 / (K - 1)^2
  ck_q <- suppressWarnings(cohen.kappa(m, levels = levels))
  ck_l <- suppressWarnings(cohen.kappa(m, w = wlin, levels = levels))
  n <- nrow(m)
  tab <- table(factor(m[, 1], levels = levels), factor(m[, 2], levels = levels))
  p <- unclass(tab) / n
  hand <- function(w) {
    po <- sum(w * p); pe <- sum(w * outer(rowSums(p), colSums(p)))
    (po - pe) / (1 - pe)
  }
  stopifnot(abs(hand(diag(K)) - ck_q$kappa) < 1e-12,
            abs(hand(wquad) - ck_q$weighted.kappa) < 1e-12,
            abs(hand(wlin) - ck_l$weighted.kappa) < 1e-12,
            abs(fce_var(p, diag(K)) / n - ck_q$var.kappa) < 1e-12)
  cat(sprintf("%s/%s: weighted-kappa variance, FCE 1969 %.6g vs psych %.6g\n", name, group,
              fce_var(p, wquad) / n, ck_q$var.weighted))
  d <- abs(m[, 1] - m[, 2])
  data.frame(dataset = name, group = group, n_pairs = n,
             exact = mean(d == 0), adjacent = mean(d <= 1),
             kappa = ck_q$kappa, kappa_se = sqrt(ck_q$var.kappa),
             kappa_linear = ck_l$weighted.kappa,
             kappa_linear_se = sqrt(fce_var(p, wlin) / n),
             kappa_quadratic = ck_q$weighted.kappa,
             kappa_quadratic_se = sqrt(fce_var(p, wquad) / n))
}

kap <- list(kappa_ref(all_pairs(sim_long, "target", "rater", "rating"), "sim", "Totalt"),
            kappa_ref(all_pairs(simmiss_long, "target", "rater", "rating"), "simmiss", "Totalt"),
            kappa_ref(all_pairs(pairs_long, c("lesson_id", "item_id"), "observer_id", "score"),
                      "pairs", "Totalt"))
for (it in items) {
  kap[[length(kap) + 1]] <- kappa_ref(
    all_pairs(pairs_long[pairs_long$item_id == it, ], c("lesson_id", "item_id"),
              "observer_id", "score"), "pairs", it)
}
# "gap": the pairs data with every 2 recoded to 1, so the middle category 2 is never
# used. With levels = 1:4 the distance between 1 and 3 stays two steps; without levels
# psych would treat {1, 3, 4} as three adjacent categories (reported as group "utan_levels"
# to show that the difference matters).
gap_long <- pairs_long
gap_long$score[gap_long$score == 2] <- 1
out(gap_long[, c("lesson_id", "item_id", "term", "observer_id", "score")],
    "psych_gap_ratings.csv")
gap_pairs <- all_pairs(gap_long, c("lesson_id", "item_id"), "observer_id", "score")
kap[[length(kap) + 1]] <- kappa_ref(gap_pairs, "gap", "Totalt")
no_lev <- suppressWarnings(cohen.kappa(gap_pairs))
kap[[length(kap) + 1]] <- data.frame(
  dataset = "gap", group = "utan_levels", n_pairs = nrow(gap_pairs),
  exact = NA, adjacent = NA, kappa = no_lev$kappa, kappa_se = NA, kappa_linear = NA,
  kappa_linear_se = NA, kappa_quadratic = no_lev$weighted.kappa, kappa_quadratic_se = NA)
kap <- do.call(rbind, kap)
out(kap, "psych_kappa_reference.csv")
print(kap, digits = 4)

# ---------------------------------------------------------------- observer severity
key <- paste(pairs_long$lesson_id, pairs_long$item_id)
tot <- ave(pairs_long$score, key, FUN = sum)
cnt <- ave(pairs_long$score, key, FUN = length)
pairs_long$deviation <- pairs_long$score - (tot - pairs_long$score) / (cnt - 1)
pairs_long$t <- term_t[pairs_long$term]
sev_rows <- lapply(split(pairs_long, pairs_long$observer_id), function(d) {
  fit <- lm(deviation ~ t, data = d)
  data.frame(observer = d$observer_id[1], n_ratings = nrow(d),
             n_targets = length(unique(paste(d$lesson_id, d$item_id))),
             mean_deviation = mean(d$deviation),
             se = sd(d$deviation) / sqrt(nrow(d)),
             n_terms = length(unique(d$term)),
             slope = unname(coef(fit)["t"]),
             slope_se = unname(summary(fit)$coefficients["t", "Std. Error"]))
})
sev_ref <- do.call(rbind, sev_rows)
out(sev_ref, "psych_severity_reference.csv")
print(sev_ref, digits = 4)

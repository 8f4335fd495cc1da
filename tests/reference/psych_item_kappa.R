# Reference values for agreement item by item (issue 17, item 2):
#   Rscript tests/reference/psych_item_kappa.R
#
# Input:  psych_item_pairs.csv  the paired item scores of a synthetic municipality
#         (synth.municipality(seed = 11, n_schools = 8, n_years = 3, effect = 0.3,
#         with_pupils = False, compute_slope = False), made by
#         undervisning_analys.measure.pairs.paired_items; one row per lesson x item x
#         pair of observers, score_a by the observer with the smaller id), scale 1-4.
# Output: psych_item_kappa_reference.csv  per item, per dimension (items pooled) and
#         overall, for all school years and per school year: number of pairs, exact and
#         adjacent agreement, psych::cohen.kappa's unweighted kappa and its standard
#         error sqrt(var.kappa), and its weighted kappa (default quadratic weights).
# The package's weighted-kappa standard error is a jackknife over lessons (pairs of one
# lesson are dependent), so only the unweighted asymptotic SE is a psych reference; the
# tests compare the jackknife SE of a single item with psych's to within 20 %.

suppressPackageStartupMessages(library(psych))
args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"
cat("psych", as.character(packageVersion("psych")), "\n")

d <- read.csv(file.path(here, "psych_item_pairs.csv"), colClasses = c(
  observation_id = "character", item_id = "character", dimension = "character",
  school_year = "character", score_a = "integer", score_b = "integer"))

one <- function(g, level, dimension, item, year) {
  m <- cbind(g$score_a, g$score_b)
  ck <- suppressWarnings(cohen.kappa(m, levels = 1:4))
  data.frame(level = level, dimension = dimension, item_id = item, school_year = year,
             n_pairs = nrow(g),
             exact = mean(g$score_a == g$score_b),
             adjacent = mean(abs(g$score_a - g$score_b) <= 1),
             kappa = ck$kappa, kappa_se = sqrt(ck$var.kappa),
             kappa_weighted = ck$weighted.kappa)
}

rows <- list()
for (year in c("alla läsår", sort(unique(d$school_year)))) {
  dy <- if (year == "alla läsår") d else d[d$school_year == year, ]
  rows[[length(rows) + 1]] <- one(dy, "overall", NA, NA, year)
  for (dim in unique(d$dimension)) {
    dd <- dy[dy$dimension == dim, ]
    rows[[length(rows) + 1]] <- one(dd, "dimension", dim, NA, year)
    for (it in unique(dd$item_id)) {
      rows[[length(rows) + 1]] <- one(dd[dd$item_id == it, ], "item", dim, it, year)
    }
  }
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "psych_item_kappa_reference.csv"), row.names = FALSE, na = "")
cat(nrow(out), "rows written\n")

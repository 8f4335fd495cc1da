# Reference values for engine/robust.py: CR2 standard errors and Bell-McCaffrey
# (Satterthwaite) degrees of freedom from clubSandwich.
# Run from the repository root:
#   python tests/reference/clubsandwich_data.py
#   Rscript tests/reference/clubsandwich_reference.R
# Writes tests/reference/clubsandwich_reference.csv (case, term, estimate, se, df).
suppressPackageStartupMessages(library(clubSandwich))
dir <- "tests/reference"
out <- list()
one <- function(case, fit, cluster, keep = NULL) {
  ct <- coef_test(fit, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  ct <- as.data.frame(ct)
  df_col <- if ("df_Satt" %in% names(ct)) "df_Satt" else "df"
  res <- data.frame(case = case, term = ct$Coef, estimate = ct$beta, se = ct$SE,
                    df = ct[[df_col]], stringsAsFactors = FALSE)
  if (!is.null(keep)) res <- res[res$term %in% keep, ]
  res
}
for (case in c("equal", "unequal")) {
  d <- read.csv(file.path(dir, paste0("clubsandwich_", case, ".csv")))
  fit <- lm(y ~ x1 + x2, data = d)
  out[[case]] <- one(case, fit, d$cluster)
}
d <- read.csv(file.path(dir, "clubsandwich_mundlak.csv"))
rhs <- setdiff(names(d), c("cluster", "y"))
fit <- lm(reformulate(rhs, "y"), data = d)
out[["mundlak"]] <- one("mundlak", fit, d$cluster)
d <- read.csv(file.path(dir, "clubsandwich_twoway.csv"))
fit <- lm(y ~ x + factor(cluster) + factor(school_year), data = d)
out[["twoway"]] <- one("twoway", fit, d$cluster, keep = "x")
res <- do.call(rbind, out)
res$term[res$term == "(Intercept)"] <- "(Intercept)"
write.csv(res, file.path(dir, "clubsandwich_reference.csv"), row.names = FALSE)
cat(sprintf("clubSandwich %s, R %s\n", packageVersion("clubSandwich"), getRversion()))
print(res, digits = 12)

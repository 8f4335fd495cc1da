# Reference values for the teaching-quality index (tests/test_index.py).
#
# Fits the index model with lme4 on index_data.csv (form-level overall scores
# of synth.municipality(seed=11, n_schools=8, n_years=3), written by
# score_forms) and solves Henderson's mixed-model equations from lme4's own
# matrices (X, Z, Lambda, sigma): the index of a school x term at reference
# conditions and its standard error from the joint conditional covariance of
# fixed and random effects (plug-in variance parameters, no Kackar-Harville
# term). This is an implementation independent of the package's.
#
# Run from the repository root:  Rscript tests/reference/index_reference.R
# Written with R 4.x, lme4 >= 1.1-35, Matrix >= 1.6.
suppressPackageStartupMessages({
  library(lme4)
  library(Matrix)
})

here <- "tests/reference"
d <- read.csv(file.path(here, "index_data.csv"),
              colClasses = c(school_id = "character", observation_id = "character",
                             observer_id = "character", teacher_id = "character"))
d$type_planerad <- as.numeric(d$observation_type == "planerad")
d$type_kollegial <- as.numeric(d$observation_type == "kollegial")

fit <- lmer(overall ~ time + type_planerad + type_kollegial + own_school +
              (1 + time | school_id) + (1 | school_term) + (1 | teacher_id) +
              (1 | observer_id) + (1 | observation_id),
            data = d, REML = TRUE,
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))

X <- getME(fit, "X")
Z <- getME(fit, "Z")
Lambda <- getME(fit, "Lambda")
s2 <- sigma(fit)^2
ZL <- Z %*% Lambda
q <- ncol(ZL)
A <- rbind(cbind(crossprod(X), crossprod(X, ZL)),
           cbind(crossprod(ZL, X), crossprod(ZL) + Diagonal(q)))
A <- as.matrix(A)
beta <- fixef(fit)
b <- as.vector(getME(fit, "b"))

# column of (grouping factor, level, component) in Z
cnms <- getME(fit, "cnms")
flist <- getME(fit, "flist")
gp <- getME(fit, "Gp")
fac_of_term <- attr(flist, "assign")
col_of <- function(group, level, comp) {
  i <- which(names(cnms) == group)
  lv <- levels(flist[[fac_of_term[i]]])
  k <- length(cnms[[i]])
  j <- match(level, lv)
  if (is.na(j)) return(NA_integer_)
  gp[i] + (j - 1) * k + match(comp, cnms[[i]])
}

terms <- unique(d[, c("term", "time")])
schools <- sort(unique(d$school_id))
cells <- merge(data.frame(school_id = schools), terms, by = NULL)
cells <- cells[!is.na(mapply(col_of, "school_term", paste0(cells$school_id, ":", cells$term),
                             "(Intercept)")), ]
out <- vector("list", nrow(cells))
for (r in seq_len(nrow(cells))) {
  s <- cells$school_id[r]; t <- cells$time[r]
  lb <- setNames(numeric(length(beta)), names(beta))
  lb["(Intercept)"] <- 1
  lb["time"] <- t
  lr <- numeric(q)
  lr[col_of("school_id", s, "(Intercept)")] <- 1
  lr[col_of("school_id", s, "time")] <- t
  lr[col_of("school_term", paste0(s, ":", cells$term[r]), "(Intercept)")] <- 1
  est <- sum(lb * beta) + sum(lr * b)
  lu <- c(lb, as.vector(crossprod(Lambda, lr)))
  se <- sqrt(s2 * sum(lu * solve(A, lu)))
  out[[r]] <- data.frame(school_id = s, term = cells$term[r], time = t, estimate = est,
                         se = se)
}
res <- do.call(rbind, out)
res <- res[order(res$school_id, res$time), c("school_id", "term", "estimate", "se")]
write.csv(res, file.path(here, "index_reference.csv"), row.names = FALSE)
cat("REML criterion:", format(REMLcrit(fit), digits = 12), "\n")
print(VarCorr(fit), comp = "Variance")

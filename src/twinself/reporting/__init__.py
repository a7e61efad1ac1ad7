"""The weekly review: request runs of a period read from MLflow, summed up as figures, drawn as
plots and written as one self-contained HTML page (`twinself report`)."""

"""The local MLflow server twinself starts with `serve --mlflow-ui`: its command line and the
`mlflow.app` plugin it runs with."""

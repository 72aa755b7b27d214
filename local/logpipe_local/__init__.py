"""The local runner: template.yaml's functions on a laptop. Nothing here is needed in production."""

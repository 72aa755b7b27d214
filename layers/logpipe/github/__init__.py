"""GitHub: verified webhook deliveries, and the logs of finished Actions runs fetched
through the REST API and ingested like uploads."""

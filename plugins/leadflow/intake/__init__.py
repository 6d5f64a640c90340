"""The inbound half: leadflow serve (public intake) and what the leadflow_intake DAG applies."""

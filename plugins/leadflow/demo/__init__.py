"""What `leadflow generate` and the demo run on: the sample-data generator and a local SendGrid-compatible server."""

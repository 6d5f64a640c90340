"""CRM connectors: read leads from a SQL CRM or HubSpot, write score, grade, stage and reasons back."""

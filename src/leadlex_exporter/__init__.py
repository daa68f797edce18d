"""LeadLex campaign events to S3 (Hive-partitioned JSON Lines for Athena) and SQS."""

__version__ = "0.1.0"

"""Reusable Pulumi components for AI deployment patterns on AWS, Azure and GCP."""

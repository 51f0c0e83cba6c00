"""Regression alerts: a model (or model x intent, model x project) whose thumbs-up rate fell."""
